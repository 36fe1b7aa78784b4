//! A nested query costs one SQL statement per level, however many parents it has: the DataLoaders
//! batch every per-parent field, including the router's `_entities` fetches.

use crate::common::TestStack;
use serde_json::json;

const NESTED: &str = r#"{
  organizations(first: 100) {
    edges { node {
      name
      members(first: 10) { edges { node { role user { email name } } } }
      installations(first: 10) { edges { node { status app { name } license { status } } } }
    } }
  }
}"#;

async fn statements_for_nested_query(stack: &TestStack, admin: &str, organizations: usize) -> u64 {
    let before = stack.stack.statements.get();
    let data = stack.data_as(admin, NESTED, json!({})).await;
    let after = stack.stack.statements.get();
    let edges = data["organizations"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(edges.len(), organizations);
    for edge in &edges {
        let node = &edge["node"];
        assert_eq!(
            node["members"]["edges"].as_array().map(Vec::len),
            Some(3),
            "{node}"
        );
        assert!(
            node["members"]["edges"][2]["node"]["user"]["email"].is_string(),
            "{node}"
        );
        let installations = node["installations"]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(installations.len(), 2, "{node}");
        for installation in installations {
            assert_eq!(
                installation["node"]["license"]["status"], "ACTIVE",
                "{node}"
            );
        }
    }
    after - before
}

// Multi-threaded, as `nexus dev` runs: batches must not depend on a single thread's scheduling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_query_cost_does_not_grow_with_parents() {
    let stack = TestStack::start().await;
    // A platform admin reads every organization, so the query spans all 50.
    let admin = stack.platform_admin("admin@nexus.test").await.access;
    let db = &stack.stack.db;
    let apps = nexus::seed::published_apps(db, &["analytics", "crm"])
        .await
        .expect("apps");
    nexus::seed::populate(db, 0, 5, &apps)
        .await
        .expect("populate");
    let with_5 = statements_for_nested_query(&stack, &admin, 5).await;
    nexus::seed::populate(db, 5, 45, &apps)
        .await
        .expect("populate");
    let with_50 = statements_for_nested_query(&stack, &admin, 50).await;

    println!(
        "SQL statements for organizations × members × users × installations × app × license \
         ({}): 5 organizations: {with_5}, 50 organizations: {with_50}",
        stack.db.backend()
    );
    assert_eq!(
        with_5, with_50,
        "the statement count grew with the number of parents"
    );
    // organizations, members, users (identity); installations, apps (apps); licenses (licensing).
    assert_eq!(with_50, 6, "one statement per level");
    stack.stop().await;
}
