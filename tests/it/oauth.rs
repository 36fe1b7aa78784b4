//! OAuth 2.1 / OpenID Connect: an app installs with consent and signs users in. The browser is a
//! cookie-keeping HTTP client here (every bad path, exactly), and a real headless Chromium driven
//! by Python's authlib + Selenium for the whole happy path (`NEXUS_TEST_BROWSER=1`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{Answer, Browser, CALLBACK, PASSWORD, Session, TestStack, manifest};

/// A PKCE pair: (verifier, S256 challenge).
fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(3));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_path(client_id: &str, params: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", client_id);
    for (name, value) in params {
        query.append_pair(name, value);
    }
    format!("/oauth/authorize?{}", query.finish())
}

/// The usual request's parameters, with `challenge`.
fn usual<'a>(challenge: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
        ("scope", scope),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

struct OAuthWorld {
    stack: TestStack,
    developer: Session,
    admin: Session,
    app_id: String,
    secret: String,
    /// Alice owns Acme; Bob is a plain member of Acme.
    alice: Session,
    acme: String,
    app: crate::common::FakeApp,
}

async fn world() -> OAuthWorld {
    world_with(json!({ "redirect_uris": [CALLBACK, "https://app.example.com/cb"] })).await
}

/// `world` with the app's manifest saying `oauth` instead.
async fn world_with(oauth: Value) -> OAuthWorld {
    let stack = TestStack::start().await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let developer = stack.sign_up("dev@apps.test", "Dana Developer").await;
    let app = crate::common::FakeApp::analytics().await;
    let mut manifest = manifest("analytics", &app.url(), &["users:read"]);
    manifest["scopes"]["optional"] = json!(["organizations:read"]);
    manifest["oauth"] = oauth;
    let (app_id, _) = stack.publish_app(&developer, &admin, &manifest).await;
    let secret = stack.rotate_client_secret(&developer, &app_id).await;
    let (alice, acme) = stack.owner_of("alice@acme.test", "Acme", "acme").await;
    OAuthWorld {
        stack,
        developer,
        admin,
        app_id,
        secret,
        alice,
        acme,
        app,
    }
}

impl OAuthWorld {
    /// POSTs a form to the token endpoint (or another OAuth endpoint) with HTTP Basic as the app.
    async fn token(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.token_as(&self.app_id, &self.secret, path, form).await
    }

