//! The store's search: one full-text document per app (`index`, written with every listing
//! change), ranked by the database's own full-text engine — a weighted `tsvector` on PostgreSQL,
//! FTS5's BM25 on SQLite, with the same weights: name 10, tags 5, tagline 3, description 1 — after
//! an exact name match, which always comes first. A word the store has never seen also matches
//! the known words one edit away (`vocabulary`); the last word matches as a prefix too. Filters
//! (category, pricing, what the app extends, a scope it asks for) and facet counts are plain SQL
//! over the same matching set, so a facet's count is the count of that filter.

pub mod vocabulary;

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult, Statement, Value,
};
use uuid::Uuid;

use crate::entity::app::{self, AppStatus, PricingModel};
use crate::entity::app_search;

/// Query words considered at most.
const MAX_WORDS: usize = 8;

/// The words of `text`: lowercase runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Writes `app`'s document as it is listed now.
pub async fn index(db: &impl ConnectionTrait, app: &app::Model) -> Result<(), DbErr> {
    let listing = crate::listing::StoreListing::stored(app);
    app_search::Entity::delete_by_id(app.id).exec(db).await?;
    app_search::Entity::insert(app_search::ActiveModel {
        app_id: sea_orm::Set(app.id),
        name: sea_orm::Set(app.name.clone()),
        tags: sea_orm::Set(listing.tags.join(" ")),
        tagline: sea_orm::Set(listing.tagline.unwrap_or_default()),
        body: sea_orm::Set(crate::markdown::to_plain_text(&app.description)),
        updated_at: sea_orm::Set(chrono::Utc::now()),
    })
    .exec(db)
    .await?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "AppSort")]
pub enum Sort {
    /// Best match first (an exact name first of all); without a query, the oldest first.
    Relevance,
    Newest,
}

/// Who is looking: what they may see of the store.
#[derive(Clone, Debug)]
pub enum Viewer {
    /// Published apps.
    Anyone,
    /// Published apps and this developer's own.
    Developer(Uuid),
    /// Every app.
    PlatformAdmin,
}

#[derive(Debug)]
pub struct Request {
    pub query: Option<String>,
    pub category: Option<String>,
    pub pricing: Option<PricingModel>,
    pub extends: Option<String>,
    pub scope: Option<String>,
    pub status: Option<AppStatus>,
    pub sort: Sort,
    pub viewer: Viewer,
    /// The text's full-text query, worked out once per request (page, count and facets share it).
    pub matched: tokio::sync::OnceCell<Option<Matching>>,
}

/// A page of hits, in order, and whether more follow.
pub struct Page {
    pub ids: Vec<Uuid>,
    pub offset: u64,
    pub has_next: bool,
    /// How many match, when ranking counted them anyway.
    pub total: Option<i64>,
}

#[derive(Debug, FromQueryResult)]
struct Hit {
    id: Uuid,
}

#[derive(Debug, FromQueryResult)]
struct RankedHit {
    id: Uuid,
    total: i64,
}

#[derive(Clone, Debug, FromQueryResult)]
pub struct Count {
    pub name: String,
    pub count: i64,
}

#[derive(Debug, FromQueryResult)]
struct Total {
    count: i64,
}

