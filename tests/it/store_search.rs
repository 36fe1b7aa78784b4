//! Searching the store, on SQLite and PostgreSQL alike: an exact name first, a name above a tag
//! above a tagline above a description, a word one letter off still found, the last word as a
//! prefix; every filter and facet count equal to the count of that filter; pages that neither
//! repeat nor skip an app while organizations install apps between them.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::*;

/// Only the count (a page of none: cheap for the rate limit).
const COUNT: &str = "query($q: String, $category: String, $pricing: PricingModel) { apps(query: $q, category: $category, pricing: $pricing, first: 0) { totalCount edges { cursor } } }";
const SEARCH: &str = "query($q: String, $category: String, $pricing: PricingModel, $sort: AppSort, $first: Int, $after: String) { apps(query: $q, category: $category, pricing: $pricing, sort: $sort, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { namespace name } } facets { categories { name count } pricing { name count } } } }";

/// Publishes an app `namespace` named `name` with `listing` (and `description`).
async fn listed_app(
    stack: &TestStack,
    developer: &Session,
    admin: &Session,
    namespace: &str,
    name: &str,
    description: &str,
    listing: Value,
) -> (FakeApp, String) {
    let app = FakeApp::extending_user(namespace).await;
    let mut manifest = manifest(namespace, &app.url(), &["users:read"]);
    manifest["name"] = json!(name);
    manifest["description"] = json!(description);
    manifest["listing"] = listing;
    let (id, _) = stack.publish_app(developer, admin, &manifest).await;
    (app, id)
}

fn namespaces(data: &Value) -> Vec<String> {
    data["apps"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["namespace"].as_str().map(str::to_owned))
        .collect()
}

async fn search(stack: &TestStack, token: &str, variables: Value) -> Value {
    stack.data_as(token, SEARCH, variables).await
}

#[tokio::test]
async fn search_ranks_names_then_tags_then_taglines_then_descriptions_and_forgives_a_typo() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@store.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let mut apps = Vec::new();
    for (namespace, name, description, listing) in [
        (
            "notes",
            "Notes",
            "Meeting notes. Exports analytics of who wrote what.",
            json!({}),
        ),
        (
            "board",
            "Insight Board",
            "Charts for everyone.",
            json!({ "tagline": "Analytics for teams" }),
        ),
        (
            "pipeline",
            "Pipeline",
            "Deals and stages.",
            json!({ "tags": ["analytics", "sales"] }),
        ),
        (
            "analytics",
            "Analytics",
            "Usage per member.",
            json!({ "tags": ["usage"] }),
        ),
        ("analyticsplus", "Analytics Plus", "More usage.", json!({})),
        (
            "weather",
            "Weather",
            "Forecasts.",
            json!({ "tags": ["forecast"] }),
        ),
    ] {
        apps.push(
            listed_app(
                &stack,
                &developer,
                &admin,
                namespace,
                name,
                description,
                listing,
            )
            .await,
        );
    }
    let token = developer.access.clone();

    // The exact name first, then names, tags, taglines, descriptions.
    let data = search(&stack, &token, json!({ "q": "analytics" })).await;
    assert_eq!(
        namespaces(&data),
        ["analytics", "analyticsplus", "pipeline", "board", "notes"],
        "{data}"
    );
    assert_eq!(data["apps"]["totalCount"], 5);
    // An exact name of two words beats a longer name holding both.
    let data = search(&stack, &token, json!({ "q": "Analytics Plus" })).await;
    assert_eq!(namespaces(&data)[0], "analyticsplus", "{data}");

    // One letter off (swapped, dropped, changed, added): still in the top 3.
    for typo in ["anlaytics", "analytcs", "anolytics", "analyticks"] {
        let data = search(&stack, &token, json!({ "q": typo })).await;
        let top: Vec<String> = namespaces(&data).into_iter().take(3).collect();
        assert!(top.contains(&"analytics".to_owned()), "{typo}: {data}");
    }
    // The last word is a prefix while typing; a word nobody uses finds nothing.
    let data = search(&stack, &token, json!({ "q": "forec" })).await;
    assert_eq!(namespaces(&data), ["weather"], "{data}");
    let data = search(&stack, &token, json!({ "q": "zzzzqqqq" })).await;
    assert!(namespaces(&data).is_empty(), "{data}");
    // Query syntax is only words: quotes, operators and SQL are not.
    for hostile in [
        "\"analytics",
        "analytics OR 1=1",
        "a* NEAR b",
        "'); DROP TABLE apps; --",
        "analytics & !x | y:*",
    ] {
        let body = stack.gql_as(&token, SEARCH, json!({ "q": hostile })).await;
        assert!(body.get("errors").is_none(), "{hostile}: {body}");
    }
    let body = stack
        .gql_as(&token, SEARCH, json!({ "q": "x".repeat(201) }))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    drop(apps);
    stack.stop().await;
}

