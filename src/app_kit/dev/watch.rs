//! Watching the app's files: a burst of saves is one change, and a problem the platform reports
//! on a field is found where the field is written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// A burst of changes is over when nothing changed for this long.
const QUIET: Duration = Duration::from_millis(300);

/// Modification times of every file under `paths`.
pub fn snapshot(paths: &[PathBuf]) -> BTreeMap<PathBuf, SystemTime> {
    let mut seen = BTreeMap::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else if let Ok(modified) = meta.modified() {
            seen.insert(path, modified);
        }
    }
    seen
}

/// Waits until `paths` stop changing; returns their last snapshot.
pub async fn settle(
    paths: &[PathBuf],
    mut last: BTreeMap<PathBuf, SystemTime>,
) -> BTreeMap<PathBuf, SystemTime> {
    loop {
        tokio::time::sleep(QUIET).await;
        let now = snapshot(paths);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Where `field` is written in the watched files: the first line that defines it in SDL
/// (`field:` or `field(`) or names it in a string (code-first libraries: `name="field"`), SDL
/// files first. `None` when the SDL does not come from these files.
pub fn locate(paths: &[PathBuf], field: &str) -> Option<(PathBuf, usize)> {
    if field.is_empty() {
        return None;
    }
    let mut files: Vec<PathBuf> = snapshot(paths).into_keys().collect();
    files.sort_by_key(|f| {
        let sdl = f.extension().is_some_and(|e| e == "graphql" || e == "gql");
        (!sdl, f.clone())
    });
    files.into_iter().find_map(|file| {
        let text = std::fs::read_to_string(&file).ok()?;
        let line = text.lines().position(|line| defines(line, field))?;
        Some((file, line + 1))
    })
}

fn defines(line: &str, field: &str) -> bool {
    if line.contains(&format!("\"{field}\"")) || line.contains(&format!("'{field}'")) {
        return true;
    }
    let word = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(field).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + field.len()..].trim_start().chars().next();
        !before.is_some_and(word) && matches!(after, Some(':') | Some('('))
    })
}

#[cfg(test)]
mod tests {
    use super::defines;

    #[test]
    fn finds_a_field_where_sdl_or_code_defines_it() {
        assert!(defines("    ping: String", "ping"));
        assert!(defines("  ping(limit: Int): [String!]!", "ping"));
        assert!(defines("    @strawberry.field(name=\"ping\")", "ping"));
        assert!(!defines("    devcrmPing: String", "ping"));
        assert!(!defines("    # pinging: the server", "ping"));
        assert!(!defines("    myping: String", "ping"));
    }
}
