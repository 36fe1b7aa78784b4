//! Typo tolerance, the same on every database: a query word the store's vocabulary (every word
//! of every document) does not know is also looked up as the known words one edit away (a letter
//! added, dropped, changed, or two swapped). The vocabulary is read from `app_search` and kept
//! while the index does not change (checked on each search with one cheap statement, so every
//! replica sees a new listing at once).

use std::collections::BTreeSet;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QuerySelect};

use crate::entity::app_search;

/// Words shorter than this are not corrected (one edit turns them into too many others).
const MIN_CORRECTED_LEN: usize = 4;
/// At most this many known words stand in for one unknown word.
const MAX_CORRECTIONS: usize = 5;

#[derive(Default)]
pub struct Vocabulary {
    held: RwLock<Option<Held>>,
}

struct Held {
    generation: Generation,
    words: BTreeSet<String>,
}

/// The newest document's time (indexed: one look, however large the store). A document deleted
/// with its app leaves its words until the next change: a correction to a word nothing matches
/// costs nothing.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
struct Generation {
    newest: Option<DateTime<Utc>>,
}

impl Vocabulary {
    /// For each of `words`, itself and the known words one edit away when it is not known.
    pub async fn expand(
        &self,
        db: &impl ConnectionTrait,
        words: &[String],
    ) -> Result<Vec<Vec<String>>, DbErr> {
        self.refresh(db).await?;
        let held = self.held.read().map_err(|_| poisoned())?;
        let known = held.as_ref().map(|h| &h.words);
        Ok(words
            .iter()
            .map(|word| {
                let mut alternatives = vec![word.clone()];
                if let Some(known) = known
                    && !known.contains(word)
                    && !known
                        .range(word.clone()..)
                        .next()
                        .is_some_and(|k| k.starts_with(word.as_str()))
                    && word.chars().count() >= MIN_CORRECTED_LEN
                {
                    alternatives.extend(
                        known
                            .iter()
                            .filter(|k| one_edit_apart(word, k))
                            .take(MAX_CORRECTIONS)
                            .cloned(),
                    );
                }
                alternatives
            })
            .collect())
    }

    async fn refresh(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let generation = app_search::Entity::find()
            .select_only()
            .column_as(
                sea_orm::sea_query::Expr::col(app_search::Column::UpdatedAt).max(),
                "newest",
            )
            .into_model::<Generation>()
            .one(db)
            .await?
            .unwrap_or(Generation { newest: None });
        let current = self
            .held
            .read()
            .map_err(|_| poisoned())?
            .as_ref()
            .is_some_and(|h| h.generation == generation);
        if current {
            return Ok(());
        }
        let mut words = BTreeSet::new();
        for document in app_search::Entity::find().all(db).await? {
            for text in [
                &document.name,
                &document.tags,
                &document.tagline,
                &document.body,
            ] {
                words.extend(super::words(text));
            }
        }
        *self.held.write().map_err(|_| poisoned())? = Some(Held { generation, words });
        Ok(())
    }
}

fn poisoned() -> DbErr {
    DbErr::Custom("the search vocabulary's lock is poisoned".into())
}

/// Damerau–Levenshtein distance of exactly one (or zero) between `a` and `b`.
fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    match a.len() as isize - b.len() as isize {
        0 => {
            let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            match differ[..] {
                [] | [_] => true,
                [i, j] => j == i + 1 && a[i] == b[j] && a[j] == b[i],
                _ => false,
            }
        }
        1 => one_dropped(&a, &b),
        -1 => one_dropped(&b, &a),
        _ => false,
    }
}

/// `shorter` is `longer` with one letter dropped.
fn one_dropped(longer: &[char], shorter: &[char]) -> bool {
    let first_difference = (0..shorter.len())
        .find(|&i| longer[i] != shorter[i])
        .unwrap_or(shorter.len());
    longer[first_difference + 1..] == shorter[first_difference..]
}

#[cfg(test)]
mod tests {
    use super::one_edit_apart;

    #[test]
    fn one_edit_is_a_letter_added_dropped_changed_or_two_swapped() {
        for (a, b) in [
            ("analytics", "analytcs"),
            ("analytics", "analyticss"),
            ("analytics", "anilytics"),
            ("analytics", "anayltics"),
            ("crm", "crm"),
        ] {
            assert!(one_edit_apart(a, b), "{a} {b}");
            assert!(one_edit_apart(b, a), "{b} {a}");
        }
        for (a, b) in [
            ("analytics", "anlytcs"),
            ("analytics", "analysis"),
            ("crm", "cram1"),
            ("abcd", "badc"),
        ] {
            assert!(!one_edit_apart(a, b), "{a} {b}");
        }
    }
}
