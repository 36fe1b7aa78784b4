//! How long answers about access are trusted is configuration (`[caches]`): at 0 a revocation
//! bites on the very next request; with a long one the cached answer is still trusted right
//! after (so the setting, not a constant, decides).

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_revoked_api_key_is_trusted_as_long_as_caches_api_key_seconds_says() {
    for (seconds, trusted_after_revocation) in [(0, false), (60, true)] {
        let stack =
            TestStack::start_configured(|config, _| config.caches.api_key_seconds = seconds).await;
        let (ada, org) = stack.owner_of("ada@example.com", "Acme", "acme").await;
        let created = stack
            .data_as(
                &ada.access,
                "mutation($o: ID!) { createApiKey(input: {organizationId: $o, name: \"deploy\", scopes: [\"organizations:read\"]}) { secret apiKey { id } } }",
                json!({ "o": org }),
            )
            .await;
        let secret = created["createApiKey"]["secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let call = || async {
            let response = stack
                .client
                .post(stack.stack.graphql_url())
                .header("x-api-key", &secret)
                .json(&json!({ "query": "{ organizations { edges { node { slug } } } }" }))
                .send()
                .await
                .expect("router answers");
            let status = response.status().as_u16();
            (
                status,
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            )
        };
        let (status, body) = call().await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["organizations"]["edges"][0]["node"]["slug"],
            "acme"
        );

        stack
            .data_as(
                &ada.access,
                "mutation($o: ID!, $id: ID!) { revokeApiKey(organizationId: $o, id: $id) { revokedAt } }",
                json!({ "o": org, "id": created["createApiKey"]["apiKey"]["id"] }),
            )
            .await;
        let (status, body) = call().await;
        if trusted_after_revocation {
            assert_eq!(status, 200, "api_key_seconds = {seconds}: {body}");
        } else {
            assert_eq!(status, 401, "api_key_seconds = {seconds}: {body}");
            assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
        }
        stack.stop().await;
    }
}

#[tokio::test]
async fn a_demoted_admin_keeps_rights_at_the_apps_service_as_long_as_caches_membership_seconds_says()
 {
    for (seconds, still_admin) in [(0, false), (60, true)] {
        let stack =
            TestStack::start_configured(|config, _| config.caches.membership_seconds = seconds)
                .await;
        let developer = stack.sign_up("dev@apps.test", "Dev").await;
        let admin = stack.platform_admin("admin@nexus.test").await;
        let (ada, org) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
        let grace = stack.sign_up("grace@acme.test", "Grace").await;
        let membership = stack
            .add_member(&ada, &org, "grace@acme.test", "ADMIN")
            .await;
        let grace = stack.switch(&grace, &org).await;
        let (_app, app_id) = stack.publish_analytics(&developer, &admin).await;
        // Grace's role as the apps service sees it is looked up (and cached) now.
        stack
            .data_as(
                &grace.access,
                "{ apps { edges { node { id } } } }",
                json!({}),
            )
            .await;

        stack
            .data_as(
                &ada.access,
                "mutation($m: ID!) { changeMemberRole(input: {membershipId: $m, role: MEMBER}) { role } }",
                json!({ "m": membership }),
            )
            .await;
        let body = stack
            .gql_as(
                &grace.access,
                "mutation($app: ID!) { installApp(appId: $app) { id } }",
                json!({ "app": app_id }),
            )
            .await;
        if still_admin {
            assert!(
                body["data"]["installApp"]["id"].is_string(),
                "membership_seconds = {seconds}: {body}"
            );
        } else {
            assert_eq!(
                error_codes(&body),
                ["FORBIDDEN"],
                "membership_seconds = {seconds}: {body}"
            );
        }
        stack.stop().await;
    }
}
