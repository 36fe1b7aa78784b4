//! Accounts people can trust: addresses proven by mail, invitations only a proven address can
//! accept (so registering someone's address first gets an attacker nothing), password resets
//! that tell nobody whether an account exists. Letters are read from the stack's mail folder, and
//! once through a real SMTP server on loopback (Python's aiosmtpd).

use std::time::Duration;

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestStack, unquote};

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

async fn verified(stack: &TestStack, token: &str) -> bool {
    stack
        .data_as(token, "{ me { emailVerified } }", json!({}))
        .await["me"]["emailVerified"]
        == true
}

#[tokio::test]
async fn an_address_is_proven_by_its_letter_once_and_in_time() {
    let stack = TestStack::start().await;
    let ada = stack.sign_up("ada@acme.test", "Ada").await;
    assert!(!verified(&stack, &ada.access).await);
    let letter = stack.letters_to("ada@acme.test").pop().expect("a letter");
    assert!(
        letter
            .raw
            .contains("Subject: Confirm your email address for Nexus"),
        "{}",
        letter.raw
    );
    assert!(
        letter.raw.contains("text/plain") && letter.raw.contains("text/html"),
        "both forms"
    );
    let first = letter.token("verify-email").expect("a link");

    // Asking again sends a new link; the first one dies.
    let resent = stack
        .gql_as(&ada.access, "mutation { resendVerification }", json!({}))
        .await;
    assert_eq!(resent["data"]["resendVerification"], true, "{resent}");
    let second = stack.mailed_token("ada@acme.test", "verify-email").await;
    assert_ne!(first, second);
    let verify = "mutation($t: String!) { verifyEmail(token: $t) { emailVerified } }";
    let body = stack
        .gql_as(&ada.access, verify, json!({ "t": first }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = stack
        .gql_as(&ada.access, verify, json!({ "t": second }))
        .await;
    assert_eq!(body["data"]["verifyEmail"]["emailVerified"], true, "{body}");
    assert!(verified(&stack, &ada.access).await);
    // Once only; and a verified address is not verified again.
    let body = stack
        .gql_as(&ada.access, verify, json!({ "t": second }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = stack
        .gql_as(&ada.access, "mutation { resendVerification }", json!({}))
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");

    // A link past its 24 hours does nothing.
    let bob = stack.sign_up("bob@acme.test", "Bob").await;
    let token = stack.mailed_token("bob@acme.test", "verify-email").await;
    stack
        .stack
        .db
        .execute_unprepared("UPDATE email_tokens SET expires_at = created_at WHERE used_at IS NULL")
        .await
        .expect("age the token");
    let body = stack
        .gql_as(&bob.access, verify, json!({ "t": token }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(!verified(&stack, &bob.access).await);

    // A new address takes effect only once it is proven; the password confirms the change.
    let change =
        "mutation($e: String!, $p: String!) { changeEmail(input: {newEmail: $e, password: $p}) }";
    let body = stack
        .gql_as(
            &ada.access,
            change,
            json!({ "e": "ada@new.test", "p": "wrong password 1" }),
        )
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let body = stack
        .gql_as(
            &ada.access,
            change,
            json!({ "e": "bob@acme.test", "p": PASSWORD }),
        )
        .await;
    assert_eq!(code(&body), "CONFLICT", "someone's address: {body}");
    let body = stack
        .gql_as(
            &ada.access,
            change,
            json!({ "e": "ada@new.test", "p": PASSWORD }),
        )
        .await;
    assert_eq!(body["data"]["changeEmail"], true, "{body}");
    let me = stack
        .data_as(&ada.access, "{ me { email } }", json!({}))
        .await;
    assert_eq!(me["me"]["email"], "ada@acme.test", "not yet");
    let token = stack.mailed_token("ada@new.test", "verify-email").await;
    let body = stack
        .gql_as(&ada.access, verify, json!({ "t": token }))
        .await;
    assert_eq!(body["data"]["verifyEmail"]["emailVerified"], true, "{body}");
    let me = stack
        .data_as(&ada.access, "{ me { email } }", json!({}))
        .await;
    assert_eq!(me["me"]["email"], "ada@new.test", "switched");
    stack.stop().await;
}

#[tokio::test]
async fn an_invitation_is_accepted_only_by_the_proven_owner_of_its_address() {
    let stack = TestStack::start().await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    // Eve registers the new hire's address before they do; she cannot read their mail.
    let eve = stack.sign_up("new.hire@acme.test", "Eve").await;
    let invite = "mutation($o: ID!, $e: String!, $r: Role!) { inviteMember(input: {organizationId: $o, email: $e, role: $r}) { id email role } }";
    let invited = stack
        .data_as(
            &ada.access,
            invite,
            json!({ "o": acme, "e": "New.Hire@acme.test", "r": "ADMIN" }),
        )
        .await;
    assert_eq!(
        invited["inviteMember"]["email"], "new.hire@acme.test",
        "{invited}"
    );
    let letter = stack
        .letters_to("new.hire@acme.test")
        .into_iter()
        .rev()
        .find(|l| l.token("invitation").is_some())
        .expect("an invitation letter");
    assert!(
        letter.raw.contains("Subject: Join \"Acme\" on Nexus"),
        "{}",
        letter.raw
    );
    // Eve can see the token only if she can read the mailbox; even with it, she is refused.
    let token = letter.token("invitation").unwrap_or_default();
    let accept = "mutation($t: String!) { acceptInvitation(token: $t) { id role } }";
    let body = stack
        .gql_as(&eve.access, accept, json!({ "t": token }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("confirm your email")
    );
    // Someone else, proven, with another address: refused too.
    let mallory = stack.sign_up("mallory@evil.test", "Mallory").await;
    let proof = stack
        .mailed_token("mallory@evil.test", "verify-email")
        .await;
    stack
        .gql_as(
            &mallory.access,
            "mutation($t: String!) { verifyEmail(token: $t) { id } }",
            json!({ "t": proof }),
        )
        .await;
    let body = stack
        .gql_as(&mallory.access, accept, json!({ "t": token }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    // Admins see it pending; members may not invite.
    let pending = stack
        .data_as(
            &ada.access,
            "query($o: ID!) { organization(id: $o) { pendingInvitations { nodes { email role } } } }",
            json!({ "o": acme }),
        )
        .await;
    assert_eq!(
        pending["organization"]["pendingInvitations"]["nodes"],
        json!([{ "email": "new.hire@acme.test", "role": "ADMIN" }])
    );

    // The real new hire recovers the address through its mailbox: a reset proves it, and ends
    // Eve's sessions.
    let asked = stack
        .post(
            "mutation { requestPasswordReset(email: \"new.hire@acme.test\") }",
            json!({}),
        )
        .await
        .1;
    assert_eq!(asked["data"]["requestPasswordReset"], true);
    let reset = stack
        .mailed_token("new.hire@acme.test", "reset-password")
        .await;
    let body = stack
        .post(
            "mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, newPassword: $p}) }",
            json!({ "t": reset, "p": "the real hire 2026" }),
        )
        .await
        .1;
    assert_eq!(body["data"]["resetPassword"], true, "{body}");
    let refresh = stack
        .post(
            "mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }",
            json!({ "r": eve.refresh }),
        )
        .await
        .1;
    assert_eq!(
        code(&refresh),
        "UNAUTHENTICATED",
        "Eve's session ended: {refresh}"
    );
    let hire = stack
        .data(
            "mutation { logIn(input: {email: \"new.hire@acme.test\", password: \"the real hire 2026\"}) { accessToken } }",
            json!({}),
        )
        .await;
    let hire = hire["logIn"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let joined = stack.data_as(&hire, accept, json!({ "t": token })).await;
    assert_eq!(joined["acceptInvitation"]["role"], "ADMIN", "{joined}");
    // Once only.
    let body = stack.gql_as(&hire, accept, json!({ "t": token })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    // Revoked and expired invitations are refused; inviting a member is a conflict.
    let body = stack
        .gql_as(
            &ada.access,
            invite,
            json!({ "o": acme, "e": "new.hire@acme.test", "r": "MEMBER" }),
        )
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    let second = stack
        .data_as(
            &ada.access,
            invite,
            json!({ "o": acme, "e": "mallory@evil.test", "r": "MEMBER" }),
        )
        .await;
    let revoked = stack
        .data_as(
            &ada.access,
            "mutation($i: ID!) { revokeInvitation(id: $i) { id } }",
            json!({ "i": second["inviteMember"]["id"] }),
        )
        .await;
    assert!(revoked["revokeInvitation"]["id"].is_string(), "{revoked}");
    let token = stack.mailed_token("mallory@evil.test", "invitation").await;
    let body = stack
        .gql_as(&mallory.access, accept, json!({ "t": token }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "revoked: {body}");
    stack
        .data_as(
            &ada.access,
            invite,
            json!({ "o": acme, "e": "mallory@evil.test", "r": "MEMBER" }),
        )
        .await;
    let token = stack.mailed_token("mallory@evil.test", "invitation").await;
    stack
        .stack
        .db
        .execute_unprepared("UPDATE invitations SET expires_at = created_at WHERE accepted_at IS NULL AND revoked_at IS NULL")
        .await
        .expect("age the invitation");
    let body = stack
        .gql_as(&mallory.access, accept, json!({ "t": token }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "expired: {body}");
    stack.stop().await;
}

#[tokio::test]
async fn a_password_reset_reveals_nothing_works_once_and_signs_out_everywhere() {
    let stack = TestStack::start().await;
    let ada = stack.sign_up("ada@acme.test", "Ada").await;
    let ask = "mutation($e: String!) { requestPasswordReset(email: $e) }";
    // The same answer for an unknown address; no letter goes anywhere.
    for email in ["nobody@acme.test", "ada@acme.test"] {
        let (status, body) = stack.post(ask, json!({ "e": email })).await;
        assert_eq!(
            (status, &body["data"]),
            (200, &json!({ "requestPasswordReset": true }))
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(stack.letters_to("nobody@acme.test").is_empty());
    let token = stack.mailed_token("ada@acme.test", "reset-password").await;
    let reset =
        "mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, newPassword: $p}) }";
    // A weak password is refused and the link still works.
    let body = stack
        .post(reset, json!({ "t": token, "p": "short" }))
        .await
        .1;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = stack
        .post(reset, json!({ "t": token, "p": "a new passphrase 7" }))
        .await
        .1;
    assert_eq!(body["data"]["resetPassword"], true, "{body}");
    let body = stack
        .post(reset, json!({ "t": token, "p": "another one 8 !" }))
        .await
        .1;
    assert_eq!(code(&body), "BAD_USER_INPUT", "once only: {body}");
    // The old password and the old sessions are gone; the new password works.
    let log_in = "mutation($p: String!) { logIn(input: {email: \"ada@acme.test\", password: $p}) { accessToken } }";
    let body = stack.post(log_in, json!({ "p": PASSWORD })).await.1;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let body = stack
        .post(log_in, json!({ "p": "a new passphrase 7" }))
        .await
        .1;
    assert!(body["data"]["logIn"]["accessToken"].is_string(), "{body}");
    let body = stack
        .post(
            "mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }",
            json!({ "r": ada.refresh }),
        )
        .await
        .1;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    // A link past its hour does nothing.
    stack.post(ask, json!({ "e": "ada@acme.test" })).await;
    let late = stack.mailed_token("ada@acme.test", "reset-password").await;
    stack
        .stack
        .db
        .execute_unprepared("UPDATE email_tokens SET expires_at = created_at WHERE used_at IS NULL")
        .await
        .expect("age the token");
    let body = stack
        .post(reset, json!({ "t": late, "p": "a third passphrase 9" }))
        .await
        .1;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // Asking again and again for one address is limited, for known and unknown alike.
    let mut limited = 0;
    for _ in 0..8 {
        let body = stack.post(ask, json!({ "e": "nobody@acme.test" })).await.1;
        if code(&body) == "RATE_LIMITED" {
            limited += 1;
        }
    }
    assert!(limited >= 3, "{limited}");
    stack.stop().await;
}

/// Letters through a real SMTP server on loopback: Python's aiosmtpd, saving to a maildir.
#[tokio::test]
async fn letters_go_through_a_real_smtp_server() {
    if std::env::var("NEXUS_TEST_SMTP").as_deref() != Ok("1") {
        println!("skipped: set NEXUS_TEST_SMTP=1 with `pip install aiosmtpd`");
        return;
    }
    let maildir = tempfile::tempdir().expect("maildir");
    for folder in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.path().join(folder)).expect("maildir folders");
    }
    let port = crate::common::free_port();
    let mut server = tokio::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path())
        .kill_on_drop(true)
        .spawn()
        .expect("aiosmtpd starts");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stack = TestStack::start_configured(|config, _| {
        config.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        config.mail.from = "Acme Platform <platform@acme.test>".to_owned();
    })
    .await;
    stack.sign_up("ada@acme.test", "Ada").await;
    let mut letters = Vec::new();
    for _ in 0..50 {
        letters = std::fs::read_dir(maildir.path().join("new"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .map(|raw| unquote(&raw))
                    .collect()
            })
            .unwrap_or_default();
        if !letters.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(letters.len(), 1, "one letter");
    let letter = &letters[0];
    for part in [
        "To: ada@acme.test",
        "From: \"Acme Platform\" <platform@acme.test>",
        "Confirm your email address for Nexus",
        "/account/verify-email?token=",
    ] {
        assert!(letter.contains(part), "{part}: {letter}");
    }
    assert!(
        stack.letters_to("ada@acme.test").is_empty(),
        "nothing in the folder with SMTP configured"
    );
    stack.stop().await;
    let _ = server.kill().await;
}

/// The pages letters link to: opening a link changes nothing (mail scanners open links), the
/// page's button does; no script needed.
#[tokio::test]
async fn the_pages_letters_link_to_confirm_reset_and_explain() {
    let stack = TestStack::start().await;
    let ada = stack.sign_up("ada@acme.test", "Ada").await;
    let base = stack.stack.keys.issuer().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let token = stack.mailed_token("ada@acme.test", "verify-email").await;
    let opened = http
        .get(format!("{base}/account/verify-email?token={token}"))
        .send()
        .await
        .expect("page");
    assert_eq!(opened.status(), 200);
    assert!(
        opened.headers()["content-security-policy"]
            .to_str()
            .unwrap_or_default()
            .contains("frame-ancestors 'none'")
    );
    let html = opened.text().await.unwrap_or_default();
    assert!(html.contains("Confirm my address"), "{html}");
    assert!(
        !verified(&stack, &ada.access).await,
        "opening the link changed nothing"
    );
    // Someone who registered Ada's address cannot have her prove it for them: the page asks for
    // the account's own credentials, and another account's are refused.
    stack.sign_up("victim@acme.test", "Victim").await;
    let confirm = |email: &'static str, password: &'static str| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            http.post(format!("{base}/account/verify-email"))
                .form(&[
                    ("token", token.as_str()),
                    ("email", email),
                    ("password", password),
                ])
                .send()
                .await
                .expect("post")
        }
    };
    let refused = confirm("victim@acme.test", PASSWORD).await;
    assert_eq!(refused.status(), 400);
    let html = refused.text().await.unwrap_or_default();
    assert!(html.contains("another account"), "{html}");
    let refused = confirm("ada@acme.test", "not her password 1").await;
    assert_eq!(refused.status(), 401);
    assert!(!verified(&stack, &ada.access).await);
    let confirmed = confirm("ada@acme.test", PASSWORD).await;
    assert_eq!(confirmed.status(), 200);
    let html = confirmed.text().await.unwrap_or_default();
    assert!(
        html.contains("Address confirmed") && html.contains("ada@acme.test"),
        "{html}"
    );
    assert!(verified(&stack, &ada.access).await);
    let again = confirm("ada@acme.test", PASSWORD).await;
    assert_eq!(again.status(), 400, "once only");

    stack
        .post(
            "mutation { requestPasswordReset(email: \"ada@acme.test\") }",
            json!({}),
        )
        .await;
    let token = stack.mailed_token("ada@acme.test", "reset-password").await;
    let weak = http
        .post(format!("{base}/account/reset-password"))
        .form(&[("token", token.as_str()), ("password", "short")])
        .send()
        .await
        .expect("post");
    assert_eq!(weak.status(), 400);
    assert!(
        weak.text()
            .await
            .unwrap_or_default()
            .contains("New password"),
        "the form again"
    );
    let done = http
        .post(format!("{base}/account/reset-password"))
        .form(&[
            ("token", token.as_str()),
            ("password", "a page passphrase 3"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(done.status(), 200);
    let body = stack
        .post(
            "mutation { logIn(input: {email: \"ada@acme.test\", password: \"a page passphrase 3\"}) { accessToken } }",
            json!({}),
        )
        .await
        .1;
    assert!(body["data"]["logIn"]["accessToken"].is_string(), "{body}");

    let (owner, acme) = stack.owner_of("owner@acme.test", "Acme", "acme").await;
    stack
        .data_as(
            &owner.access,
            "mutation($o: ID!) { inviteMember(input: {organizationId: $o, email: \"kim@acme.test\", role: MEMBER}) { id } }",
            json!({ "o": acme }),
        )
        .await;
    let token = stack.mailed_token("kim@acme.test", "invitation").await;
    let page = http
        .get(format!("{base}/account/invitation?token={token}"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(
        html.contains("Join Acme on Nexus") && html.contains("kim@acme.test"),
        "{html}"
    );
    let bogus = http
        .get(format!("{base}/account/invitation?token=nope"))
        .send()
        .await
        .expect("page");
    assert_eq!(bogus.status(), 400);
    stack.stop().await;
}

/// Signs in as `email` with `user_agent`; returns (access token, refresh token).
async fn log_in_from(stack: &TestStack, email: &str, user_agent: &str) -> (String, String) {
    let body: Value = stack
        .client
        .post(stack.stack.graphql_url())
        .header("user-agent", user_agent)
        .json(&json!({
            "query": "mutation($e: String!, $p: String!) { logIn(input: {email: $e, password: $p}) { accessToken refreshToken } }",
            "variables": { "e": email, "p": PASSWORD },
        }))
        .send()
        .await
        .expect("log in")
        .json()
        .await
        .expect("json");
    let login = &body["data"]["logIn"];
    (
        login["accessToken"].as_str().unwrap_or_default().to_owned(),
        login["refreshToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn refreshes(stack: &TestStack, refresh: &str) -> bool {
    stack
        .post(
            "mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }",
            json!({ "r": refresh }),
        )
        .await
        .1["data"]["refreshSession"]["accessToken"]
        .is_string()
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one_or_all_but_this_one() {
    let stack = TestStack::start().await;
    let first = stack.sign_up("ada@acme.test", "Ada").await;
    let (laptop, laptop_refresh) =
        log_in_from(&stack, "ada@acme.test", "Firefox/140 (laptop)").await;
    let (_, phone_refresh) = log_in_from(&stack, "ada@acme.test", "NexusPhone/2.1").await;
    let list = "{ mySessions { nodes { id userAgent address current signedInAt lastUsedAt } } }";
    let sessions = stack.data_as(&laptop, list, json!({})).await["mySessions"]["nodes"].clone();
    let sessions = sessions.as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    let by_agent = |agent: &str| {
        sessions
            .iter()
            .find(|s| s["userAgent"] == agent)
            .cloned()
            .unwrap_or_else(|| panic!("no {agent}: {sessions:?}"))
    };
    let (this, phone) = (by_agent("Firefox/140 (laptop)"), by_agent("NexusPhone/2.1"));
    assert_eq!(this["current"], true);
    assert_eq!(phone["current"], false);
    assert_eq!(phone["address"], "127.0.0.1");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    // One session signed out: its refresh token stops, the others go on. Someone else's
    // session is not yours to end.
    let revoke = "mutation($s: ID!) { revokeSession(id: $s) }";
    let bob = stack.sign_up("bob@acme.test", "Bob").await;
    let body = stack
        .gql_as(&bob.access, revoke, json!({ "s": phone["id"] }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{body}"
    );
    let body = stack
        .data_as(&laptop, revoke, json!({ "s": phone["id"] }))
        .await;
    assert_eq!(body["revokeSession"], true);
    assert!(
        !refreshes(&stack, &phone_refresh).await,
        "the phone is signed out"
    );

    // A password change ends every other session, not this one.
    let change = "mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) }";
    let body = stack
        .gql_as(
            &laptop,
            change,
            json!({ "c": "not it 12345", "n": "a fresh passphrase 4" }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );
    let body = stack
        .gql_as(&laptop, change, json!({ "c": PASSWORD, "n": "short" }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    let body = stack
        .data_as(
            &laptop,
            change,
            json!({ "c": PASSWORD, "n": "a fresh passphrase 4" }),
        )
        .await;
    assert_eq!(body["changePassword"], true);
    assert!(
        !refreshes(&stack, &first.refresh).await,
        "the sign-up session ended"
    );
    let left = stack.data_as(&laptop, list, json!({})).await["mySessions"]["nodes"].clone();
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left[0]["current"], true);
    assert!(
        refreshes(&stack, &laptop_refresh).await,
        "this session goes on"
    );
    stack.stop().await;
}

/// What a would-be hijacker tries after losing an account back: a change of address they started,
/// a reset link sent to an address the account left, an invitation from someone removed since.
#[tokio::test]
async fn links_and_invitations_do_not_outlive_what_made_them() {
    let stack = TestStack::start().await;
    // Eve registered the victim's address and asked to move the account to hers.
    let eve = stack.sign_up("victim@acme.test", "Eve").await;
    let change =
        "mutation($e: String!, $p: String!) { changeEmail(input: {newEmail: $e, password: $p}) }";
    stack
        .data_as(
            &eve.access,
            change,
            json!({ "e": "eve@evil.test", "p": PASSWORD }),
        )
        .await;
    let pending = stack.mailed_token("eve@evil.test", "verify-email").await;
    // The victim takes the account back by a password reset: Eve's pending change dies with it.
    stack
        .post(
            "mutation { requestPasswordReset(email: \"victim@acme.test\") }",
            json!({}),
        )
        .await;
    let reset = stack
        .mailed_token("victim@acme.test", "reset-password")
        .await;
    let reset_it =
        "mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, newPassword: $p}) }";
    let body = stack
        .post(reset_it, json!({ "t": reset, "p": "taking it back 1" }))
        .await
        .1;
    assert_eq!(body["data"]["resetPassword"], true, "{body}");
    let victim = stack
        .data(
            "mutation { logIn(input: {email: \"victim@acme.test\", password: \"taking it back 1\"}) { accessToken } }",
            json!({}),
        )
        .await["logIn"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let verify = "mutation($t: String!) { verifyEmail(token: $t) { emailVerified } }";
    let body = stack.gql_as(&victim, verify, json!({ "t": pending })).await;
    assert_eq!(
        code(&body),
        "BAD_USER_INPUT",
        "Eve's change is gone: {body}"
    );
    let me = stack
        .data_as(&victim, "{ me { email emailVerified } }", json!({}))
        .await;
    assert_eq!(
        me["me"],
        json!({ "email": "victim@acme.test", "emailVerified": true })
    );

    // A reset link sent before the account moved to another address does nothing after.
    stack
        .post(
            "mutation { requestPasswordReset(email: \"victim@acme.test\") }",
            json!({}),
        )
        .await;
    let old_link = stack
        .mailed_token("victim@acme.test", "reset-password")
        .await;
    stack
        .data_as(
            &victim,
            change,
            json!({ "e": "victim@new.test", "p": "taking it back 1" }),
        )
        .await;
    let moved = stack.mailed_token("victim@new.test", "verify-email").await;
    stack.data_as(&victim, verify, json!({ "t": moved })).await;
    let body = stack
        .post(reset_it, json!({ "t": old_link, "p": "the old mailbox 2" }))
        .await
        .1;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    // An admin invites their second address, then is removed: the invitation no longer works.
    let (owner, acme) = stack.owner_of("owner@acme.test", "Acme", "acme").await;
    let admin = stack.sign_up("admin@acme.test", "Admin").await;
    let membership = stack
        .add_member(&owner, &acme, "admin@acme.test", "ADMIN")
        .await;
    let admin = stack.switch(&admin, &acme).await;
    let second = stack.sign_up("second@acme.test", "Second").await;
    let invited = stack
        .gql_as(
            &admin.access,
            "mutation($o: ID!) { inviteMember(input: {organizationId: $o, email: \"second@acme.test\", role: ADMIN}) { id } }",
            json!({ "o": acme }),
        )
        .await;
    assert!(invited["errors"].is_null(), "{invited}");
    let token = stack.mailed_token("second@acme.test", "invitation").await;
    stack
        .data_as(
            &owner.access,
            "mutation($m: ID!) { removeMember(membershipId: $m) }",
            json!({ "m": membership }),
        )
        .await;
    let user = nexus_identity::users::find_user_by_email(&stack.stack.db, "second@acme.test")
        .await
        .expect("lookup")
        .expect("user");
    nexus_identity::users::mark_email_verified(&stack.stack.db, user.id)
        .await
        .expect("verified");
    let body = stack
        .gql_as(
            &second.access,
            "mutation($t: String!) { acceptInvitation(token: $t) { id } }",
            json!({ "t": token }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    stack.stop().await;
}

/// `logIn` for `email` through a trusted proxy that says the client is `client`.
async fn log_in_behind_proxy(
    stack: &TestStack,
    client: &str,
    email: &str,
    password: &str,
    known_device: Option<&str>,
) -> Value {
    let body = json!({
        "query": "mutation($i: LogInInput!) { logIn(input: $i) { accessToken knownDeviceToken } }",
        "variables": { "i": { "email": email, "password": password, "knownDeviceToken": known_device } },
    });
    reqwest::Client::new()
        .post(stack.stack.graphql_url())
        .header("x-forwarded-for", client)
        .json(&body)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON")
}

/// Fails today's main: 60 wrong passwords from 60 addresses were all checked (the account's own
/// limit only slowed them by a second), and IPv6 clients were counted by whole address.
#[tokio::test]
async fn password_guessing_from_many_addresses_stops_at_the_accounts_limit_not_its_owner() {
    let stack = TestStack::start_configured(|config, _| {
        config.router.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    stack.sign_up("ada@acme.test", "Ada").await;
    // Ada signed in on her laptop before the attack: it is a known device.
    let laptop = log_in_behind_proxy(&stack, "198.51.100.7", "ada@acme.test", PASSWORD, None).await;
    let laptop = laptop["data"]["logIn"]["knownDeviceToken"]
        .as_str()
        .expect("a known-device token")
        .to_owned();

    // 60 guesses, each from its own address: the account's limit (50 in 15 minutes) is all
    // that is checked; the rest are refused before the password is looked at.
    let mut refused = 0;
    for i in 0..60 {
        let body = log_in_behind_proxy(
            &stack,
            &format!("203.0.113.{i}"),
            "ada@acme.test",
            &format!("guess number {i}"),
            None,
        )
        .await;
        match code(&body) {
            "UNAUTHENTICATED" => assert_eq!(refused, 0, "checked after a refusal: {body}"),
            "RATE_LIMITED" => {
                refused += 1;
                assert!(
                    body["errors"][0]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("from everywhere"),
                    "{body}"
                );
                assert!(
                    body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() > Some(0),
                    "{body}"
                );
            }
            _ => panic!("{body}"),
        }
    }
    assert_eq!(refused, 10, "50 checked, 10 refused");
    // Even her right password, from a device the account never saw, is not checked now.
    let body = log_in_behind_proxy(&stack, "192.0.2.1", "ada@acme.test", PASSWORD, None).await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    // Her laptop signs in, from anywhere.
    let body = log_in_behind_proxy(
        &stack,
        "192.0.2.99",
        "ada@acme.test",
        PASSWORD,
        Some(&laptop),
    )
    .await;
    assert!(body["data"]["logIn"]["accessToken"].is_string(), "{body}");
    // Another account's device token is no key to hers.
    stack.sign_up("eve@evil.test", "Eve").await;
    let eves = log_in_behind_proxy(&stack, "192.0.2.50", "eve@evil.test", PASSWORD, None).await;
    let eves = eves["data"]["logIn"]["knownDeviceToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body =
        log_in_behind_proxy(&stack, "192.0.2.51", "ada@acme.test", PASSWORD, Some(&eves)).await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");

    // On a new phone, the reset letter gets her in: the page that sets the new password makes
    // that browser a known device.
    stack
        .post(
            "mutation { requestPasswordReset(email: \"ada@acme.test\") }",
            json!({}),
        )
        .await;
    let token = stack.mailed_token("ada@acme.test", "reset-password").await;
    let page = stack
        .stack
        .graphql_url()
        .replace("/graphql", "/account/reset-password");
    let answer = reqwest::Client::new()
        .post(page)
        .form(&[
            ("token", token.as_str()),
            ("password", "a new passphrase 7"),
        ])
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), 200);
    let phone = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("nexus_device="))
        .and_then(|c| c.split(';').next())
        .expect("the reset page sets the known-device cookie")
        .to_owned();
    let body = log_in_behind_proxy(
        &stack,
        "192.0.2.100",
        "ada@acme.test",
        "a new passphrase 7",
        Some(&phone),
    )
    .await;
    assert!(body["data"]["logIn"]["accessToken"].is_string(), "{body}");

    // IPv6 clients count per /64: five failures from one /64, any addresses in it, stop it.
    stack.sign_up("bob@acme.test", "Bob").await;
    for i in 0..5 {
        let body = log_in_behind_proxy(
            &stack,
            &format!("2001:db8:7:7::{i:x}"),
            "bob@acme.test",
            "not his password",
            None,
        )
        .await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    let body = log_in_behind_proxy(
        &stack,
        "2001:db8:7:7:ffff::1",
        "bob@acme.test",
        "not his password",
        None,
    )
    .await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("from your address"),
        "{body}"
    );
    // The next /64 is another client.
    let body =
        log_in_behind_proxy(&stack, "2001:db8:7:8::1", "bob@acme.test", PASSWORD, None).await;
    assert!(body["data"]["logIn"]["accessToken"].is_string(), "{body}");
    stack.stop().await;
}

/// Fails today's main: one new account with its own organization had the platform send as many
/// invitations as it liked (limited per recipient address only), with its own words and links
/// in the subject and body.
#[tokio::test]
async fn mail_is_limited_per_organization_inviter_and_account_and_names_carry_no_links() {
    let stack = TestStack::start_configured(|config, _| {
        config.mail.invitations_per_organization_per_day = 5;
        config.mail.invitations_per_inviter_per_day = 8;
        config.mail.letters_per_account_per_day = 3;
    })
    .await;
    let (eve, acme) = stack.owner_of("eve@evil.test", "Acme", "acme").await;
    let renamed = stack
        .gql_as(
            &eve.access,
            "mutation($id: ID!) { updateOrganization(id: $id, input: {name: \"Prize at https://evil.example/win\"}) { name } }",
            json!({ "id": acme }),
        )
        .await;
    assert!(renamed["errors"].is_null(), "{renamed}");
    let profile = stack
        .gql_as(
            &eve.access,
            "mutation { updateProfile(input: {name: \"Eve at evil.example\"}) { name } }",
            json!({}),
        )
        .await;
    assert!(profile["errors"].is_null(), "{profile}");
    let invite = |organization: String, to: String| {
        let (stack, eve) = (&stack, &eve);
        async move {
            stack
                .gql_as(
                    &eve.access,
                    "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                    json!({ "i": { "organizationId": organization, "email": to, "role": "MEMBER" } }),
                )
                .await
        }
    };
    for i in 0..5 {
        let body = invite(acme.clone(), format!("victim{i}@x.test")).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let body = invite(acme.clone(), "victim5@x.test".into()).await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("this organization sent 5 invitations in the last day"),
        "{body}"
    );
    let retry = body["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap_or_default();
    assert!((1..=86_400).contains(&retry), "{body}");
    // Another organization of hers: her own limit, all organizations together.
    let beta = stack.create_organization(&eve, "Beta", "beta").await;
    for i in 0..3 {
        let body = invite(beta.clone(), format!("other{i}@x.test")).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let body = invite(beta.clone(), "other3@x.test".into()).await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("you sent 8 invitations in the last day"),
        "{body}"
    );
    assert!(stack.letters_to("other3@x.test").is_empty());

    // What the letters say of her: plain names, no link a mail client would follow.
    let letter = &stack.letters_to("victim0@x.test")[0].raw;
    assert!(!letter.contains("evil.example"), "{letter}");
    assert!(!letter.contains("https://evil"), "{letter}");
    assert!(letter.contains("evil[.]example"), "{letter}");
    assert!(letter.contains("/account/invitation?token="), "{letter}");

    // Names with line breaks or invisible characters are refused where they are chosen.
    let body = stack
        .gql(
            "mutation { signUp(input: {email: \"mallory@evil.test\", password: \"a long passphrase 1\", name: \"Mallory\\nclick here\"}) { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    // Her own account: the sign-up letter and two more, then no more today.
    for _ in 0..2 {
        let body = stack
            .gql_as(&eve.access, "mutation { resendVerification }", json!({}))
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let body = stack
        .gql_as(&eve.access, "mutation { resendVerification }", json!({}))
        .await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("letters in the last day"),
        "{body}"
    );
    stack.stop().await;
}
