//! The store's listings: what the manifest says of how an app is shown, checked at submission
//! with JSON paths, taking effect when its version is approved; descriptions rendered as
//! sanitized HTML; categories from the platform's list, which its admins keep.

use serde_json::{Value, json};

use crate::common::*;

const LISTING: &str = "query($id: ID!) { app(id: $id) { tagline description descriptionHtml icon screenshots tags category categories links { website docs support privacy terms } pricing { model summary } } }";
const SUBMIT: &str = "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { id status } errors { code path message } } }";

fn listed(manifest: &mut Value, tagline: &str, categories: Value) {
    manifest["description"] = json!(
        "# Analytics\n\nSee **who** uses what. <script>alert(1)</script> [docs](javascript:alert(1))"
    );
    manifest["pricing"]["summary"] = json!("Free forever");
    manifest["urls"] = json!({
        "app": "https://analytics.example",
        "support": "https://analytics.example/support",
        "privacy": "https://analytics.example/privacy",
        "terms": "https://analytics.example/terms"
    });
    manifest["listing"] = json!({
        "tagline": tagline,
        "icon": "https://analytics.example/icon.png",
        "screenshots": ["https://analytics.example/1.png", "https://analytics.example/2.png"],
        "tags": ["usage", "dashboards"],
        "categories": categories
    });
}

