//! The audit log of the apps and licensing services: installations, app review, the supergraph,
//! client secrets, OAuth consents and licenses each append who did what, where and to what — in
//! the action's own transaction, so what fails appends nothing — read straight from the database.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    AuditEntry, AuditLog, Browser, CALLBACK, FakeApp, Session, TestStack, actions, assert_entry,
    details, error_codes, manifest,
};

const INSTALL: &str =
    "mutation($app: ID!, $scopes: [String!]) { installApp(appId: $app, scopes: $scopes) { id } }";
const UPDATE_SCOPES: &str = "mutation($id: ID!, $scopes: [String!]!) { updateInstallationScopes(installationId: $id, scopes: $scopes) { grantedScopes } }";
const UNINSTALL: &str = "mutation($id: ID!) { uninstallApp(installationId: $id) { status } }";
const ROTATE: &str = "mutation($app: ID!) { rotateAppClientSecret(appId: $app) }";
const SUBMIT: &str = "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { id status app { id } } } }";
const APPROVE: &str = "mutation($id: ID!) { approveAppVersion(id: $id) { appVersion { status } supergraphVersion { id } } }";
const ISSUE: &str =
    "mutation($i: IssueLicenseInput!) { issueLicense(input: $i) { key license { id } } }";
/// Where the router says requests on loopback come from.
const LOOPBACK: Option<&str> = Some("127.0.0.1");

/// Entries the apps and licensing services append (identity appends its own meanwhile).
fn ours(entries: Vec<AuditEntry>) -> Vec<AuditEntry> {
    const PREFIXES: [&str; 6] = [
        "installation.",
        "app.",
        "app_version.",
        "supergraph.",
        "oauth.",
        "license.",
    ];
    entries
        .into_iter()
        .filter(|e| PREFIXES.iter().any(|p| e.action.starts_with(p)))
        .collect()
}

/// Asserts `mark` is still the newest entry: a refused action appended nothing.
async fn nothing_since(log: &AuditLog, mark: i64, what: &str) {
    let appended = log.since(mark).await;
    assert!(appended.is_empty(), "{what}: {:?}", actions(&appended));
}