    async fn token_as(
        &self,
        client: &str,
        secret: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let response = self
            .stack
            .client
            .post(format!("{}{path}", self.stack.stack.keys.issuer()))
            .basic_auth(client, Some(secret))
            .form(form)
            .send()
            .await
            .expect("the OAuth endpoint answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// RFC 8693 with `subject` as the context token, as `client`.
    async fn exchange(
        &self,
        client: &str,
        secret: &str,
        subject: &str,
        scope: Option<&str>,
    ) -> (u16, Value) {
        let mut form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", subject),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ];
        form.extend(scope.map(|s| ("scope", s)));
        self.token_as(client, secret, "/oauth/token", &form).await
    }

    async fn redeem(&self, code: &str, verifier: &str) -> (u16, Value) {
        self.token(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    async fn installations_of_acme(&self) -> Value {
        self.stack
            .data_as(
                &self.alice.access,
                "query($o: ID!) { organization(id: $o) { installations { nodes { id grantedScopes app { id } } } } }",
                json!({ "o": self.acme }),
            )
            .await["organization"]["installations"]["nodes"]
            .clone()
    }
}

#[tokio::test]
async fn an_app_installs_with_consent_and_signs_users_in_and_every_bad_path_is_refused() {
    let w = world().await;
    let (verifier, challenge) = pkce();
    let scope = "openid email profile offline_access users:read";
    let mut browser = Browser::new(&w.stack);

    discovery_says_what_exists(&w.stack).await;
    a_broken_sign_in_link_is_a_page_never_a_redirect(&w, &mut browser, &challenge, scope).await;
    every_other_bad_request_goes_back_to_the_app(&w, &mut browser, &challenge).await;
    let signed_in =
        only_a_real_login_on_a_locked_down_page_signs_in(&w, &mut browser, &challenge, scope).await;
    let code =
        consent_names_everything_and_only_an_approval_installs(&w, &mut browser, &signed_in).await;
    let other =
        a_code_without_its_verifier_or_for_another_app_gives_nothing(&w, &code, &verifier).await;
    let tokens = the_right_verifier_gives_access_id_and_refresh_tokens(&w, &code, &verifier).await;
    the_access_token_acts_for_alice_in_acme_within_the_grant_only(&w, &tokens.access).await;
    userinfo_and_introspection_answer_the_tokens_own_app_only(&w, &other, &tokens.access).await;
    a_code_redeemed_again_revokes_every_token_it_issued(&w, &code, &verifier, &tokens).await;
    let refresh = signing_in_again_skips_the_remembered_consent(&w, &mut browser, scope).await;
    a_refresh_token_rotates_and_reusing_one_revokes_the_grant(&w, &refresh).await;
    an_expired_code_gives_nothing(&w, &mut browser, scope).await;
    revoking_a_refresh_token_stops_its_access_token(&w, &mut browser, scope).await;
    a_member_signs_in_with_only_what_the_organization_granted(&w).await;
    let again = taking_an_authorization_back_asks_for_consent_again(&w, &mut browser, scope).await;
    uninstalling_ends_the_sign_ins_made_through_the_installation(&w, &mut browser, again).await;
    w.stack.stop().await;
}

/// Another published app, with its credentials (the server lives as long as the test).
struct OtherApp {
    _server: crate::common::FakeApp,
    other_id: String,
    other_secret: String,
}

/// What the first code redeemed for.
struct FirstTokens {
    access: String,
    refresh: String,
}

/// Alice's consent page after she took the app's authorization back, and what came before.
struct ConsentAgain {
    asks_again: Answer,
    verifier: String,
    refresh_before: String,
}

/// Discovery says what exists: S256 only, the RFC 9207 `iss`, and every endpoint.
async fn discovery_says_what_exists(stack: &TestStack) {
    let meta: Value = stack
        .client
        .get(format!(
            "{}/.well-known/openid-configuration",
            stack.stack.keys.issuer()
        ))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    for endpoint in [
        "authorization_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ] {
        assert!(
            meta[endpoint]
                .as_str()
                .is_some_and(|e| e.starts_with("http")),
            "{endpoint}: {meta}"
        );
    }
}

/// An unknown client, or an unregistered (or no) redirect URI: a page, never a redirect.
async fn a_broken_sign_in_link_is_a_page_never_a_redirect(
    w: &OAuthWorld,
    browser: &mut Browser,
    challenge: &str,
    scope: &str,
) {
    for path in [
        authorize_path(&uuid::Uuid::new_v4().to_string(), &usual(challenge, scope)),
        authorize_path(
            &w.app_id,
            &[
                ("response_type", "code"),
                ("redirect_uri", "https://evil.test/cb"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
        ),
        authorize_path(
            &w.app_id,
            &[
                ("response_type", "code"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
        ),
        authorize_path(
            &w.app_id,
            &[
                ("response_type", "code"),
                ("redirect_uri", "http://127.0.0.1:5001/callback/../other"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
        ),
    ] {
        let answer = browser.get(&path).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.body
        );
        assert!(answer.headers.get(LOCATION).is_none(), "{path} redirected");
        assert!(
            answer.body.contains("sign-in link is broken"),
            "{}",
            answer.body
        );
    }
}

/// Every other bad request goes back to the app with an error, the state and the issuer (RFC 9207).
async fn every_other_bad_request_goes_back_to_the_app(
    w: &OAuthWorld,
    browser: &mut Browser,
    challenge: &str,
) {
    let stack = &w.stack;
    for (params, error, says) in [
        (
            vec![
                ("response_type", "code"),
                ("redirect_uri", CALLBACK),
                ("state", "st-1"),
                ("code_challenge", challenge),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
            "S256",
        ),
        (
            vec![
                ("response_type", "code"),
                ("redirect_uri", CALLBACK),
                ("state", "st-1"),
                ("code_challenge", challenge),
            ],
            "invalid_request",
            "PKCE is required",
        ),
        (
            vec![
                ("response_type", "code"),
                ("redirect_uri", CALLBACK),
                ("state", "st-1"),
                ("prompt", "none login"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
            "none alone",
        ),
        (
            vec![
                ("response_type", "code"),
                ("redirect_uri", CALLBACK),
                ("state", "st-1"),
                ("prompt", "none"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
            "login_required",
            "not signed in",
        ),
        (
            vec![
                ("response_type", "token"),
                ("redirect_uri", CALLBACK),
                ("state", "st-1"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
            "unsupported_response_type",
            "code",
        ),
        (
            vec![
                ("response_type", "code"),
                ("redirect_uri", CALLBACK),
                ("state", "st-1"),
                ("scope", "openid licenses:read"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
            "invalid_scope",
            "licenses:read",
        ),
    ] {
        let answer = browser.get(&authorize_path(&w.app_id, &params)).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert!(
            answer.location().as_str().starts_with(CALLBACK),
            "{}",
            answer.location()
        );
        assert_eq!(
            answer.param("error").as_deref(),
            Some(error),
            "{}",
            answer.location()
        );
        assert!(
            answer
                .param("error_description")
                .unwrap_or_default()
                .contains(says)
        );
        assert_eq!(answer.param("state").as_deref(), Some("st-1"));
        assert_eq!(
            answer.param("iss").as_deref(),
            Some(stack.stack.keys.issuer())
        );
    }
}

/// Signed out: a locked-down login page; a forged or wrong-password login signs nobody in.
async fn only_a_real_login_on_a_locked_down_page_signs_in(
    w: &OAuthWorld,
    browser: &mut Browser,
    challenge: &str,
    scope: &str,
) -> Answer {
    // Signed out: the login page, in a fresh session cookie; never framed, never cached.
    let authorize = authorize_path(&w.app_id, &usual(challenge, scope));
    let login = browser.get(&authorize).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert!(login.body.contains("Sign in to Nexus"), "{}", login.body);
    let csp = login.headers["content-security-policy"]
        .to_str()
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("form-action"), "{csp}");
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert_eq!(login.headers["cache-control"], "no-store");
    let cookie = login.headers[SET_COOKIE].to_str().unwrap_or_default();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-http development keeps the cookie usable: {cookie}"
    );

    // The login form needs its CSRF token; a wrong password says so and signs nobody in.
    let csrf_missing = browser
        .post(
            "/oauth/login",
            &[
                ("request", &login.field("request")),
                ("email", "alice@acme.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        csrf_missing.status,
        StatusCode::FORBIDDEN,
        "{}",
        csrf_missing.body
    );
    let wrong = browser
        .log_in(&login, "alice@acme.test", "not the password 1")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(
        wrong.body.contains("wrong email or password"),
        "{}",
        wrong.body
    );
    let signed_in = browser.log_in(&wrong, "alice@acme.test", PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert!(signed_in.location().path().ends_with("/oauth/authorize"));
    signed_in
}

/// Consent says who asks for what, and only an approval with its CSRF token installs; the code.
async fn consent_names_everything_and_only_an_approval_installs(
    w: &OAuthWorld,
    browser: &mut Browser,
    signed_in: &Answer,
) -> String {
    let stack = &w.stack;
    // The consent page names the app, its developer, each scope in words, and the organization.
    let consent = browser.follow(signed_in).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    for words in [
        "Analytics",
        "Dana Developer",
        "alice@acme.test",
        "see your email address",
        "(users:read)",
        "Acme",
        "installs the app",
    ] {
        assert!(consent.body.contains(words), "{words}: {}", consent.body);
    }
    assert!(
        !consent.body.contains("organizations:read"),
        "not asked for: {}",
        consent.body
    );
    let (csrf, request) = (consent.field("csrf"), consent.field("request"));

    // Approving without the form's CSRF token does nothing.
    let forged = browser
        .post(
            "/oauth/consent",
            &[
                ("request", &request),
                ("organization", &w.acme),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert_eq!(w.installations_of_acme().await, json!([]));

    // Deny: back to the app with access_denied; nothing installed.
    let denied = browser
        .post(
            "/oauth/consent",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("organization", &w.acme),
                ("decision", "deny"),
            ],
        )
        .await;
    assert_eq!(
        denied.param("error").as_deref(),
        Some("access_denied"),
        "{}",
        denied.body
    );
    assert_eq!(denied.param("state").as_deref(), Some("st-1"));
    assert_eq!(w.installations_of_acme().await, json!([]));

    // Approve: installed with exactly the approved scopes, and a code for the app.
    let approved = browser
        .post(
            "/oauth/consent",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("organization", &w.acme),
                ("scope", "users:read"),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    assert_eq!(approved.param("state").as_deref(), Some("st-1"));
    assert_eq!(
        approved.param("iss").as_deref(),
        Some(stack.stack.keys.issuer())
    );
    let code = approved.param("code").expect("a code");
    let installed = w.installations_of_acme().await;
    assert_eq!(installed.as_array().map(Vec::len), Some(1), "{installed}");
    assert_eq!(installed[0]["grantedScopes"], json!(["users:read"]));
    assert_eq!(installed[0]["app"]["id"], w.app_id.as_str());
    code
}

/// The code, without or with a wrong verifier, or by another app, gives nothing; that other app.
async fn a_code_without_its_verifier_or_for_another_app_gives_nothing(
    w: &OAuthWorld,
    code: &str,
    verifier: &str,
) -> OtherApp {
    let stack = &w.stack;
    refused(
        w.token(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
            ],
        )
        .await,
        "invalid_request",
    );
    refused(w.redeem(code, &pkce().0).await, "invalid_grant");
    let other = crate::common::FakeApp::start(
        crate::common::analytics_sdl()
            .replace("analytics", "reports")
            .replace("Analytics", "Reports"),
    )
    .await;
    let mut other_manifest = manifest("reports", &other.url(), &[]);
    other_manifest["oauth"] = json!({ "redirect_uris": [CALLBACK] });
    let (other_id, _) = stack
        .publish_app(&w.developer, &w.admin, &other_manifest)
        .await;
    let other_secret = stack.rotate_client_secret(&w.developer, &other_id).await;
    let (status, body) = w
        .token_as(
            &other_id,
            &other_secret,
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "another app's code: {body}"
    );
    OtherApp {
        _server: other,
        other_id,
        other_secret,
    }
}

/// The right verifier: an access token, an id_token for Alice in Acme, and a refresh token.
async fn the_right_verifier_gives_access_id_and_refresh_tokens(
    w: &OAuthWorld,
    code: &str,
    verifier: &str,
) -> FirstTokens {
    let (status, tokens) = w.redeem(code, verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        tokens["scope"],
        "email offline_access openid profile users:read"
    );
    let access = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id_token = claims_of(tokens["id_token"].as_str().unwrap_or_default());
    assert_eq!(id_token["aud"], w.app_id.as_str());
    assert_eq!(id_token["sub"], w.alice.user_id.as_str());
    assert_eq!(id_token["nonce"], "n-1");
    assert_eq!(id_token["email"], "alice@acme.test");
    assert_eq!(id_token["org"], w.acme.as_str());
    assert!(id_token["auth_time"].as_i64().is_some(), "{id_token}");
    FirstTokens { access, refresh }
}

/// The access token acts for Alice in Acme within the grant, with nothing of her own powers.
async fn the_access_token_acts_for_alice_in_acme_within_the_grant_only(
    w: &OAuthWorld,
    access: &str,
) {
    let stack = &w.stack;
    let data = stack
        .gql_as(
            access,
            "query($id: ID!) { user(id: $id) { email } }",
            json!({ "id": w.alice.user_id }),
        )
        .await;
    assert_eq!(data["data"]["user"]["email"], "alice@acme.test", "{data}");
    let body = stack
        .gql_as(
            access,
            "mutation { createOrganization(input: { name: \"Stolen\", slug: \"stolen\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
}

/// userinfo describes Alice; introspection answers the token's own app only.
async fn userinfo_and_introspection_answer_the_tokens_own_app_only(
    w: &OAuthWorld,
    other: &OtherApp,
    access: &str,
) {
    let stack = &w.stack;
    let OtherApp {
        other_id,
        other_secret,
        ..
    } = other;
    // userinfo
    let info: Value = stack
        .client
        .get(format!("{}/oauth/userinfo", stack.stack.keys.issuer()))
        .bearer_auth(access)
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["email"], "alice@acme.test", "{info}");
    assert_eq!(info["sub"], w.alice.user_id.as_str());

    // Introspection: the app's own token is active; another app asking learns nothing.
    let (_, about) = w.token("/oauth/introspect", &[("token", access)]).await;
    assert_eq!(about["active"], true, "{about}");
    assert_eq!(about["sub"], w.alice.user_id.as_str());
    let (_, foreign) = w
        .token_as(
            other_id,
            other_secret,
            "/oauth/introspect",
            &[("token", access)],
        )
        .await;
    assert_eq!(foreign, json!({ "active": false }));
}

/// The code again: refused, and every token issued from it is revoked.
async fn a_code_redeemed_again_revokes_every_token_it_issued(
    w: &OAuthWorld,
    code: &str,
    verifier: &str,
    tokens: &FirstTokens,
) {
    let stack = &w.stack;
    let FirstTokens { access, refresh } = tokens;
    refused(w.redeem(code, verifier).await, "invalid_grant");
    stack
        .eventually(access, "{ __typename }", Duration::from_secs(5), |b| {
            b["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        })
        .await;
    refused(
        w.token(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await,
        "invalid_grant",
    );
}

/// Signing in again: the consent is remembered, straight back to the app; its refresh token.
async fn signing_in_again_skips_the_remembered_consent(
    w: &OAuthWorld,
    browser: &mut Browser,
    scope: &str,
) -> String {
    let (verifier, challenge) = pkce();
    let again = browser
        .get(&authorize_path(&w.app_id, &usual(&challenge, scope)))
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    let code = again.param("code").expect("a code without a consent page");
    let (status, tokens) = w.redeem(&code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");

    tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Refresh rotates; presenting the old one again revokes the whole grant.
async fn a_refresh_token_rotates_and_reusing_one_revokes_the_grant(w: &OAuthWorld, refresh: &str) {
    let (status, rotated) = w
        .token(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let next = rotated["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(next, refresh);
    refused(
        w.token(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("scope", "openid"),
            ],
        )
        .await,
        "invalid_grant",
    );
    let (status, body) = w
        .token(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &next)],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the family is revoked: {body}"
    );
}

/// An expired code gives nothing.
async fn an_expired_code_gives_nothing(w: &OAuthWorld, browser: &mut Browser, scope: &str) {
    let stack = &w.stack;
    let (verifier, challenge) = pkce();
    let code = browser
        .get(&authorize_path(&w.app_id, &usual(&challenge, scope)))
        .await
        .param("code")
        .expect("code");
    stack
        .stack
        .db
        .execute_unprepared("UPDATE oauth_codes SET expires_at = created_at WHERE used_at IS NULL")
        .await
        .expect("age the code");
    let body = refused(w.redeem(&code, &verifier).await, "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{body}"
    );
}

/// Revocation (RFC 7009): unknown tokens are fine; a revoked sign-in's tokens stop.
async fn revoking_a_refresh_token_stops_its_access_token(
    w: &OAuthWorld,
    browser: &mut Browser,
    scope: &str,
) {
    let (verifier, challenge) = pkce();
    let code = browser
        .get(&authorize_path(&w.app_id, &usual(&challenge, scope)))
        .await
        .param("code")
        .expect("code");
    let (_, tokens) = w.redeem(&code, &verifier).await;
    let (access, refresh) = (
        tokens["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        tokens["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    let (status, _) = w
        .token("/oauth/revoke", &[("token", "no-such-token")])
        .await;
    assert_eq!(status, 200);
    let (status, _) = w
        .token(
            "/oauth/revoke",
            &[("token", &refresh), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(status, 200);
    let (_, about) = w.token("/oauth/introspect", &[("token", &access)]).await;
    assert_eq!(
        about,
        json!({ "active": false }),
        "the access token went with it"
    );
}

/// A plain member gets only what the organization granted, and cannot install or pick another one.
async fn a_member_signs_in_with_only_what_the_organization_granted(w: &OAuthWorld) {
    let stack = &w.stack;
    // A plain member signs in with what the organization granted (no more, whatever they tick),
    // and cannot install into an organization of theirs that has not installed the app, nor pick
    // one they do not belong to.
    stack.sign_up("bob@acme.test", "Bob").await;
    let initech = stack
        .create_organization(&w.alice, "Initech", "initech")
        .await;
    for organization in [&w.acme, &initech] {
        stack
            .add_member(&w.alice, organization, "bob@acme.test", "MEMBER")
            .await;
    }
    let (_, globex) = stack
        .owner_of("carol@globex.test", "Globex", "globex")
        .await;
    let mut bobs = Browser::new(stack);
    let (bobs_verifier, challenge) = pkce();
    let with_more = "openid users:read organizations:read";
    let login = bobs
        .get(&authorize_path(&w.app_id, &usual(&challenge, with_more)))
        .await;
    let signed_in = bobs.log_in(&login, "bob@acme.test", PASSWORD).await;
    let consent = bobs.follow(&signed_in).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(
        consent.body.contains("already installed"),
        "{}",
        consent.body
    );
    assert!(
        !consent.body.contains("Initech"),
        "not a choice for a member: {}",
        consent.body
    );
    for (organization, says) in [
        (&initech, "Only an owner or admin of Initech can install"),
        (&globex, "not a member"),
    ] {
        let refused = bobs
            .post(
                "/oauth/consent",
                &[
                    ("csrf", &consent.field("csrf")),
                    ("request", &consent.field("request")),
                    ("organization", organization),
                    ("decision", "approve"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.body.contains(says), "{says}: {}", refused.body);
    }
    let members_sign_in = bobs
        .post(
            "/oauth/consent",
            &[
                ("csrf", &consent.field("csrf")),
                ("request", &consent.field("request")),
                ("organization", &w.acme),
                ("scope", "organizations:read"),
                ("decision", "approve"),
            ],
        )
        .await;
    let (status, tokens) = w
        .redeem(
            &members_sign_in.param("code").expect("a code"),
            &bobs_verifier,
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        tokens["scope"], "openid users:read",
        "only what Acme granted"
    );
    assert_eq!(
        w.installations_of_acme().await[0]["grantedScopes"],
        json!(["users:read"])
    );
    assert_eq!(
        w.installations_of_acme().await.as_array().map(Vec::len),
        Some(1),
        "nothing installed into Initech"
    );
}

/// Alice's authorized apps list the app, and taking it back makes the next sign-in ask again.
async fn taking_an_authorization_back_asks_for_consent_again(
    w: &OAuthWorld,
    browser: &mut Browser,
    scope: &str,
) -> ConsentAgain {
    let stack = &w.stack;
    let listed = stack
        .data_as(
            &w.alice.access,
            "{ authorizedApps { nodes { app { id } organization { id } scopes } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["authorizedApps"]["nodes"][0]["app"]["id"],
        w.app_id.as_str(),
        "{listed}"
    );
    let (verifier, challenge) = pkce();
    let before = browser
        .get(&authorize_path(&w.app_id, &usual(&challenge, scope)))
        .await;
    let (_, tokens) = w
        .redeem(&before.param("code").expect("code"), &verifier)
        .await;
    let refresh_before = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let revoked = stack
        .data_as(
            &w.alice.access,
            "mutation($a: ID!) { revokeAppAuthorization(appId: $a) }",
            json!({ "a": w.app_id }),
        )
        .await;
    assert_eq!(revoked["revokeAppAuthorization"], 1);
    let (verifier, challenge) = pkce();
    let asks_again = browser
        .get(&authorize_path(&w.app_id, &usual(&challenge, scope)))
        .await;
    assert_eq!(
        asks_again.status,
        StatusCode::OK,
        "consent again: {}",
        asks_again.body
    );
    assert!(
        asks_again.body.contains("already installed"),
        "{}",
        asks_again.body
    );
    ConsentAgain {
        asks_again,
        verifier,
        refresh_before,
    }
}

/// Consenting again is a new authorization, and uninstalling ends the sign-ins made through it.
async fn uninstalling_ends_the_sign_ins_made_through_the_installation(
    w: &OAuthWorld,
    browser: &mut Browser,
    again: ConsentAgain,
) {
    let stack = &w.stack;
    let ConsentAgain {
        asks_again,
        verifier,
        refresh_before,
    } = again;
    // Uninstalling ends the sign-ins made through the installation.
    let approved = browser
        .post(
            "/oauth/consent",
            &[
                ("csrf", &asks_again.field("csrf")),
                ("request", &asks_again.field("request")),
                ("organization", &w.acme),
                ("decision", "approve"),
            ],
        )
        .await;
    let (_, tokens) = w
        .redeem(&approved.param("code").expect("code"), &verifier)
        .await;
    // Consenting again is a new authorization: what the revoked one issued stays revoked.
    refused(
        w.token(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_before),
            ],
        )
        .await,
        "invalid_grant",
    );
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let installation = w.installations_of_acme().await[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let uninstalled = stack
        .data_as(
            &w.alice.access,
            "mutation($i: ID!) { uninstallApp(installationId: $i) { status } }",
            json!({ "i": installation }),
        )
        .await;
    assert_eq!(uninstalled["uninstallApp"]["status"], "UNINSTALLED");
    refused(
        w.token(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await,
        "invalid_grant",
    );
}

/// Asserts an OAuth error answer (HTTP 400 and `error`); returns the body.
fn refused((status, body): (u16, Value), error: &str) -> Value {
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some(error)),
        "{body}"
    );
    body
}

/// A JWT's claims, unverified (the signature is the Python client's to check).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap_or_default())
        .unwrap_or(Value::Null)
}

/// `scripts/oauth_sign_in.py` as Alice, for the world's app with `secret` (`-`: a public
/// client); what the app learnt.
async fn sign_in_with_authlib(w: &OAuthWorld, secret: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/oauth_sign_in.py");
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(script)
        .arg(w.stack.stack.keys.issuer())
        .arg(&w.app_id)
        .arg(secret)
        .arg("alice@acme.test")
        .arg(PASSWORD);
    if let Ok(screenshot) = std::env::var("NEXUS_CONSENT_SCREENSHOT") {
        command.arg(screenshot);
    }
    let output = command.output().await.expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).expect("json")
}

/// The whole flow as a person and an app live it: Python's authlib is the app (discovery, PKCE,
/// nonce, code exchange, id_token checked against the JWKS, userinfo, refresh, revoke) and a
/// real headless Chromium is the person, who logs in and approves.
#[tokio::test]
async fn a_person_signs_in_with_a_real_browser_and_an_off_the_shelf_client() {
    if std::env::var("NEXUS_TEST_BROWSER").as_deref() != Ok("1") {
        println!(
            "skipped: set NEXUS_TEST_BROWSER=1 with Debian's chromium + chromium-driver and `pip install authlib requests selenium joserfc`"
        );
        return;
    }
    let w = world().await;
    let stack = &w.stack;
    let learnt = sign_in_with_authlib(&w, &w.secret).await;
    assert_eq!(learnt["sub"], w.alice.user_id.as_str(), "{learnt}");
    assert_eq!(learnt["org"], w.acme.as_str());
    assert_eq!(learnt["email"], "alice@acme.test");
    assert_eq!(learnt["name"], "alice");
    assert_eq!(learnt["userinfo"]["email"], "alice@acme.test");
    // The person approved in the browser: the app is installed with exactly what it asked for.
    let installed = w.installations_of_acme().await;
    assert_eq!(installed.as_array().map(Vec::len), Some(1), "{installed}");
    assert_eq!(installed[0]["grantedScopes"], json!(["users:read"]));
    // The script revoked the sign-in last: its newest access token no longer works.
    stack
        .eventually(
            learnt["access_token"].as_str().unwrap_or_default(),
            "{ __typename }",
            Duration::from_secs(5),
            |b| b["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED",
        )
        .await;
    w.stack.stop().await;
}

/// RFC 8693: an app trades the context token the router handed it for a user's call for an access
/// token acting for that user, within what the call carried; nothing else can be traded.
#[tokio::test]
async fn an_app_trades_a_context_token_for_a_users_access_token() {
    let w = world().await;
    let stack = &w.stack;
    stack.install(&w.alice, &w.app_id).await;
    let body = stack
        .eventually(
            &w.alice.access,
            "{ me { analyticsProfile { visits } } }",
            Duration::from_secs(10),
            |b| b["data"]["me"]["analyticsProfile"]["visits"] == 42,
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let context = w
        .app
        .entity_calls()
        .last()
        .and_then(|c| c.authorization.clone())
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .expect("the app got a context token");
    // The app's own context token: an access token acting for Alice in Acme, within users:read
    // — on the record, by the app, about Alice.
    let log = crate::common::AuditLog::open(stack).await;
    let mark = log.mark().await;
    let (status, token) = w.exchange(&w.app_id, &w.secret, &context, None).await;
    assert_eq!(status, 200, "{token}");
    let appended = log.since(mark).await;
    assert_eq!(crate::common::actions(&appended), ["oauth.token_exchanged"]);
    crate::common::assert_entry(
        &appended[0],
        "oauth.token_exchanged",
        ("app", Some(&w.app_id)),
        Some(&w.acme),
        Some(("user", &w.alice.user_id)),
    );
    assert_eq!(
        crate::common::details(&appended[0])["scopes"],
        json!(["users:read"])
    );
    assert_eq!(
        token["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(token["scope"], "users:read");
    assert!(token.get("refresh_token").is_none(), "{token}");
    let access = token["access_token"].as_str().unwrap_or_default();
    let data = stack
        .data_as(
            access,
            "query($id: ID!) { user(id: $id) { email } }",
            json!({ "id": w.alice.user_id }),
        )
        .await;
    assert_eq!(data["user"]["email"], "alice@acme.test", "{data}");
    // It reaches the app itself through the graph, but it is not Alice's own token.
    let data = stack
        .data_as(
            access,
            "query($id: ID!) { user(id: $id) { analyticsProfile { visits } } }",
            json!({ "id": w.alice.user_id }),
        )
        .await;
    assert_eq!(data["user"]["analyticsProfile"]["visits"], 42, "{data}");
    let body = stack.gql_as(access, "{ me { id } }", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    // The app's call made with that token cannot be exchanged again: that would renew the app's
    // access without the user.
    let again = w
        .app
        .entity_calls()
        .last()
        .and_then(|c| c.authorization.clone())
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .expect("a context token");
    assert_ne!(again, context);
    let body = refused(
        w.exchange(&w.app_id, &w.secret, &again, None).await,
        "invalid_grant",
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("exchanged again"),
        "{body}"
    );

    // More than the call carried, another app presenting it, or a token that is not a context
    // token: refused.
    refused(
        w.exchange(
            &w.app_id,
            &w.secret,
            &context,
            Some("users:read organizations:read"),
        )
        .await,
        "invalid_scope",
    );
    let other = crate::common::FakeApp::start(
        crate::common::analytics_sdl()
            .replace("analytics", "reports")
            .replace("Analytics", "Reports"),
    )
    .await;
    let (other_id, _) = stack
        .publish_app(
            &w.developer,
            &w.admin,
            &manifest("reports", &other.url(), &[]),
        )
        .await;
    let other_secret = stack.rotate_client_secret(&w.developer, &other_id).await;
    refused(
        w.exchange(&other_id, &other_secret, &context, None).await,
        "invalid_grant",
    );
    for not_context in [w.alice.access.as_str(), access] {
        refused(
            w.exchange(&w.app_id, &w.secret, not_context, None).await,
            "invalid_grant",
        );
    }
    w.stack.stop().await;
}

/// A code presented many times at once (PostgreSQL shows the race): one set of tokens, at most.
#[tokio::test]
async fn a_code_redeemed_many_times_at_once_gives_tokens_once() {
    let w = world().await;
    let mut browser = Browser::new(&w.stack);
    let (verifier, challenge) = pkce();
    let login = browser
        .get(&authorize_path(
            &w.app_id,
            &usual(&challenge, "openid users:read"),
        ))
        .await;
    let signed_in = browser.log_in(&login, "alice@acme.test", PASSWORD).await;
    let consent = browser.follow(&signed_in).await;
    let approved = browser
        .post(
            "/oauth/consent",
            &[
                ("csrf", &consent.field("csrf")),
                ("request", &consent.field("request")),
                ("organization", &w.acme),
                ("decision", "approve"),
            ],
        )
        .await;
    let code = approved.param("code").expect("code");
    // All at once from one task: the requests are in flight together, the server takes them in
    // parallel.
    let answers = futures::future::join_all((0..8).map(|_| w.redeem(&code, &verifier))).await;
    let mut granted = 0;
    for (status, body) in answers {
        match status {
            200 => granted += 1,
            400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(granted, 1, "exactly one redemption wins");
    let rows = w
        .stack
        .stack
        .db
        .query_one(sea_orm::Statement::from_string(
            w.stack.stack.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM oauth_grants",
        ))
        .await
        .expect("count")
        .and_then(|r| r.try_get::<i64>("", "n").ok());
    assert_eq!(rows, Some(1), "one grant recorded");
    let revoked = w
        .stack
        .stack
        .db
        .query_one(sea_orm::Statement::from_string(
            w.stack.stack.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM oauth_grants WHERE revoked_at IS NOT NULL",
        ))
        .await
        .expect("count")
        .and_then(|r| r.try_get::<i64>("", "n").ok());
    assert_eq!(rows, revoked, "a code presented twice revokes what it gave");
}

/// The Rust example app's "Sign in with Nexus", built on the `openidconnect` crate: discovery,
/// PKCE, nonce, the EdDSA id_token verified, `iss` checked; it shows who signed in and where.
#[tokio::test]
async fn the_example_app_signs_a_person_in_with_a_standard_oidc_library() {
    let w = world().await;
    let example = w
        .stack
        .start_example_app(Some((&w.app_id, &w.secret)))
        .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let start = http
        .get(format!("http://{example}/login"))
        .send()
        .await
        .expect("the example answers");
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let to_nexus =
        url::Url::parse(start.headers()[LOCATION].to_str().unwrap_or_default()).expect("a URL");
    let asked: std::collections::HashMap<String, String> =
        to_nexus.query_pairs().into_owned().collect();
    assert_eq!(asked["code_challenge_method"], "S256", "{to_nexus}");
    assert!(asked.contains_key("nonce"), "{to_nexus}");

    let mut browser = Browser::new(&w.stack);
    let login = browser
        .get(&format!(
            "{}?{}",
            to_nexus.path(),
            to_nexus.query().unwrap_or_default()
        ))
        .await;
    let signed_in = browser.log_in(&login, "alice@acme.test", PASSWORD).await;
    let consent = browser.follow(&signed_in).await;
    let approved = browser
        .post(
            "/oauth/consent",
            &[
                ("csrf", &consent.field("csrf")),
                ("request", &consent.field("request")),
                ("organization", &w.acme),
                ("decision", "approve"),
            ],
        )
        .await;
    let back = approved.location();
    assert_eq!(back.host_str(), Some("127.0.0.1"));
    assert_eq!(back.port(), Some(example.port()), "{back}");
    let page = http.get(back.as_str()).send().await.expect("callback");
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap_or_default();
    for shown in [
        "Signed in with Nexus",
        "alice@acme.test",
        w.alice.user_id.as_str(),
        w.acme.as_str(),
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    // The same answer again (a replayed callback) signs nobody in.
    let replayed = http.get(back.as_str()).send().await.expect("callback");
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    w.stack.stop().await;
}

#[tokio::test]
async fn the_sign_in_page_asks_for_the_second_factor_and_the_apps_tokens_carry_it() {
    use crate::two_factor::{challenge, claims, turn_on_two_factor, verify};
    let w = world().await;
    let stack = &w.stack;
    stack.sign_up("bob@acme.test", "Bob").await;
    stack
        .add_member(&w.alice, &w.acme, "bob@acme.test", "ADMIN")
        .await;
    // Alice turns two-factor sign-in on and requires it in Acme.
    let (_, recovery) = turn_on_two_factor(stack, &w.alice).await;
    let pending = challenge(stack, "alice@acme.test").await;
    let alice = verify(stack, &pending, &recovery[0]).await;
    let alice = alice["data"]["verifySecondFactor"]["accessToken"]
        .as_str()
        .expect("signed in")
        .to_owned();
    stack
        .data_as(
            &alice,
            "mutation($o: ID!) { requireTwoFactor(organizationId: $o, required: true) { id } }",
            json!({ "o": w.acme }),
        )
        .await;
    let (verifier, pkce_challenge) = pkce();
    let scope = "openid email users:read";
    let authorize = authorize_path(&w.app_id, &usual(&pkce_challenge, scope));

    // Bob (an admin, no second factor) signs in with his password alone: Acme is not offered,
    // and choosing it anyway installs nothing.
    let mut bob = Browser::new(stack);
    let login = bob.get(&authorize).await;
    let signed_in = bob.log_in(&login, "bob@acme.test", PASSWORD).await;
    let consent = bob.follow(&signed_in).await;
    assert!(!consent.body.contains("Acme"), "{}", consent.body);
    let forced = bob
        .post(
            "/oauth/consent",
            &[
                ("csrf", &consent.field("csrf")),
                ("request", &consent.field("request")),
                ("organization", &w.acme),
                ("scope", "users:read"),
                ("decision", "approve"),
            ],
        )
        .await;
    assert!(
        forced.body.contains("requires two-factor sign-in"),
        "{}: {}",
        forced.status,
        forced.body
    );
    // (Alice's first token had no second factor: Acme refuses it now. Her new one reads.)
    let installed = stack
        .data_as(
            &alice,
            "query($o: ID!) { organization(id: $o) { installations { nodes { id } } } }",
            json!({ "o": w.acme }),
        )
        .await;
    assert_eq!(
        installed["organization"]["installations"]["nodes"],
        json!([])
    );

    // Alice's password opens a second step; a wrong code asks again; a recovery code passes.
    let mut browser = Browser::new(stack);
    let login = browser.get(&authorize).await;
    let second = browser.log_in(&login, "alice@acme.test", PASSWORD).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert!(
        second.body.contains("Two-factor sign-in"),
        "{}",
        second.body
    );
    let code_form = |page: &Answer, code: &str| {
        vec![
            ("csrf".to_owned(), page.field("csrf")),
            ("request".to_owned(), page.field("request")),
            ("challenge".to_owned(), page.field("challenge")),
            ("email".to_owned(), "alice@acme.test".to_owned()),
            ("code".to_owned(), code.to_owned()),
        ]
    };
    let form = code_form(&second, "000000");
    let pairs: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let wrong = browser.post("/oauth/login", &pairs).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(wrong.body.contains("name=\"code\""), "{}", wrong.body);
    let form = code_form(&wrong, &recovery[1]);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let passed = browser.post("/oauth/login", &pairs).await;
    assert_eq!(passed.status, StatusCode::SEE_OTHER, "{}", passed.body);
    let consent = browser.follow(&passed).await;
    assert!(consent.body.contains("Acme"), "{}", consent.body);
    let approved = browser
        .post(
            "/oauth/consent",
            &[
                ("csrf", &consent.field("csrf")),
                ("request", &consent.field("request")),
                ("organization", &w.acme),
                ("scope", "users:read"),
                ("decision", "approve"),
            ],
        )
        .await;
    let code = approved.param("code").expect("a code");
    let (status, tokens) = w.redeem(&code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap_or_default();
    assert_eq!(claims(access)["amr"], json!(["pwd", "otp", "mfa"]));
    // The app acts for Alice in Acme, which requires the second factor she gave.
    let data = stack
        .gql_as(
            access,
            "query($id: ID!) { user(id: $id) { email } }",
            json!({ "id": w.alice.user_id }),
        )
        .await;
    assert_eq!(data["data"]["user"]["email"], "alice@acme.test", "{data}");
    w.stack.stop().await;
}

/// Fails today's main: a reset or a change of password ended identity's sessions only — the
/// OAuth browser session (12 hours) kept signing in, and the grants with their 30-day refresh
/// tokens kept working.
#[tokio::test]
async fn a_password_reset_or_change_signs_the_browser_out_and_ends_the_apps_grants() {
    let w = world().await;
    let mut browser = Browser::new(&w.stack);
    let scope = "openid offline_access users:read";
    // Alice signs in on the OAuth page, consents, and the app gets a refresh token.
    let (verifier, challenge) = pkce();
    let path = authorize_path(&w.app_id, &usual(&challenge, scope));
    let login = browser.get(&path).await;
    assert!(login.body.contains("Sign in to Nexus"), "{}", login.body);
    let signed_in = browser.log_in(&login, "alice@acme.test", PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let consent = browser.get(&path).await;
    let approved = browser.approve(&consent, &w.acme, &[]).await;
    let code = approved.param("code").expect("a code");
    let (status, tokens) = w.redeem(&code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = |token: String| {
        let w = &w;
        async move {
            w.token(
                "/oauth/token",
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };
    let (status, rotated) =
        refresh(tokens["refresh_token"].as_str().unwrap_or_default().into()).await;
    assert_eq!(status, 200, "{rotated}");
    let held = rotated["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // The consent is remembered: the same browser gets a code at once.
    let (_, challenge) = pkce();
    let again = browser
        .get(&authorize_path(&w.app_id, &usual(&challenge, scope)))
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);

    // Someone resets Alice's password through her mail.
    w.stack
        .post(
            "mutation { requestPasswordReset(email: \"alice@acme.test\") }",
            json!({}),
        )
        .await;
    let token = w
        .stack
        .mailed_token("alice@acme.test", "reset-password")
        .await;
    let reset = w
        .stack
        .data(
            "mutation($t: String!) { resetPassword(input: {token: $t, newPassword: \"a new passphrase 7\"}) }",
            json!({ "t": token }),
        )
        .await;
    assert_eq!(reset["resetPassword"], true, "{reset}");

    // The browser is signed out: the sign-in page, not a code.
    let (_, challenge) = pkce();
    let signed_out = browser
        .get(&authorize_path(&w.app_id, &usual(&challenge, scope)))
        .await;
    assert_eq!(
        signed_out.status,
        StatusCode::OK,
        "{:?}",
        signed_out.headers
    );
    assert!(
        signed_out.body.contains("Sign in to Nexus"),
        "{}",
        signed_out.body
    );
    // The grant signed in before is revoked (within the fan-out's second or so): its refresh
    // token is refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut held = held;
    loop {
        let (status, body) = refresh(held.clone()).await;
        if status == 400 {
            assert_eq!(body["error"], "invalid_grant", "{body}");
            break;
        }
        assert_eq!(status, 200, "{body}");
        held = body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            std::time::Instant::now() < deadline,
            "the grant outlived the reset"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Signing in again with the new password makes a new grant, which lives on.
    let (verifier, challenge) = pkce();
    let path = authorize_path(&w.app_id, &usual(&challenge, scope));
    let login = browser.get(&path).await;
    let signed_in = browser
        .log_in(&login, "alice@acme.test", "a new passphrase 7")
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let coded = browser.get(&path).await;
    let code = coded
        .param("code")
        .expect("a code (the consent is remembered)");
    let (status, tokens) = w.redeem(&code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let fresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // A change of password (from an API session) ends it the same way; that session stays.
    let alice = w
        .stack
        .data(
            "mutation { logIn(input: {email: \"alice@acme.test\", password: \"a new passphrase 7\"}) { accessToken } }",
            json!({}),
        )
        .await["logIn"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let changed = w
        .stack
        .gql_as(
            &alice,
            "mutation { changePassword(input: {currentPassword: \"a new passphrase 7\", newPassword: \"another passphrase 8\"}) }",
            json!({}),
        )
        .await;
    assert!(changed["errors"].is_null(), "{changed}");
    let (_, challenge) = pkce();
    let signed_out = browser
        .get(&authorize_path(&w.app_id, &usual(&challenge, scope)))
        .await;
    assert!(
        signed_out.body.contains("Sign in to Nexus"),
        "{}",
        signed_out.body
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut held = fresh;
    loop {
        let (status, body) = refresh(held.clone()).await;
        if status == 400 {
            break;
        }
        held = body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            std::time::Instant::now() < deadline,
            "the grant outlived the change"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let me = w.stack.data_as(&alice, "{ me { email } }", json!({})).await;
    assert_eq!(me["me"]["email"], "alice@acme.test");
    w.stack.stop().await;
}

/// A form to an OAuth endpoint from a client that names itself and holds no secret.
async fn as_public_client(w: &OAuthWorld, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut form = form.to_vec();
    form.push(("client_id", &w.app_id));
    let response = w
        .stack
        .client
        .post(format!("{}{path}", w.stack.stack.keys.issuer()))
        .form(&form)
        .send()
        .await
        .expect("the OAuth endpoint answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// RFC 8252 / RFC 9700: an app whose manifest says `token_endpoint_auth_method: none` redeems
/// sign-ins with its `client_id` alone — PKCE binds the code, refresh tokens rotate and a reused
/// one ends the sign-in — and nothing else; consent is asked again for a loopback redirect (any
/// program on the device could be listening there). A confidential app still needs its secret.
/// Fails on the previous main, where a client without a secret was malformed.
#[tokio::test]
async fn a_public_client_redeems_sign_ins_without_a_secret_and_nothing_else() {
    // A confidential app naming itself without its secret: not authenticated.
    let confidential = world().await;
    let (status, body) = as_public_client(
        &confidential,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    confidential.stack.stop().await;

    let w = world_with(json!({
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
    }))
    .await;
    let mut browser = Browser::new(&w.stack);
    let (_, challenge) = pkce();
    let login = browser
        .get(&authorize_path(
            &w.app_id,
            &usual(&challenge, "openid offline_access users:read"),
        ))
        .await;
    let signed_in = browser.log_in(&login, "alice@acme.test", PASSWORD).await;
    let consent = browser.follow(&signed_in).await;
    let approved = browser.approve(&consent, &w.acme, &[]).await;
    let code = approved.param("code").expect("code");
    let redeem = |verifier: String| {
        let code = code.clone();
        let w = &w;
        async move {
            as_public_client(
                w,
                "/oauth/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &verifier),
                ],
            )
            .await
        }
    };
    // The verifier is what proves a public client: without it the code is worth nothing (and a
    // code presented wrongly is spent).
    refused(redeem(pkce().0).await, "invalid_grant");
    let (verifier, challenge) = pkce();
    let login = browser
        .get(&authorize_path(
            &w.app_id,
            &usual(&challenge, "openid offline_access users:read"),
        ))
        .await;
    // Standing consent, but a loopback redirect: asked again, not answered with a code.
    assert!(
        login.body.contains("wants to access your Nexus account"),
        "{}",
        login.body
    );
    let approved = browser.approve(&login, &w.acme, &[]).await;
    let code = approved.param("code").expect("code");
    let (status, tokens) = as_public_client(
        &w,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let first = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap_or_default())["aud"],
        w.app_id.as_str()
    );

    // Refresh tokens rotate; presenting a used one ends the sign-in, the newest token with it.
    let (status, refreshed) = as_public_client(
        &w,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let second = refreshed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(first, second);
    refused(
        as_public_client(
            &w,
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await,
        "invalid_grant",
    );
    refused(
        as_public_client(
            &w,
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &second)],
        )
        .await,
        "invalid_grant",
    );

    // Nothing that needs the app's secret.
    let (status, body) = as_public_client(
        &w,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("installation_id", &w.acme),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
    let (status, body) = as_public_client(
        &w,
        "/oauth/token",
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", "x"),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
    let (status, body) = as_public_client(&w, "/oauth/introspect", &[("token", &second)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    // It may revoke its own sign-ins.
    let (status, _) = as_public_client(&w, "/oauth/revoke", &[("token", &second)]).await;
    assert_eq!(status, 200);
    // Discovery says so.
    let meta: Value = w
        .stack
        .client
        .get(format!(
            "{}/.well-known/openid-configuration",
            w.stack.stack.keys.issuer()
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    w.stack.stop().await;
}

/// A native app as the person meets it: authlib as a public client (no secret, PKCE) and a
/// real headless Chromium, through sign-in, consent, the code, refresh and revocation.
#[tokio::test]
async fn a_native_app_signs_in_as_a_public_client_with_a_real_browser() {
    if std::env::var("NEXUS_TEST_BROWSER").as_deref() != Ok("1") {
        println!("skipped: set NEXUS_TEST_BROWSER=1 (see the test above)");
        return;
    }
    let w = world_with(json!({
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
    }))
    .await;
    let learnt = sign_in_with_authlib(&w, "-").await;
    assert_eq!(learnt["sub"], w.alice.user_id.as_str(), "{learnt}");
    assert_eq!(learnt["public"], true, "{learnt}");
    w.stack.stop().await;
}
