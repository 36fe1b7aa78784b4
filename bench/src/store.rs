//! The `store` suite: searching a store of `--store-apps` generated apps (10,000 by default)
//! through the router, side by side with the plain listing: a word query, a query with a typo,
//! and facets alone. Apps get names, taglines, tags and descriptions from small word lists, so
//! words repeat across apps as they do in a real store.

use nexus::stack::Stack;

use crate::Scenario;

const WORDS: &[&str] = &[
    "ledger", "pipeline", "insight", "beacon", "harbor", "summit", "atlas", "pulse", "vector",
    "canvas", "orbit", "relay", "forge", "anchor", "compass", "meadow", "quartz", "signal",
    "tandem", "zenith", "ember", "falcon", "glacier", "horizon", "lantern", "mosaic", "nimbus",
    "prism",
];
const TAGS: &[&str] = &[
    "sales",
    "usage",
    "billing",
    "support",
    "dashboards",
    "reports",
    "email",
    "chat",
    "hiring",
    "security",
    "backups",
    "forms",
    "surveys",
    "calendar",
    "tasks",
    "invoices",
];
const CATEGORIES: &[&str] = &[
    "sales",
    "insights",
    "tools",
    "marketing",
    "finance",
    "productivity",
];

/// Creates `count` published apps, each indexed for search; returns the scenarios.
pub async fn scenarios(stack: &Stack, token: &str, count: usize) -> anyhow::Result<Vec<Scenario>> {
    use nexus_apps::listing::{NewApp, Pricing, create_app};
    let developer =
        nexus_identity::users::create_user(&stack.db, "dev@store-bench.test", "Dev", None, None)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let pick = |i: usize, salt: usize, list: &[&'static str]| {
        list[(i * 7919 + salt * 104_729) % list.len()]
    };
    for i in 0..count {
        let (a, b) = (pick(i, 1, WORDS), pick(i, 2, WORDS));
        let description = format!(
            "{} {} keeps your {} and {} in one place. Built for teams that care about {}.",
            capitalized(a),
            capitalized(b),
            pick(i, 3, TAGS),
            pick(i, 4, TAGS),
            pick(i, 5, WORDS)
        );
        create_app(
            &stack.db,
            NewApp {
                namespace: format!("bench{i}"),
                name: format!("{} {} {i}", capitalized(a), capitalized(b)),
                description,
                category: pick(i, 6, CATEGORIES).into(),
                developer_id: developer.id,
                status: nexus_apps::entity::app::AppStatus::Published,
                pricing: Pricing::free(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    }
    let url = stack.graphql_url();
    let scenario = |name: &'static str, query: &str| Scenario {
        name,
        url: url.clone(),
        query: query.to_owned(),
        token: token.to_owned(),
        clients: Vec::new(),
    };
    Ok(vec![
        scenario(
            "plain listing, first 20",
            "{ apps(first: 20) { edges { node { name tagline } } } }",
        ),
        scenario(
            "word query `harbor`, first 20",
            "{ apps(query: \"harbor\", first: 20) { totalCount edges { node { name tagline } } } }",
        ),
        scenario(
            "typo query `harbr`, first 20",
            "{ apps(query: \"harbr\", first: 20) { totalCount edges { node { name tagline } } } }",
        ),
        scenario(
            "facets only",
            "{ apps(first: 0) { totalCount facets { categories { name count } pricing { name count } } } }",
        ),
    ])
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