fn id(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

struct World {
    stack: TestStack,
    log: AuditLog,
    app: FakeApp,
    app_id: String,
    developer: Session,
    admin: Session,
    ada: Session,
    acme: String,
}

/// An approved free app (`users:read`, optionally `organizations:read`, "Sign in with Nexus") and
/// Ada, owner of Acme.
async fn world() -> World {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@apps.test", "Dana Developer").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = FakeApp::analytics().await;
    let mut manifest = manifest("analytics", &app.url(), &["users:read"]);
    manifest["scopes"]["optional"] = json!(["organizations:read"]);
    manifest["oauth"] = json!({ "redirect_uris": [CALLBACK] });
    let (app_id, _) = stack.publish_app(&developer, &admin, &manifest).await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let log = AuditLog::open(&stack).await;
    World {
        stack,
        log,
        app,
        app_id,
        developer,
        admin,
        ada,
        acme,
    }
}

#[tokio::test]
async fn installations_are_audited_in_the_organization_they_change() {
    let w = world().await;
    let (stack, log) = (&w.stack, &w.log);
    let ada = Some(w.ada.user_id.as_str());
    let grace = stack.sign_up("grace@acme.test", "Grace").await;
    stack
        .add_member(&w.ada, &w.acme, "grace@acme.test", "MEMBER")
        .await;
    let grace = stack.switch(&grace, &w.acme).await;

    // A plain member cannot install: refused, and nothing recorded.
    let mark = log.mark().await;
    let body = stack
        .gql_as(&grace.access, INSTALL, json!({ "app": w.app_id }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    nothing_since(log, mark, "a member's install").await;

    // Installed by Ada, in Acme: who, where, what, from where.
    let data = stack
        .data_as(&w.ada.access, INSTALL, json!({ "app": w.app_id }))
        .await;
    let installation = id(&data["installApp"]["id"]);
    let appended = log.since(mark).await;
    assert_eq!(actions(&appended), ["installation.created"]);
    let created = &appended[0];
    assert_entry(
        created,
        "installation.created",
        ("user", ada),
        Some(&w.acme),
        Some(("installation", &installation)),
    );
    assert_eq!(created.address.as_deref(), LOOPBACK);
    assert_eq!(
        details(created),
        json!({ "app_id": w.app_id, "scopes": ["users:read"] })
    );

    // The same scopes again change nothing and record nothing; scopes the app does not ask for
    // and another organization's installation are refused.
    let mark = log.mark().await;
    let same = json!({ "id": installation, "scopes": ["users:read"] });
    stack.data_as(&w.ada.access, UPDATE_SCOPES, same).await;
    let undeclared = json!({ "id": installation, "scopes": ["users:read", "licenses:read"] });
    let body = stack.gql_as(&w.ada.access, UPDATE_SCOPES, undeclared).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    let (bob, _) = stack.owner_of("bob@bobco.test", "Bobco", "bobco").await;
    let mark_after_bob = log.mark().await;
    let wider = json!({ "id": installation, "scopes": ["users:read", "organizations:read"] });
    let body = stack
        .gql_as(&bob.access, UPDATE_SCOPES, wider.clone())
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    let body = stack
        .gql_as(&bob.access, UNINSTALL, json!({ "id": installation }))
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    assert!(ours(log.since(mark).await).is_empty());
    nothing_since(log, mark_after_bob, "another organization's changes").await;

    // Wider scopes: before and after.
    stack.data_as(&w.ada.access, UPDATE_SCOPES, wider).await;
    let appended = log.since(mark_after_bob).await;
    assert_eq!(actions(&appended), ["installation.scopes_changed"]);
    assert_entry(
        &appended[0],
        "installation.scopes_changed",
        ("user", ada),
        Some(&w.acme),
        Some(("installation", &installation)),
    );
    assert_eq!(
        details(&appended[0]),
        json!({ "app_id": w.app_id, "before": ["users:read"],
                "after": ["organizations:read", "users:read"] })
    );

    // Uninstalled, once: the second time there is nothing to uninstall.
    let mark = log.mark().await;
    stack
        .data_as(&w.ada.access, UNINSTALL, json!({ "id": installation }))
        .await;
    let body = stack
        .gql_as(&w.ada.access, UNINSTALL, json!({ "id": installation }))
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    let appended = log.since(mark).await;
    assert_eq!(actions(&appended), ["installation.removed"]);
    assert_entry(
        &appended[0],
        "installation.removed",
        ("user", ada),
        Some(&w.acme),
        Some(("installation", &installation)),
    );

    // createInstallation is installApp: the same entry; not for another organization.
    let mark = log.mark().await;
    let create = "mutation($i: CreateInstallationInput!) { createInstallation(input: $i) { id } }";
    let elsewhere = json!({ "i": { "appId": w.app_id, "organizationId": uuid::Uuid::now_v7() } });
    let body = stack.gql_as(&w.ada.access, create, elsewhere).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    nothing_since(log, mark, "an install elsewhere").await;
    let data = stack
        .data_as(
            &w.ada.access,
            create,
            json!({ "i": { "appId": w.app_id, "organizationId": w.acme } }),
        )
        .await;
    let again = id(&data["createInstallation"]["id"]);
    let appended = log.since(mark).await;
    assert_eq!(actions(&appended), ["installation.created"]);
    assert_entry(
        &appended[0],
        "installation.created",
        ("user", ada),
        Some(&w.acme),
        Some(("installation", &again)),
    );

    // Deleting Acme ends its installations: the apps service does it, on its own.
    stack
        .data_as(
            &w.ada.access,
            "mutation($id: ID!, $slug: String!) { deleteOrganization(id: $id, confirmSlug: $slug) { slug } }",
            json!({ "id": w.acme, "slug": "acme" }),
        )
        .await;
    let removed = log
        .wait_for("installation.removed", 2, Duration::from_secs(20))
        .await;
    assert_entry(
        &removed[1],
        "installation.removed",
        ("service", Some("apps")),
        Some(&w.acme),
        Some(("installation", &again)),
    );
    assert_eq!(removed[1].address, None);
    assert_eq!(details(&removed[1])["reason"], "organization deleted");
    log.assert_whole().await;
    w.stack.stop().await;
}

#[tokio::test]
async fn app_review_the_supergraph_and_client_secrets_are_audited() {
    let w = world().await;
    let (stack, log) = (&w.stack, &w.log);
    let admin = Some(w.admin.user_id.as_str());
    let developer = Some(w.developer.user_id.as_str());

    // The first start recorded the core's supergraph; the approval of analytics, then the
    // supergraph it published, by the admin and in no organization.
    let entries = ours(log.entries().await);
    assert_eq!(
        actions(&entries),
        [
            "supergraph.published",
            "app_version.approved",
            "supergraph.published"
        ]
    );
    assert_eq!(
        (
            entries[0].actor_type.as_str(),
            entries[0].actor_id.as_deref()
        ),
        ("service", Some("apps"))
    );
    assert_eq!(details(&entries[0])["reason"], "core subgraphs");
    let first_supergraph = entries[0].target_id.clone().unwrap_or_default();
    assert_entry(
        &entries[1],
        "app_version.approved",
        ("user", admin),
        None,
        Some(("app", &w.app_id)),
    );
    assert_eq!(entries[1].address.as_deref(), LOOPBACK);
    assert_eq!(details(&entries[1])["version"], "1.0.0");
    assert_eq!(
        entries[2].seq,
        entries[1].seq.map(|s| s + 1),
        "one transaction"
    );
    assert_eq!(entries[2].actor_id.as_deref(), admin);
    assert_eq!(entries[2].organization_id, None);
    assert_eq!(
        entries[2].target_type.as_deref(),
        Some("supergraph_version")
    );

    // A second version: the developer cannot approve it; approving an approved one fails.
    let mut manifest = manifest("analytics", &w.app.url(), &["users:read"]);
    manifest["version"] = json!("1.1.0");
    let data = stack
        .data_as(&w.developer.access, SUBMIT, json!({ "m": manifest }))
        .await;
    let version = id(&data["submitAppVersion"]["appVersion"]["id"]);
    let mark = log.mark().await;
    let body = stack
        .gql_as(&w.developer.access, APPROVE, json!({ "id": version }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    let data = stack
        .data_as(&w.admin.access, APPROVE, json!({ "id": version }))
        .await;
    let head = id(&data["approveAppVersion"]["supergraphVersion"]["id"]);
    let body = stack
        .gql_as(&w.admin.access, APPROVE, json!({ "id": version }))
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    let appended = log.since(mark).await;
    assert_eq!(
        actions(&appended),
        ["app_version.approved", "supergraph.published"]
    );
    assert_eq!(details(&appended[0])["app_version_id"], version.as_str());
    assert_entry(
        &appended[1],
        "supergraph.published",
        ("user", admin),
        None,
        Some(("supergraph_version", &head)),
    );
    assert_eq!(details(&appended[1])["reason"], "approved analytics 1.1.0");

    // Rejected in review, with its reason.
    manifest["version"] = json!("1.2.0");
    let data = stack
        .data_as(&w.developer.access, SUBMIT, json!({ "m": manifest }))
        .await;
    let rejected = id(&data["submitAppVersion"]["appVersion"]["id"]);
    let reject =
        "mutation($id: ID!) { rejectAppVersion(id: $id, reason: \"tracks too much\") { status } }";
    let mark = log.mark().await;
    let body = stack
        .gql_as(&w.developer.access, reject, json!({ "id": rejected }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    stack
        .data_as(&w.admin.access, reject, json!({ "id": rejected }))
        .await;
    let appended = log.since(mark).await;
    assert_eq!(actions(&appended), ["app_version.rejected"]);
    assert_entry(
        &appended[0],
        "app_version.rejected",
        ("user", admin),
        None,
        Some(("app", &w.app_id)),
    );
    assert_eq!(details(&appended[0])["reason"], "tracks too much");

    // Suspended: the app, and the supergraph without it.
    let suspend = "mutation($id: ID!) { suspendApp(appId: $id) { status } }";
    let mark = log.mark().await;
    let body = stack
        .gql_as(&w.developer.access, suspend, json!({ "id": w.app_id }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    stack
        .data_as(&w.admin.access, suspend, json!({ "id": w.app_id }))
        .await;
    let appended = log.since(mark).await;
    assert_eq!(
        actions(&appended),
        ["app.suspended", "supergraph.published"]
    );
    assert_entry(
        &appended[0],
        "app.suspended",
        ("user", admin),
        None,
        Some(("app", &w.app_id)),
    );
    assert_eq!(details(&appended[1])["reason"], "suspended analytics");

    // Rolled back to the core alone; to a version that does not exist, nothing.
    let rollback = "mutation($id: ID!) { rollbackSupergraph(id: $id) { id } }";
    let mark = log.mark().await;
    let body = stack
        .gql_as(
            &w.admin.access,
            rollback,
            json!({ "id": uuid::Uuid::now_v7() }),
        )
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    let data = stack
        .data_as(&w.admin.access, rollback, json!({ "id": first_supergraph }))
        .await;
    let rolled_back = id(&data["rollbackSupergraph"]["id"]);
    let appended = log.since(mark).await;
    assert_eq!(
        actions(&appended),
        ["supergraph.rolled_back", "supergraph.published"]
    );
    assert_entry(
        &appended[0],
        "supergraph.rolled_back",
        ("user", admin),
        None,
        Some(("supergraph_version", &first_supergraph)),
    );
    assert_entry(
        &appended[1],
        "supergraph.published",
        ("user", admin),
        None,
        Some(("supergraph_version", &rolled_back)),
    );

    // Client secrets: only the developer's; the first is created, the next rotates it; the
    // secret itself is never written down.
    let mark = log.mark().await;
    let body = stack
        .gql_as(&w.admin.access, ROTATE, json!({ "app": w.app_id }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    nothing_since(log, mark, "someone else's secret").await;
    let mut secrets = Vec::new();
    for _ in 0..2 {
        let data = stack
            .data_as(&w.developer.access, ROTATE, json!({ "app": w.app_id }))
            .await;
        secrets.push(id(&data["rotateAppClientSecret"]));
    }
    let appended = log.since(mark).await;
    assert_eq!(
        actions(&appended),
        ["app.client_secret_created", "app.client_secret_rotated"]
    );
    for (entry, action) in appended
        .iter()
        .zip(["app.client_secret_created", "app.client_secret_rotated"])
    {
        assert_entry(
            entry,
            action,
            ("user", developer),
            None,
            Some(("app", &w.app_id)),
        );
        for secret in &secrets {
            assert!(!entry.details.contains(secret.as_str()), "{entry:?}");
        }
    }
    log.assert_whole().await;
    w.stack.stop().await;
}

#[tokio::test]
async fn licenses_are_audited_in_the_organization_that_holds_them() {
    let w = world().await;
    let (stack, log) = (&w.stack, &w.log);
    let developer = Some(w.developer.user_id.as_str());
    let admin = Some(w.admin.user_id.as_str());
    let issue = json!({ "i": { "appId": w.app_id, "organizationId": w.acme, "kind": "PURCHASE" } });

    // The customer cannot issue licenses to itself.
    let mark = log.mark().await;
    let body = stack.gql_as(&w.ada.access, ISSUE, issue.clone()).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    nothing_since(log, mark, "a customer's license").await;

    let data = stack.data_as(&w.developer.access, ISSUE, issue).await;
    let key = id(&data["issueLicense"]["key"]);
    let license = id(&data["issueLicense"]["license"]["id"]);
    let appended = log.since(mark).await;
    assert_eq!(actions(&appended), ["license.issued"]);
    assert_entry(
        &appended[0],
        "license.issued",
        ("user", developer),
        Some(&w.acme),
        Some(("license", &license)),
    );
    assert_eq!(details(&appended[0])["kind"], "purchase");
    assert!(!appended[0].details.contains(&key), "the key stays secret");

    // Each change, by whom; what cannot apply, or is not the caller's, appends nothing.
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    // (the operation, its variables)
    let change = |mutation: &str| {
        match mutation {
        "renewLicense" => (
            "mutation($id: ID!, $at: DateTime!) { renewLicense(id: $id, expiresAt: $at) { status } }".to_owned(),
            json!({ "id": license, "at": later }),
        ),
        _ => {
            let reason = match mutation {
                "suspendLicense" | "revokeLicense" => ", reason: \"unpaid\"",
                _ => "",
            };
            (
                format!("mutation($id: ID!) {{ {mutation}(id: $id{reason}) {{ status }} }}"),
                json!({ "id": license }),
            )
        }
    }
    };
    let (ada, dev, adm) = (&w.ada.access, &w.developer.access, &w.admin.access);
    // (who, the mutation, the entry it appends or the error it answers, the actor's id)
    for (who, mutation, outcome, actor) in [
        (ada, "suspendLicense", "NOT_FOUND", None),
        (dev, "suspendLicense", "license.suspended", developer),
        (dev, "suspendLicense", "CONFLICT", None),
        (adm, "reinstateLicense", "license.reinstated", admin),
        (dev, "renewLicense", "license.renewed", developer),
        (dev, "revokeLicense", "license.revoked", developer),
        (dev, "reinstateLicense", "CONFLICT", None),
    ] {
        let mark = log.mark().await;
        let (operation, variables) = change(mutation);
        let body = stack.gql_as(who, &operation, variables).await;
        let appended = log.since(mark).await;
        if outcome.starts_with("license.") {
            assert!(body["errors"].is_null(), "{mutation}: {body}");
            assert_eq!(actions(&appended), [outcome], "{mutation}");
            assert_entry(
                &appended[0],
                outcome,
                ("user", actor),
                Some(&w.acme),
                Some(("license", &license)),
            );
        } else {
            assert_eq!(error_codes(&body), [outcome], "{mutation}: {body}");
            assert!(appended.is_empty(), "{mutation}: {:?}", actions(&appended));
        }
    }
    let entries = log.of("license.suspended").await;
    assert_eq!(
        details(&entries[0]),
        json!({ "app_id": w.app_id, "from": "active", "to": "suspended", "reason": "unpaid",
                "expires_at": null })
    );

    // A trial app's first install: the apps service starts the trial, then Ada's install.
    let trial_app = FakeApp::extending_user("trials").await;
    let mut trial = manifest("trials", &trial_app.url(), &[]);
    trial["pricing"] = json!({ "model": "trial", "trial_days": 7 });
    let (trial_id, _) = stack.publish_app(&w.developer, &w.admin, &trial).await;
    let mark = log.mark().await;
    let installation = stack.install(&w.ada, &trial_id).await;
    let appended = log.since(mark).await;
    assert_eq!(
        actions(&appended),
        ["license.issued", "installation.created"]
    );
    assert_entry(
        &appended[0],
        "license.issued",
        ("service", Some("apps")),
        Some(&w.acme),
        Some((
            "license",
            appended[0].target_id.as_deref().unwrap_or_default(),
        )),
    );
    assert_eq!(details(&appended[0])["kind"], "trial");
    assert_eq!(details(&appended[0])["app_id"], trial_id.as_str());
    assert_entry(
        &appended[1],
        "installation.created",
        ("user", Some(w.ada.user_id.as_str())),
        Some(&w.acme),
        Some(("installation", &installation)),
    );
    log.assert_whole().await;
    w.stack.stop().await;
}

#[tokio::test]
async fn oauth_consents_and_their_revocation_are_audited() {
    let w = world().await;
    let (stack, log) = (&w.stack, &w.log);
    let ada = Some(w.ada.user_id.as_str());

    // A plain member cannot install through the consent page: refused, nothing recorded.
    let initech = stack
        .create_organization(&w.ada, "Initech", "initech")
        .await;
    stack.sign_up("bob@acme.test", "Bob").await;
    stack
        .add_member(&w.ada, &initech, "bob@acme.test", "MEMBER")
        .await;
    let mut bobs = Browser::new(stack);
    let page = bobs
        .consent_page(&w.app_id, "openid users:read", "bob@acme.test")
        .await;
    let mark = log.mark().await;
    let refused = bobs.approve(&page, &initech, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    nothing_since(log, mark, "a member's consent").await;

    // Ada's consent installs the app in Acme, from her browser's address.
    let mut browser = Browser::new(stack);
    let page = browser
        .consent_page(&w.app_id, "openid users:read", "ada@acme.test")
        .await;
    let mark = log.mark().await;
    let approved = browser.approve(&page, &w.acme, &[]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let location = approved.location();
    assert!(
        location.as_str().starts_with(CALLBACK) && location.as_str().contains("code="),
        "{location}"
    );
    let appended = ours(log.since(mark).await);
    assert_eq!(
        actions(&appended),
        ["installation.created", "oauth.consent_granted"]
    );
    let installation = appended[0].target_id.clone().unwrap_or_default();
    assert_eq!(appended[1].actor_id.as_deref(), ada);
    assert_eq!(
        appended[1]
            .organization_id
            .map(|o| o.to_string())
            .as_deref(),
        Some(w.acme.as_str())
    );
    assert_eq!(appended[1].address.as_deref(), LOOPBACK);
    assert_eq!(
        details(&appended[1]),
        json!({ "app_id": w.app_id, "scopes": ["openid", "users:read"] })
    );
    assert_entry(
        &appended[0],
        "installation.created",
        ("user", ada),
        Some(&w.acme),
        Some(("installation", &installation)),
    );
    assert_eq!(appended[0].address.as_deref(), LOOPBACK);

    // Asking for more, and Ada keeping it: the installation's scopes widen.
    let page = browser
        .consent_page(
            &w.app_id,
            "openid users:read organizations:read",
            "ada@acme.test",
        )
        .await;
    let mark = log.mark().await;
    let approved = browser
        .approve(&page, &w.acme, &["organizations:read"])
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let appended = ours(log.since(mark).await);
    assert_eq!(
        actions(&appended),
        ["installation.scopes_changed", "oauth.consent_granted"]
    );
    assert_entry(
        &appended[0],
        "installation.scopes_changed",
        ("user", ada),
        Some(&w.acme),
        Some(("installation", &installation)),
    );
    assert_eq!(details(&appended[0])["before"], json!(["users:read"]));
    assert_eq!(
        details(&appended[0])["after"],
        json!(["organizations:read", "users:read"])
    );

    // A member of Acme consents for themself (the installation stays as it is): on the record
    // too, by them.
    stack
        .add_member(&w.ada, &w.acme, "bob@acme.test", "MEMBER")
        .await;
    let page = bobs
        .consent_page(&w.app_id, "openid users:read", "bob@acme.test")
        .await;
    let mark = log.mark().await;
    let approved = bobs.approve(&page, &w.acme, &[]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let appended = ours(log.since(mark).await);
    assert_eq!(actions(&appended), ["oauth.consent_granted"]);
    let bob = nexus_identity::users::find_user_by_email(&stack.stack.db, "bob@acme.test")
        .await
        .ok()
        .flatten()
        .map(|u| u.id.to_string());
    assert_eq!(appended[0].actor_id, bob);

    // Ada takes her authorization back, once.
    let listed = stack
        .data_as(
            &w.ada.access,
            "{ authorizedApps { nodes { id } } }",
            json!({}),
        )
        .await;
    let authorization = id(&listed["authorizedApps"]["nodes"][0]["id"]);
    let revoke = "mutation($a: ID!) { revokeAppAuthorization(appId: $a) }";
    let mark = log.mark().await;
    let data = stack
        .data_as(&w.ada.access, revoke, json!({ "a": w.app_id }))
        .await;
    assert_eq!(data["revokeAppAuthorization"], 1);
    let body = stack
        .gql_as(&w.ada.access, revoke, json!({ "a": w.app_id }))
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    let appended = log.since(mark).await;
    assert_eq!(actions(&appended), ["oauth.authorization_revoked"]);
    assert_entry(
        &appended[0],
        "oauth.authorization_revoked",
        ("user", ada),
        Some(&w.acme),
        Some(("oauth_authorization", &authorization)),
    );
    assert_eq!(details(&appended[0]), json!({ "app_id": w.app_id }));
    log.assert_whole().await;
    w.stack.stop().await;
}