/// A statement being written, with its values bound in the backend's own placeholders.
struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DatabaseBackend) -> Sql {
        Sql {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }

    fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: impl Into<Value>) -> &mut Sql {
        self.values.push(value.into());
        match self.backend {
            DatabaseBackend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// What the text of a request matches: the database's full-text query, and the query as a
/// name (for the exact match).
#[derive(Clone, Debug)]
pub struct Matching {
    fulltext: String,
    exact_name: String,
}

impl Request {
    async fn matching(
        &self,
        db: &impl ConnectionTrait,
        vocabulary: &vocabulary::Vocabulary,
    ) -> Result<Option<Matching>, DbErr> {
        self.matched
            .get_or_try_init(|| self.work_out_matching(db, vocabulary))
            .await
            .cloned()
    }

    async fn work_out_matching(
        &self,
        db: &impl ConnectionTrait,
        vocabulary: &vocabulary::Vocabulary,
    ) -> Result<Option<Matching>, DbErr> {
        let Some(query) = &self.query else {
            return Ok(None);
        };
        let mut words = words(query);
        words.truncate(MAX_WORDS);
        if words.is_empty() {
            return Ok(None);
        }
        let groups = vocabulary.expand(db, &words).await?;
        let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
        let last = groups.len() - 1;
        let fulltext = groups
            .iter()
            .enumerate()
            .map(|(i, alternatives)| {
                let terms: Vec<String> = alternatives
                    .iter()
                    .enumerate()
                    .map(|(j, term)| {
                        // The word as typed matches as a prefix when it is the last one.
                        let prefix = i == last && j == 0;
                        match (postgres, prefix) {
                            (true, true) => format!("{term}:*"),
                            (true, false) => term.clone(),
                            (false, true) => format!("\"{term}\"*"),
                            (false, false) => format!("\"{term}\""),
                        }
                    })
                    .collect();
                let joiner = if postgres { " | " } else { " OR " };
                format!("({})", terms.join(joiner))
            })
            .collect::<Vec<_>>()
            .join(if postgres { " & " } else { " AND " });
        Ok(Some(Matching {
            fulltext,
            exact_name: words.join(" "),
        }))
    }

    /// `FROM … WHERE …` of the apps this request matches.
    fn matching_apps(&self, sql: &mut Sql, matching: Option<&Matching>) {
        let postgres = sql.backend == DatabaseBackend::Postgres;
        match (matching, postgres) {
            (Some(m), true) => {
                sql.push(
                    " FROM app_search s JOIN apps a ON a.id = s.app_id, to_tsquery('simple', ",
                )
                .bind(m.fulltext.clone())
                .push(") q WHERE s.document @@ q");
            }
            (Some(m), false) => {
                sql.push(" FROM app_search_fts JOIN app_search s ON s.rowid = app_search_fts.rowid JOIN apps a ON a.id = s.app_id WHERE app_search_fts MATCH ")
                    .bind(m.fulltext.clone());
            }
            (None, _) => {
                sql.push(" FROM apps a WHERE 1 = 1");
            }
        }
        match &self.viewer {
            Viewer::PlatformAdmin => {}
            Viewer::Anyone => {
                sql.push(" AND a.status = ")
                    .bind(status_value(AppStatus::Published));
            }
            Viewer::Developer(user) => {
                sql.push(" AND (a.status = ")
                    .bind(status_value(AppStatus::Published))
                    .push(" OR a.developer_id = ")
                    .bind(*user)
                    .push(")");
            }
        }
        if let Some(status) = self.status {
            sql.push(" AND a.status = ").bind(status_value(status));
        }
        if let Some(category) = &self.category {
            sql.push(" AND a.id IN (SELECT app_id FROM app_categories WHERE category = ")
                .bind(category.trim().to_lowercase())
                .push(")");
        }
        if let Some(pricing) = self.pricing {
            sql.push(" AND a.pricing_model = ")
                .bind(pricing_value(pricing));
        }
        for (kind, value) in [
            (crate::entity::app_access::EXTENDS, &self.extends),
            (crate::entity::app_access::SCOPE, &self.scope),
        ] {
            if let Some(value) = value {
                sql.push(" AND a.id IN (SELECT app_id FROM app_access WHERE kind = ")
                    .bind(kind)
                    .push(" AND value = ")
                    .bind(value.trim().to_owned())
                    .push(")");
            }
        }
    }

    /// The page of `first` hits from `offset` on.
    pub async fn page(
        &self,
        db: &impl ConnectionTrait,
        vocabulary: &vocabulary::Vocabulary,
        offset: u64,
        first: u64,
    ) -> Result<Page, DbErr> {
        let matching = self.matching(db, vocabulary).await?;
        let backend = db.get_database_backend();
        let mut sql = Sql::new(backend);
        let ranked = self.sort == Sort::Relevance && matching.is_some();
        if ranked {
            // Ranking reads every match anyway: counting them there costs nothing more (outside
            // the ranking query: FTS5's bm25 is not allowed beside a window function).
            sql.push("SELECT id, COUNT(*) OVER () AS total FROM (SELECT a.id AS id");
            let m = matching
                .as_ref()
                .map(|m| m.exact_name.clone())
                .unwrap_or_default();
            sql.push(", CASE WHEN lower(a.name) = ")
                .bind(m)
                .push(" THEN 1 ELSE 0 END AS exact");
            match backend {
                DatabaseBackend::Postgres => {
                    sql.push(", ts_rank('{0.1, 0.3, 0.5, 1.0}', s.document, q) AS score")
                }
                _ => sql.push(", -bm25(app_search_fts, 10.0, 5.0, 3.0, 1.0) AS score"),
            };
        } else {
            sql.push("SELECT a.id AS id");
        }
        self.matching_apps(&mut sql, matching.as_ref());
        match (ranked, self.sort) {
            (true, _) => sql.push(") ranked ORDER BY exact DESC, score DESC, id ASC"),
            (false, Sort::Newest) => sql.push(" ORDER BY a.created_at DESC, a.id DESC"),
            // Ids are UUIDv7: the order the apps were created in.
            (false, Sort::Relevance) => sql.push(" ORDER BY a.id ASC"),
        };
        sql.push(" LIMIT ")
            .bind(i64::try_from(first + 1).unwrap_or(i64::MAX))
            .push(" OFFSET ")
            .bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let (mut ids, total): (Vec<Uuid>, Option<i64>) = if ranked {
            let hits = RankedHit::find_by_statement(sql.statement())
                .all(db)
                .await?;
            let total = hits.first().map_or(0, |h| h.total);
            (hits.into_iter().map(|h| h.id).collect(), Some(total))
        } else {
            let hits = Hit::find_by_statement(sql.statement()).all(db).await?;
            (hits.into_iter().map(|h| h.id).collect(), None)
        };
        let has_next = ids.len() as u64 > first;
        ids.truncate(first as usize);
        // Past the last hit the window counted nothing: count then.
        let total = total.filter(|_| !ids.is_empty() || offset == 0);
        Ok(Page {
            ids,
            offset,
            has_next,
            total,
        })
    }

    /// How many apps match.
    pub async fn total(
        &self,
        db: &impl ConnectionTrait,
        vocabulary: &vocabulary::Vocabulary,
    ) -> Result<i64, DbErr> {
        let matching = self.matching(db, vocabulary).await?;
        let mut sql = Sql::new(db.get_database_backend());
        sql.push("SELECT COUNT(*) AS count");
        self.matching_apps(&mut sql, matching.as_ref());
        Ok(Total::find_by_statement(sql.statement())
            .one(db)
            .await?
            .map_or(0, |t| t.count))
    }

    /// The matching apps counted by category (an app counts in each it is filed under).
    pub async fn categories(
        &self,
        db: &impl ConnectionTrait,
        vocabulary: &vocabulary::Vocabulary,
    ) -> Result<Vec<Count>, DbErr> {
        self.counted(
            db,
            vocabulary,
            "SELECT c.category AS name, COUNT(*) AS count FROM app_categories c WHERE c.app_id IN (SELECT a.id",
            ") GROUP BY c.category ORDER BY count DESC, name ASC",
        )
        .await
    }

    /// The matching apps counted by pricing model.
    pub async fn pricing(
        &self,
        db: &impl ConnectionTrait,
        vocabulary: &vocabulary::Vocabulary,
    ) -> Result<Vec<Count>, DbErr> {
        self.counted(
            db,
            vocabulary,
            "SELECT a.pricing_model AS name, COUNT(*) AS count",
            " GROUP BY a.pricing_model ORDER BY count DESC, name ASC",
        )
        .await
    }

    /// `head`, the matching apps, `tail`: counts by name.
    async fn counted(
        &self,
        db: &impl ConnectionTrait,
        vocabulary: &vocabulary::Vocabulary,
        head: &str,
        tail: &str,
    ) -> Result<Vec<Count>, DbErr> {
        let matching = self.matching(db, vocabulary).await?;
        let mut sql = Sql::new(db.get_database_backend());
        sql.push(head);
        self.matching_apps(&mut sql, matching.as_ref());
        sql.push(tail);
        Count::find_by_statement(sql.statement()).all(db).await
    }
}

fn status_value(status: AppStatus) -> String {
    use sea_orm::ActiveEnum;
    status.to_value()
}

fn pricing_value(pricing: PricingModel) -> String {
    use sea_orm::ActiveEnum;
    pricing.to_value()
}

/// The apps of `ids`, in that order.
pub async fn apps_in_order(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<app::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let found = app::Entity::find()
        .filter(app::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|a| a.id == *id).cloned())
        .collect())
}
