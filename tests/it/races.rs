//! Invariants that must hold when many callers act at once (they matter on PostgreSQL; SQLite
//! serializes writers and hides races, but the tests run there too): an organization keeps an
//! owner, 50 racing approvals and suspensions publish each version once and all end up served, a
//! suspended app never comes back through another publisher or a rollback.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::common::{FakeApp, Session, TestStack, error_codes, manifest};

#[tokio::test]
async fn owners_demoting_and_removing_each_other_at_once_always_leave_an_owner() {
    let stack = TestStack::start().await;
    let (first, org) = stack.owner_of("owner0@race.test", "Race", "race").await;
    let mut owners: Vec<Session> = vec![first.clone()];
    for i in 1..10 {
        let email = format!("owner{i}@race.test");
        let user = stack.sign_up(&email, "Owner").await;
        stack.add_member(&first, &org, &email, "OWNER").await;
        owners.push(stack.switch(&user, &org).await);
    }
    let members = stack
        .data_as(
            &first.access,
            "query($id: ID!) { organization(id: $id) { members(first: 20) { nodes { id user { id } } } } }",
            json!({ "id": org }),
        )
        .await;
    let membership_of = |user_id: &str| -> String {
        members["organization"]["members"]["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["user"]["id"] == user_id))
            .and_then(|n| n["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    // Fifty attempts, each owner at the next one: demotions, removals and leaving, all at once.
    let attempts = (0..50)
        .map(|i| {
            let actor = &owners[i % 10];
            let target = membership_of(&owners[(i + 1) % 10].user_id);
            match i % 3 {
                0 => (
                    actor.access.clone(),
                    "mutation($i: ChangeMemberRoleInput!) { changeMemberRole(input: $i) { role } }"
                        .to_owned(),
                    json!({ "i": { "membershipId": target, "role": "MEMBER" } }),
                ),
                1 => (
                    actor.access.clone(),
                    "mutation($id: ID!) { removeMember(membershipId: $id) }".to_owned(),
                    json!({ "id": target }),
                ),
                _ => (
                    actor.access.clone(),
                    "mutation($org: ID!) { leaveOrganization(organizationId: $org) }".to_owned(),
                    json!({ "org": org }),
                ),
            }
        })
        .collect();
    let answers = stack.all_at_once(attempts).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        for code in error_codes(body) {
            assert!(
                ["CONFLICT", "FORBIDDEN", "NOT_FOUND"].contains(&code.as_str()),
                "a refusal, never a failure: {body}"
            );
        }
    }
    let owners_left = nexus_identity::entity::membership::Entity::find()
        .filter(
            nexus_identity::entity::membership::Column::OrganizationId
                .eq(uuid::Uuid::parse_str(&org).expect("uuid")),
        )
        .filter(
            nexus_identity::entity::membership::Column::Role
                .eq(nexus_identity::entity::membership::Role::Owner),
        )
        .count(&stack.stack.db)
        .await
        .expect("count");
    println!(
        "{}: {} owners left after 50 racing changes",
        stack.db.backend(),
        owners_left
    );
    assert!(owners_left >= 1, "the organization lost its last owner");
    stack.stop().await;
}

const APPROVE: &str = "mutation($id: ID!) { approveAppVersion(id: $id) { appVersion { status } } }";

async fn submit(stack: &TestStack, developer: &Session, namespace: &str, app: &FakeApp) -> String {
    let data = stack
        .data_as(
            &developer.access,
            "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { id status } errors { message } } }",
            json!({ "m": manifest(namespace, &app.url(), &["users:read"]) }),
        )
        .await;
    assert_eq!(
        data["submitAppVersion"]["appVersion"]["status"], "IN_REVIEW",
        "{data}"
    );
    data["submitAppVersion"]["appVersion"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// One published supergraph version: its id, why it was published, and its subgraphs' names.
struct Published {
    id: String,
    reason: String,
    names: Vec<String>,
}

impl Published {
    /// Whether this version published an approval of `namespace` (a version published by changes
    /// queued together lists each, `; ` between them).
    fn approved(&self, namespace: &str) -> bool {
        self.reason
            .split("; ")
            .any(|r| r.starts_with(&format!("approved {namespace} ")))
    }
}

/// Every supergraph version, oldest first (the last is the head).
async fn supergraphs(stack: &TestStack, admin: &Session) -> Vec<Published> {
    let data = stack
        .data_as(
            &admin.access,
            "{ supergraphVersions(first: 100) { nodes { id reason subgraphs { name } } } }",
            json!({}),
        )
        .await;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    data["supergraphVersions"]["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .map(|n| Published {
                    id: text(&n["id"]),
                    reason: text(&n["reason"]),
                    names: n["subgraphs"]
                        .as_array()
                        .map(|s| s.iter().map(|s| text(&s["name"])).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What one of the racing requests asked for.
#[derive(Clone, Copy, Debug)]
enum Attempt {
    Approve(&'static str),
    Suspend,
}

#[tokio::test]
async fn fifty_racing_approvals_and_suspensions_publish_each_once_and_never_revive_a_suspended_app()
{
    // Under the router's default timeouts: publishers take turns, and the changes that queued
    // during a turn are published together, so the last in line waits for two compositions, not
    // for one per change ahead of it.
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@race.test", "Dev").await;
    let admin = stack.platform_admin("admin@race.test").await;
    let victim = FakeApp::extending_user("victim").await;
    let (victim_id, _) = stack
        .publish_app(
            &developer,
            &admin,
            &manifest("victim", &victim.url(), &["users:read"]),
        )
        .await;
    // 12 versions in review, each approved by 4 admins' requests at once, and the victim
    // suspended twice among them: 50 attempts. Only one approval of a version may publish it.
    let names = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima",
    ];
    let mut apps = Vec::new();
    let mut attempts = Vec::new();
    for name in names {
        let app = FakeApp::extending_user(name).await;
        let version = submit(&stack, &developer, name, &app).await;
        for _ in 0..4 {
            attempts.push((Attempt::Approve(name), json!({ "id": version })));
        }
        apps.push(app);
    }
    attempts.insert(
        attempts.len() / 3,
        (Attempt::Suspend, json!({ "id": victim_id })),
    );
    attempts.insert(
        2 * attempts.len() / 3,
        (Attempt::Suspend, json!({ "id": victim_id })),
    );
    assert_eq!(attempts.len(), 50);
    let requests = attempts
        .iter()
        .map(|(attempt, variables)| {
            let query = match attempt {
                Attempt::Approve(_) => APPROVE,
                Attempt::Suspend => "mutation($id: ID!) { suspendApp(appId: $id) { status } }",
            };
            (admin.access.clone(), query.to_owned(), variables.clone())
        })
        .collect();
    let racing = std::time::Instant::now();
    let answers = stack.all_at_once(requests).await;
    let racing = racing.elapsed();

    let mut approved = std::collections::BTreeMap::<&str, usize>::new();
    let mut suspended = false;
    for ((attempt, _), (status, body)) in attempts.iter().zip(&answers) {
        // Each publish reloads the router; requests waiting for their turn meanwhile are answered
        // all the same (the public port keeps them on the pipeline they started on).
        assert_eq!(*status, 200, "{body}");
        let codes = error_codes(body);
        match attempt {
            Attempt::Approve(name) if codes.is_empty() => *approved.entry(name).or_default() += 1,
            Attempt::Approve(_) => assert_eq!(codes, ["CONFLICT"], "{body}"),
            Attempt::Suspend => {
                assert!(codes.is_empty(), "{body}");
                suspended = true;
            }
        }
    }
    for (name, count) in &approved {
        assert_eq!(*count, 1, "{name} was approved {count} times");
    }

    let versions = supergraphs(&stack, &admin).await;
    // Two versions came before the race (the core's, the victim's approval).
    println!(
        "{}: 50 racing changes answered in {racing:?}, published as {} heads",
        stack.db.backend(),
        versions.len() - 2
    );
    let head = versions.last().map(|v| v.names.clone()).unwrap_or_default();
    for name in names {
        let published = versions.iter().filter(|v| v.approved(name)).count();
        assert!(published <= 1, "{name} published {published} times");
        if approved.contains_key(name) {
            assert_eq!(published, 1, "{name} approved but never published");
        }
        assert_eq!(
            head.contains(&name.to_owned()),
            published == 1,
            "{name}: published {published} times, head {head:?}"
        );
    }
    if suspended {
        assert!(
            !head.contains(&"victim".to_owned()),
            "the suspended app came back: {head:?}"
        );
    }

    // Rolling back to a version from before the suspension does not revive it either.
    let with_victim = &versions
        .iter()
        .find(|v| v.names.contains(&"victim".to_owned()))
        .expect("a version with the victim")
        .id;
    let data = stack
        .data_as(
            &admin.access,
            "mutation($id: ID!) { rollbackSupergraph(id: $id) { subgraphs { name } } }",
            json!({ "id": with_victim }),
        )
        .await;
    let rolled: Vec<&str> = data["rollbackSupergraph"]["subgraphs"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(!rolled.contains(&"victim"), "{rolled:?}");
    assert!(rolled.contains(&"identity"), "{rolled:?}");
    stack.stop().await;
}

#[tokio::test]
async fn approvals_queued_together_with_one_that_no_longer_composes_publish_all_but_that_one() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@batch.test", "Dev").await;
    let admin = stack.platform_admin("admin@batch.test").await;
    let names = ["amber", "basalt", "cobalt", "dune", "ember", "flint"];
    let mut apps = Vec::new();
    let mut versions = Vec::new();
    for name in names {
        let app = FakeApp::extending_user(name).await;
        versions.push(submit(&stack, &developer, name, &app).await);
        apps.push(app);
    }
    // `cobalt` passed its checks, but what is stored no longer composes (as when the core
    // changed after submission): approving it must fail alone, whatever was queued with it.
    use nexus_apps::entity::app_version;
    app_version::Entity::update_many()
        .col_expr(
            app_version::Column::Sdl,
            sea_orm::sea_query::Expr::value("type Query { cobaltBroken: }"),
        )
        .filter(app_version::Column::Id.eq(uuid::Uuid::parse_str(&versions[2]).expect("uuid")))
        .exec(&stack.stack.db)
        .await
        .expect("spoil the stored SDL");
    let requests = versions
        .iter()
        .map(|id| {
            (
                admin.access.clone(),
                APPROVE.to_owned(),
                json!({ "id": id }),
            )
        })
        .collect();
    let answers = stack.all_at_once(requests).await;
    for (name, (status, body)) in names.iter().zip(&answers) {
        assert_eq!(*status, 200, "{body}");
        if *name == "cobalt" {
            assert_eq!(error_codes(body), ["CONFLICT"], "{body}");
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("does not compose"), "{body}");
        } else {
            assert!(error_codes(body).is_empty(), "{name}: {body}");
            assert_eq!(
                body["data"]["approveAppVersion"]["appVersion"]["status"], "APPROVED",
                "{body}"
            );
        }
    }
    let published = supergraphs(&stack, &admin).await;
    let head = published
        .last()
        .map(|v| v.names.clone())
        .unwrap_or_default();
    for name in names {
        let approvals = published.iter().filter(|v| v.approved(name)).count();
        let expected = usize::from(name != "cobalt");
        assert_eq!(approvals, expected, "{name}: {}", published.len());
        assert_eq!(
            head.contains(&name.to_owned()),
            name != "cobalt",
            "{head:?}"
        );
    }
    // The spoiled version is still in review: nothing of its approval was written.
    let status =
        app_version::Entity::find_by_id(uuid::Uuid::parse_str(&versions[2]).expect("uuid"))
            .one(&stack.stack.db)
            .await
            .expect("read")
            .map(|v| v.status);
    assert_eq!(
        status,
        Some(nexus_apps::entity::app_version::AppVersionStatus::InReview)
    );
    // And the router serves the others (once it has loaded the head).
    let body = stack
        .eventually(
            &admin.access,
            "{ __type(name: \"User\") { fields { name } } }",
            std::time::Duration::from_secs(60),
            |body| {
                let fields = body["data"]["__type"]["fields"].to_string();
                ["amber", "basalt", "dune", "ember", "flint"]
                    .iter()
                    .all(|name| fields.contains(&format!("{name}Profile")))
            },
        )
        .await;
    let fields = body["data"]["__type"]["fields"].to_string();
    assert!(!fields.contains("cobaltProfile"), "{fields}");
    drop(apps);
    stack.stop().await;
}

#[tokio::test]
async fn licensing_processes_announcing_expiries_at_once_announce_each_once() {
    use nexus_licensing::entity::license::LicenseKind;
    let stack = TestStack::start().await;
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(800);
    for _ in 0..20 {
        nexus_licensing::service::create_license(
            &stack.stack.db,
            nexus_licensing::service::NewLicense {
                app_id: uuid::Uuid::now_v7(),
                app_namespace: None,
                developer_id: None,
                organization_id: uuid::Uuid::now_v7(),
                kind: LicenseKind::Subscription,
                max_activations: 1,
                expires_at: Some(expires),
                entitlements: Vec::new(),
                issued_by: None,
            },
        )
        .await
        .expect("issued");
    }
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    // Eight processes' jobs (each its own pool) and the stack's own, all at once.
    let mut jobs = Vec::new();
    for _ in 0..8 {
        let (db, _) = nexus::stack::connect(stack.db.url())
            .await
            .expect("connects");
        jobs.push(tokio::spawn(async move {
            nexus_licensing::expiry::announce_due(&db).await
        }));
    }
    let mut announced = 0;
    for job in jobs {
        announced += job.await.expect("joined").expect("announced");
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let recorded = nexus_kit::outbox::entity::Entity::find()
        .filter(nexus_kit::outbox::entity::Column::EventType.eq("license.expired"))
        .count(&stack.stack.db)
        .await
        .expect("counted");
    assert_eq!(
        recorded, 20,
        "each expiry once ({announced} by the racing jobs)"
    );
    stack.stop().await;
}

#[tokio::test]
async fn two_last_owners_deleting_their_accounts_at_once_leave_one_owner() {
    let stack = TestStack::start().await;
    for round in 0..5 {
        let slug = format!("pair-{round}");
        let (first, org) = stack
            .owner_of(&format!("a{round}@pair.test"), "Pair", &slug)
            .await;
        let second_email = format!("b{round}@pair.test");
        let second = stack.sign_up(&second_email, "B").await;
        stack.add_member(&first, &org, &second_email, "OWNER").await;
        let delete = "mutation($p: String!) { deleteAccount(password: $p) }";
        let variables = json!({ "p": crate::common::PASSWORD });
        let (a, b) = tokio::join!(
            stack.gql_as(&first.access, delete, variables.clone()),
            stack.gql_as(&second.access, delete, variables.clone()),
        );
        let mut codes: Vec<Vec<String>> = vec![error_codes(&a), error_codes(&b)];
        codes.sort();
        assert_eq!(codes, [vec![], vec!["CONFLICT".to_owned()]], "{a} {b}");
        let owners = nexus_identity::entity::membership::Entity::find()
            .filter(
                nexus_identity::entity::membership::Column::OrganizationId
                    .eq(uuid::Uuid::parse_str(&org).expect("uuid")),
            )
            .count(&stack.stack.db)
            .await
            .expect("counted");
        assert_eq!(owners, 1, "round {round}: one owner is left");
    }
    stack.stop().await;
}