#[tokio::test]
async fn filters_and_facets_count_what_they_filter_and_pages_neither_repeat_nor_skip() {
    use nexus_apps::listing::{NewApp, Pricing, create_app};
    let stack = TestStack::start().await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let db = &stack.stack.db;
    let developer = nexus_identity::users::create_user(db, "dev@store.test", "Dev", None, None)
        .await
        .expect("developer");
    let paid = Pricing {
        model: nexus_apps::entity::app::PricingModel::Paid,
        price_cents: Some(900),
        currency: Some("USD".into()),
        trial_days: None,
        summary: None,
    };
    let mut ids = Vec::new();
    for i in 0..23 {
        let category = ["sales", "insights", "tools"][i % 3];
        let pricing = if i % 4 == 0 {
            paid.clone()
        } else {
            Pricing::free()
        };
        let app = create_app(
            db,
            NewApp {
                namespace: format!("app{i}"),
                name: format!("Ledger {i}"),
                description: format!("Books and ledgers, number {i}"),
                category: category.into(),
                developer_id: developer.id,
                status: nexus_apps::entity::app::AppStatus::Published,
                pricing,
            },
        )
        .await
        .expect("created");
        ids.push(app.id);
    }
    let token = admin.access.clone();
    for q in [Value::Null, json!("ledger"), json!("books number")] {
        let data = search(&stack, &token, json!({ "q": q, "first": 30 })).await;
        let total = data["apps"]["totalCount"].as_i64().unwrap_or_default();
        assert_eq!(total as usize, namespaces(&data).len(), "{data}");
        for facet in data["apps"]["facets"]["categories"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let filtered = stack
                .data_as(&token, COUNT, json!({ "q": q, "category": facet["name"] }))
                .await;
            assert_eq!(filtered["apps"]["totalCount"], facet["count"], "{facet}");
        }
        for facet in data["apps"]["facets"]["pricing"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let model = facet["name"].as_str().unwrap_or_default().to_uppercase();
            let filtered = stack
                .data_as(&token, COUNT, json!({ "q": q, "pricing": model }))
                .await;
            assert_eq!(filtered["apps"]["totalCount"], facet["count"], "{facet}");
        }
        let paid_count = data["apps"]["facets"]["pricing"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["name"] == "paid")
            .map(|f| f["count"].clone());
        assert_eq!(paid_count, Some(json!(6)), "{data}");
    }

    // Pages of 5, with organizations installing apps between them: every app once.
    let (owner, _) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for page in 0.. {
        let data = search(
            &stack,
            &token,
            json!({ "q": "ledger", "first": 5, "after": after }),
        )
        .await;
        seen.extend(namespaces(&data));
        // An install between pages changes no app's place.
        if let Some(id) = ids.get(page) {
            let _ = stack
                .gql_as(
                    &owner.access,
                    "mutation($app: ID!) { installApp(appId: $app) { id } }",
                    json!({ "app": id.to_string() }),
                )
                .await;
        }
        if data["apps"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = data["apps"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 23, "{seen:?}");
    assert_eq!(unique.len(), 23, "{seen:?}");
    let data = search(&stack, &token, json!({ "q": "ledger", "first": 30 })).await;
    assert_eq!(namespaces(&data), seen);

    // Newest first, on request.
    let data = search(&stack, &token, json!({ "sort": "NEWEST", "first": 3 })).await;
    assert_eq!(namespaces(&data), ["app22", "app21", "app20"], "{data}");
    let body = stack
        .gql_as(&token, SEARCH, json!({ "after": "not-a-cursor" }))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    stack.stop().await;
}