fn problems(data: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = data["submitAppVersion"]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn a_listing_is_checked_by_json_path_and_shown_once_its_version_is_approved() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@analytics.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = FakeApp::analytics().await;

    // Every problem at once, each at its path.
    let mut bad = manifest("analytics", &app.url(), &["users:read"]);
    listed(
        &mut bad,
        &"x".repeat(81),
        json!(["sales", "sales", "marketing", "finance"]),
    );
    bad["description"] = json!("d".repeat(20_001));
    bad["pricing"]["summary"] = json!("s".repeat(141));
    bad["urls"]["terms"] = json!("ftp://analytics.example/terms");
    bad["listing"]["icon"] = json!("http://analytics.example/icon.png");
    bad["listing"]["screenshots"] = json!([
        "https://a.example/1.png",
        "https://a.example/2.png",
        "https://a.example/3.png",
        "https://a.example/4.png",
        "https://a.example/5.png",
        "https://a.example/6.png",
        "https://a.example/7.png",
        "javascript:alert(1)",
        "https://a.example/9.png"
    ]);
    bad["listing"]["tags"] = json!([
        "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "Bad Tag", "a2"
    ]);
    let data = stack
        .data_as(&developer.access, SUBMIT, json!({ "m": bad }))
        .await;
    assert!(data["submitAppVersion"]["appVersion"].is_null(), "{data}");
    let expected: Vec<(String, String)> = [
        ("/description", "MANIFEST_DESCRIPTION"),
        ("/listing/categories", "MANIFEST_CATEGORY"),
        ("/listing/categories/1", "MANIFEST_CATEGORY"),
        ("/listing/icon", "MANIFEST_URL"),
        ("/listing/screenshots", "MANIFEST_SCREENSHOTS"),
        ("/listing/screenshots/7", "MANIFEST_URL"),
        ("/listing/tagline", "MANIFEST_TAGLINE"),
        ("/listing/tags", "MANIFEST_TAGS"),
        ("/listing/tags/10", "MANIFEST_TAGS"),
        ("/listing/tags/9", "MANIFEST_TAGS"),
        ("/pricing/summary", "MANIFEST_PRICING"),
        ("/urls/terms", "MANIFEST_URL"),
    ]
    .iter()
    .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
    .collect();
    assert_eq!(problems(&data), expected, "{data}");

    // A category off the platform's list: refused where it is named, nothing filed.
    let mut unknown = manifest("analytics", &app.url(), &["users:read"]);
    listed(&mut unknown, "Usage at a glance", json!(["astrology"]));
    let data = stack
        .data_as(&developer.access, SUBMIT, json!({ "m": unknown }))
        .await;
    assert_eq!(
        problems(&data),
        [(
            "/listing/categories/0".to_owned(),
            "MANIFEST_CATEGORY".to_owned()
        )],
        "{data}"
    );
    assert!(data["submitAppVersion"]["appVersion"].is_null(), "{data}");

    // Version 1's listing, shown once approved.
    let mut first = manifest("analytics", &app.url(), &["users:read"]);
    listed(&mut first, "Usage at a glance", json!(["analytics"]));
    let (app_id, _) = stack.publish_app(&developer, &admin, &first).await;
    let data = stack
        .data_as(&developer.access, LISTING, json!({ "id": app_id }))
        .await;
    let shown = &data["app"];
    assert_eq!(shown["tagline"], "Usage at a glance", "{data}");
    assert_eq!(shown["icon"], "https://analytics.example/icon.png");
    assert_eq!(shown["screenshots"].as_array().map(Vec::len), Some(2));
    assert_eq!(shown["tags"], json!(["usage", "dashboards"]));
    assert_eq!(shown["category"], "insights");
    assert_eq!(shown["categories"], json!(["insights", "analytics"]));
    assert_eq!(shown["links"]["terms"], "https://analytics.example/terms");
    assert_eq!(
        shown["pricing"],
        json!({ "model": "FREE", "summary": "Free forever" })
    );
    // Stored as written, rendered safe.
    assert!(
        shown["description"]
            .as_str()
            .unwrap_or_default()
            .contains("<script>")
    );
    let html = shown["descriptionHtml"].as_str().unwrap_or_default();
    assert!(html.contains("<h1>Analytics</h1>"), "{html}");
    assert!(html.contains("<strong>who</strong>"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");

    // Version 2 changes the listing: nothing shows until it is approved.
    let mut second = first.clone();
    second["version"] = json!("1.1.0");
    listed(&mut second, "Usage, now with funnels", json!(["marketing"]));
    let data = stack
        .data_as(&developer.access, SUBMIT, json!({ "m": second }))
        .await;
    let version = data["submitAppVersion"]["appVersion"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        data["submitAppVersion"]["appVersion"]["status"], "IN_REVIEW",
        "{data}"
    );
    let in_category = |category: &str| {
        let query = format!(
            "{{ apps(filter: {{category: \"{category}\"}}) {{ edges {{ node {{ namespace }} }} }} }}"
        );
        let stack = &stack;
        let token = developer.access.clone();
        async move {
            let data = stack.data_as(&token, &query, json!({})).await;
            data["apps"]["edges"]
                .as_array()
                .map(Vec::len)
                .unwrap_or_default()
        }
    };
    let data = stack
        .data_as(&developer.access, LISTING, json!({ "id": app_id }))
        .await;
    assert_eq!(data["app"]["tagline"], "Usage at a glance");
    assert_eq!(in_category("analytics").await, 1);
    assert_eq!(in_category("marketing").await, 0);
    stack.approve_version(&admin, &version).await;
    let data = stack
        .data_as(&developer.access, LISTING, json!({ "id": app_id }))
        .await;
    assert_eq!(data["app"]["tagline"], "Usage, now with funnels");
    assert_eq!(data["app"]["categories"], json!(["insights", "marketing"]));
    assert_eq!(in_category("analytics").await, 0);
    assert_eq!(in_category("marketing").await, 1);
    assert_eq!(in_category("insights").await, 1);
    stack.stop().await;
}

#[tokio::test]
async fn platform_admins_keep_the_list_of_categories() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@analytics.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let body = stack
        .gql("{ storeCategories { slug name } }", json!({}))
        .await;
    let slugs: Vec<&str> = body["data"]["storeCategories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["slug"].as_str())
        .collect();
    assert!(
        slugs.contains(&"insights") && slugs.contains(&"sales"),
        "{body}"
    );
    assert!(!slugs.contains(&"astrology"), "{body}");

    let create = "mutation($slug: String!, $name: String!) { createStoreCategory(slug: $slug, name: $name) { slug name } }";
    let body = stack
        .gql_as(
            &developer.access,
            create,
            json!({ "slug": "astrology", "name": "Astrology" }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    for (slug, name) in [("Astro Logy", "Astrology"), ("astrology", "")] {
        let body = stack
            .gql_as(&admin.access, create, json!({ "slug": slug, "name": name }))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
    let data = stack
        .data_as(
            &admin.access,
            create,
            json!({ "slug": "astrology", "name": "Astrology" }),
        )
        .await;
    assert_eq!(data["createStoreCategory"]["slug"], "astrology");
    let body = stack
        .gql_as(
            &admin.access,
            create,
            json!({ "slug": "astrology", "name": "Again" }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");

    // Now an app may be filed under it.
    let app = FakeApp::analytics().await;
    let mut starry = manifest("analytics", &app.url(), &["users:read"]);
    starry["listing"] = json!({ "categories": ["astrology"] });
    let (app_id, _) = stack.publish_app(&developer, &admin, &starry).await;
    let data = stack
        .data_as(
            &developer.access,
            "query($id: ID!) { app(id: $id) { categories } }",
            json!({ "id": app_id }),
        )
        .await;
    assert_eq!(data["app"]["categories"], json!(["insights", "astrology"]));
    stack.stop().await;
}

const ACCESS: &str = "{ extends { type fields } requiredScopes optionalScopes webhookEvents signsUsersIn redirectHosts }";
const CHANGES: &str = "{ firstVersion addedFields removedFields addedScopes removedScopes newlyRequiredScopes addedWebhookEvents removedWebhookEvents startsSigningUsersIn stopsSigningUsersIn addedRedirectHosts removedRedirectHosts }";

#[tokio::test]
async fn what_an_app_can_touch_is_computed_from_it_and_each_version_says_what_it_adds() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@analytics.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let (ada, _) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let app = FakeApp::analytics().await;
    let mut first = manifest("analytics", &app.url(), &["users:read"]);
    first["webhooks"] =
        json!({ "endpoint": "https://hooks.analytics.example/n", "events": ["app.installed"] });
    let (app_id, first_version) = stack.publish_app(&developer, &admin, &first).await;
    let query =
        format!("query($id: ID!) {{ app(id: $id) {{ access {ACCESS} accessChanges {CHANGES} }} }}");
    let data = stack
        .data_as(&ada.access, &query, json!({ "id": app_id }))
        .await;
    assert_eq!(
        data["app"]["access"],
        json!({
            "extends": [{ "type": "User", "fields": ["analyticsProfile"] }],
            "requiredScopes": ["users:read"], "optionalScopes": [],
            "webhookEvents": ["app.installed"], "signsUsersIn": false, "redirectHosts": []
        }),
        "{data}"
    );
    assert_eq!(data["app"]["accessChanges"]["firstVersion"], true, "{data}");
    assert_eq!(
        data["app"]["accessChanges"]["addedFields"],
        json!(["User.analyticsProfile"])
    );

    // Version 2 adds a field on Organization, a required scope and "Sign in with Nexus".
    let wider = FakeApp::start(format!(
        "{}\ntype Organization @key(fields: \"id\") {{ id: ID! analyticsSeats: Int }}",
        analytics_sdl()
    ))
    .await;
    let mut second = manifest(
        "analytics",
        &wider.url(),
        &["users:read", "organizations:read"],
    );
    second["version"] = json!("1.1.0");
    second["webhooks"] = first["webhooks"].clone();
    second["oauth"] = json!({ "redirect_uris": ["https://app.analytics.example/callback"] });
    let (_, second_version) = stack.submit_app(&developer, &second).await;
    let data = stack
        .data_as(
            &admin.access,
            &format!("query($id: ID!) {{ app(id: $id) {{ versions(first: 5) {{ edges {{ node {{ id status accessChanges {CHANGES} }} }} }} }} }}"),
            json!({ "id": app_id }),
        )
        .await;
    let versions = data["app"]["versions"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let review = versions
        .iter()
        .find(|v| v["node"]["id"] == second_version.as_str())
        .expect("the version in review");
    assert_eq!(
        review["node"]["accessChanges"],
        json!({
            "firstVersion": false,
            "addedFields": ["Organization.analyticsSeats"], "removedFields": [],
            "addedScopes": ["organizations:read"], "removedScopes": [],
            "newlyRequiredScopes": ["organizations:read"],
            "addedWebhookEvents": [], "removedWebhookEvents": [],
            "startsSigningUsersIn": true, "stopsSigningUsersIn": false,
            "addedRedirectHosts": ["app.analytics.example"], "removedRedirectHosts": []
        }),
        "{data}"
    );
    assert!(
        versions
            .iter()
            .any(|v| v["node"]["id"] == first_version.as_str())
    );

    // The store filters by what the live version touches: the new one only once approved.
    let count = |filter: &'static str| {
        let stack = &stack;
        let token = ada.access.clone();
        async move {
            let data = stack
                .data_as(
                    &token,
                    &format!("{{ apps(filter: {filter}) {{ edges {{ node {{ namespace }} }} }} }}"),
                    json!({}),
                )
                .await;
            data["apps"]["edges"]
                .as_array()
                .map(Vec::len)
                .unwrap_or_default()
        }
    };
    assert_eq!(count("{extends: \"User\"}").await, 1);
    assert_eq!(count("{extends: \"Organization\"}").await, 0);
    assert_eq!(count("{scope: \"users:read\"}").await, 1);
    assert_eq!(count("{scope: \"organizations:read\"}").await, 0);
    stack.approve_version(&admin, &second_version).await;
    assert_eq!(count("{extends: \"Organization\"}").await, 1);
    assert_eq!(count("{scope: \"organizations:read\"}").await, 1);
    assert_eq!(
        count("{extends: \"Organization\", scope: \"users:read\", category: \"insights\"}").await,
        1
    );
    assert_eq!(count("{extends: \"License\"}").await, 0);
    let data = stack
        .data_as(&ada.access, &query, json!({ "id": app_id }))
        .await;
    assert_eq!(data["app"]["access"]["signsUsersIn"], true, "{data}");
    assert_eq!(
        data["app"]["accessChanges"]["addedFields"],
        json!(["Organization.analyticsSeats"]),
        "{data}"
    );

    // An app approved before access was recorded gets it from its live version at start.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = &stack.stack.db;
    let id: uuid::Uuid = app_id.parse().expect("a uuid");
    nexus_apps::entity::app::Entity::update_many()
        .col_expr(
            nexus_apps::entity::app::Column::Access,
            sea_orm::sea_query::Expr::value(Option::<serde_json::Value>::None),
        )
        .filter(nexus_apps::entity::app::Column::Id.eq(id))
        .exec(db)
        .await
        .expect("forgotten");
    nexus_apps::entity::app_access::Entity::delete_many()
        .exec(db)
        .await
        .expect("forgotten");
    assert_eq!(count("{extends: \"Organization\"}").await, 0);
    let filled = nexus_apps::listing::backfill_access(db)
        .await
        .expect("backfilled");
    assert_eq!(filled, 1);
    let again = stack
        .data_as(&ada.access, &query, json!({ "id": app_id }))
        .await;
    assert_eq!(again["app"]["access"], data["app"]["access"]);
    assert_eq!(count("{extends: \"Organization\"}").await, 1);
    stack.stop().await;
}

#[tokio::test]
async fn platform_admins_feature_published_apps_in_order() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@analytics.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let db = &stack.stack.db;
    let apps = nexus::seed::published_apps(db, &["alpha", "beta", "gamma"])
        .await
        .expect("apps");
    let ids: Vec<String> = apps.iter().map(|id| id.to_string()).collect();
    let set = "mutation($ids: [ID!]!) { setFeaturedApps(appIds: $ids) { namespace } }";
    let body = stack
        .gql_as(&developer.access, set, json!({ "ids": [ids[0]] }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    // A draft is not featured; nor an app twice, nor 25.
    let app = FakeApp::analytics().await;
    let (draft, _) = stack
        .submit_app(
            &developer,
            &manifest("analytics", &app.url(), &["users:read"]),
        )
        .await;
    for bad in [
        json!([ids[0], draft]),
        json!([ids[0], ids[0]]),
        json!(vec![ids[0].clone(); 25]),
    ] {
        let body = stack
            .gql_as(&admin.access, set, json!({ "ids": bad }))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
    let data = stack
        .data_as(&admin.access, set, json!({ "ids": [ids[2], ids[0]] }))
        .await;
    assert_eq!(
        data["setFeaturedApps"],
        json!([{ "namespace": "gamma" }, { "namespace": "alpha" }])
    );
    let body = stack.gql("{ featuredApps { namespace } }", json!({})).await;
    assert_eq!(
        body["data"]["featuredApps"],
        json!([{ "namespace": "gamma" }, { "namespace": "alpha" }]),
        "{body}"
    );
    stack.stop().await;
}

const STORE_PAGE: &str = "{ apps(first: 100) { edges { node { name tagline icon tags categories descriptionHtml \
    pricing { model summary } links { support } access { extends { type fields } requiredScopes } \
    developer { id } } } } }";

/// A page of the store costs the same statements for 5 apps as for 60.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_page_costs_the_same_for_few_and_many_apps() {
    let stack = TestStack::start().await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let db = &stack.stack.db;
    let names: Vec<String> = (0..60).map(|i| format!("app{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    nexus::seed::published_apps(db, &refs[..5])
        .await
        .expect("apps");
    let cost = |expected: usize| {
        let stack = &stack;
        let token = admin.access.clone();
        async move {
            let before = stack.stack.statements.get();
            let data = stack.data_as(&token, STORE_PAGE, json!({})).await;
            let after = stack.stack.statements.get();
            assert_eq!(
                data["apps"]["edges"].as_array().map(Vec::len),
                Some(expected),
                "{data}"
            );
            after - before
        }
    };
    let with_5 = cost(5).await;
    for chunk in refs[5..].chunks(5) {
        nexus_apps_for(db, chunk).await;
    }
    let with_60 = cost(60).await;
    assert_eq!(
        with_5, with_60,
        "the statements grew with the apps on the page"
    );
    stack.stop().await;
}

/// More apps by the seed's developer.
async fn nexus_apps_for(db: &sea_orm::DatabaseConnection, namespaces: &[&str]) {
    use nexus_apps::listing::{NewApp, Pricing, create_app};
    let developer = nexus_identity::users::find_user_by_email(db, "dev@apps.test")
        .await
        .expect("found")
        .expect("the seed's developer");
    for namespace in namespaces {
        create_app(
            db,
            NewApp {
                namespace: (*namespace).into(),
                name: (*namespace).into(),
                description: "An app".into(),
                category: "tools".into(),
                developer_id: developer.id,
                status: nexus_apps::entity::app::AppStatus::Published,
                pricing: Pricing::free(),
            },
        )
        .await
        .expect("created");
    }
}
