//! A nested query costs one SQL statement per level, however many parents it has: the DataLoaders
//! batch every per-parent field, including the router's `_entities` fetches.

mod common;

use common::TestStack;
use nexus_apps::entity::app::AppStatus;
use nexus_apps::service::{NewApp, Pricing};
use nexus_identity::entity::membership::Role;
use nexus_licensing::entity::license::LicenseKind;
use nexus_licensing::service::NewLicense;
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

/// Adds `count` organizations, each with 3 members and both apps installed and licensed.
async fn add_organizations(stack: &TestStack, from: usize, count: usize, apps: &[uuid::Uuid]) {
    let db = &stack.stack.db;
    for i in from..from + count {
        let org = nexus_identity::service::create_organization(db, "Org", &format!("org-{i}"))
            .await
            .expect("organization");
        for (j, role) in [Role::Owner, Role::Admin, Role::Member]
            .into_iter()
            .enumerate()
        {
            let user = nexus_identity::service::create_user(
                db,
                &format!("user{j}@org{i}.test"),
                "User",
                None,
            )
            .await
            .expect("user");
            nexus_identity::service::add_membership(db, org.id, user.id, role)
                .await
                .expect("membership");
        }
        for app in apps {
            nexus_apps::service::create_installation(db, *app, org.id, org.id, vec![])
                .await
                .expect("installation");
            nexus_licensing::service::create_license(
                db,
                NewLicense {
                    app_id: *app,
                    organization_id: org.id,
                    kind: LicenseKind::Free,
                    max_activations: 1,
                    expires_at: None,
                },
            )
            .await
            .expect("license");
        }
    }
}

async fn statements_for_nested_query(stack: &TestStack, organizations: usize) -> u64 {
    let before = stack.stack.statements.get();
    let data = stack.data(NESTED, json!({})).await;
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
    let db = &stack.stack.db;
    let developer = nexus_identity::service::create_user(db, "dev@apps.test", "Dev", None)
        .await
        .expect("developer");
    let mut apps = Vec::new();
    for namespace in ["analytics", "crm"] {
        let app = nexus_apps::service::create_app(
            db,
            NewApp {
                namespace: namespace.into(),
                name: namespace.into(),
                description: String::new(),
                category: "tools".into(),
                developer_id: developer.id,
                status: AppStatus::Published,
                pricing: Pricing::free(),
            },
        )
        .await
        .expect("app");
        apps.push(app.id);
    }

    add_organizations(&stack, 0, 5, &apps).await;
    let with_5 = statements_for_nested_query(&stack, 5).await;
    add_organizations(&stack, 5, 45, &apps).await;
    let with_50 = statements_for_nested_query(&stack, 50).await;

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
