//! The pages letters link to, on the public port (`/account/…`): confirm an address, choose a new
//! password, see an invitation. Following a link changes nothing by itself — mail scanners open
//! links — the page's button does (a POST carrying the token, which is the only credential).

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nexus_kit::Code;
use nexus_kit::html::{error, escape, page};
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use crate::accounts::password;
use crate::accounts::{AuthConfig, email, sign_in};
use crate::invitations;
use nexus_kit::accounts::Credentials;

pub const VERIFY_PATH: &str = "/account/verify-email";
pub const RESET_PATH: &str = "/account/reset-password";
pub const INVITATION_PATH: &str = "/account/invitation";
/// Every path identity answers on the public port.
pub const PATHS: &[&str] = &[VERIFY_PATH, RESET_PATH, INVITATION_PATH];

#[derive(Deserialize)]
pub struct WithToken {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct NewPassword {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

fn token_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"token\" value=\"{}\">",
        escape(token)
    )
}

#[derive(Deserialize)]
pub struct Proof {
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn verify_page(status: StatusCode, token: &str, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    page(
        status,
        "Confirm your email address",
        &format!(
            "<h1>Confirm your email address</h1>{problem}<p>Sign in to the account this letter was sent for to confirm the address. (Did you not create a Nexus account with it? Then ignore the letter.)</p>\
<form method=\"post\" action=\"{VERIFY_PATH}\">{}\
<label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<p><button class=\"primary\" type=\"submit\">Confirm my address</button></p></form>",
            token_field(token)
        ),
    )
}

/// `GET /account/verify-email?token=…`
pub async fn verify_form(Query(q): Query<WithToken>) -> Response {
    verify_page(StatusCode::OK, &q.token, None)
}

/// `POST /account/verify-email`: the account's own credentials (identity's login limits), then
/// the token.
pub async fn verify(
    State((db, config)): State<(DatabaseConnection, AuthConfig)>,
    headers: HeaderMap,
    Form(form): Form<Proof>,
) -> Response {
    let credentials = Credentials {
        email: form.email,
        password: form.password,
        address: nexus_kit::server::client_address(&headers, &config.keys),
        challenge: None,
        code: None,
        known_device: nexus_kit::accounts::known_device_from_headers(&headers),
    };
    let account = match sign_in::password_holder(&db, &config, &credentials, None).await {
        Ok(account) => account,
        Err(e) => return verify_page(StatusCode::UNAUTHORIZED, &form.token, Some(&e.message)),
    };
    let audit = nexus_kit::audit::Entry::new(
        "user.email_changed",
        nexus_kit::audit::Actor::user(account.id),
        Some(nexus_kit::server::client_address(&headers, &config.keys)),
    );
    match email::verify(&db, account.id, &form.token, audit).await {
        Ok(user) => page(
            StatusCode::OK,
            "Address confirmed",
            &format!(
                "<h1>Address confirmed</h1><p><strong>{}</strong> is confirmed for your Nexus account. You can close this page.</p>",
                escape(&user.email)
            ),
        ),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            "This link did not work",
            &e.message,
        ),
    }
}

fn reset_page(status: StatusCode, token: &str, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    page(
        status,
        "Choose a new password",
        &format!(
            "<h1>Choose a new password</h1>{problem}<p>At least 10 characters, with a letter and a digit or symbol. Every device signed in to your account is signed out.</p>\
<form method=\"post\" action=\"{RESET_PATH}\">{}\
<label for=\"password\">New password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required autofocus>\
<p><button class=\"primary\" type=\"submit\">Set the new password</button></p></form>",
            token_field(token)
        ),
    )
}

/// `GET /account/reset-password?token=…`
pub async fn reset_form(Query(q): Query<WithToken>) -> Response {
    reset_page(StatusCode::OK, &q.token, None)
}

/// `POST /account/reset-password`. The browser that followed the letter is known to the account
/// from then on: it may sign in while the account's password is being guessed from everywhere.
pub async fn reset(
    State((db, config)): State<(DatabaseConnection, AuthConfig)>,
    headers: axum::http::HeaderMap,
    Form(form): Form<NewPassword>,
) -> Response {
    let account = match email::reset_target(&db, &form.token).await {
        Ok(account) => account,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "This link did not work",
                &e.message,
            );
        }
    };
    if let Err(weak) = password::check_policy(&form.password, &account.email) {
        return reset_page(StatusCode::BAD_REQUEST, &form.token, Some(&weak.message));
    }
    let outcome = match password::hash(form.password).await {
        Ok(hash) => {
            let audit = nexus_kit::audit::Entry::new(
                "user.password_reset",
                nexus_kit::audit::Actor::anonymous(),
                Some(nexus_kit::server::client_address(&headers, &config.keys)),
            );
            email::reset_password(&db, &form.token, hash, audit).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(user) => {
            let mut changed = page(
                StatusCode::OK,
                "Password changed",
                "<h1>Password changed</h1><p>Sign in with your new password. Every other device was signed out.</p>",
            );
            let secure = config.keys.issuer().starts_with("https://");
            if let Some(cookie) = crate::accounts::known_device::issue(&config.keys, user.id)
                .and_then(|token| {
                    axum::http::HeaderValue::from_str(&crate::accounts::known_device::cookie(
                        &token, secure,
                    ))
                    .ok()
                })
            {
                changed
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, cookie);
            }
            changed
        }
        Err(e) if Code::of(&e) == Code::BadUserInput => error(
            StatusCode::BAD_REQUEST,
            "This link did not work",
            &e.message,
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            &e.message,
        ),
    }
}

/// `GET /account/invitation?token=…`: what the invitation is and how to accept it (accepting
/// needs the invited person signed in, with their address proven).
pub async fn invitation(
    State(db): State<DatabaseConnection>,
    Query(q): Query<WithToken>,
) -> Response {
    let pending = match invitations::pending(&db, &q.token).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "This invitation did not work",
                "It is invalid, used, revoked or expired: ask for a new one.",
            );
        }
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                &e.message,
            );
        }
    };
    let (organization, inviter) = invitations::letter_names(&db, &pending)
        .await
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Your invitation",
        &format!(
            "<h1>Join {organization} on Nexus</h1><p>{inviter} invited <strong>{email}</strong> as {role}.</p>\
<p>Sign in to Nexus as {email} (sign up with that address if you have no account, and confirm it from the letter Nexus sends), then accept in your Nexus app — or with the API: <code>acceptInvitation(token: \"{token}\")</code>. The invitation works once, until {expires}.</p>",
            organization = escape(&organization),
            inviter = escape(&inviter),
            email = escape(&pending.email),
            role = crate::entity::membership::role_name(pending.role),
            token = escape(q.token.trim()),
            expires = pending.expires_at.format("%Y-%m-%d %H:%M UTC"),
        ),
    )
}

pub fn routes(db: DatabaseConnection, config: AuthConfig) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            VERIFY_PATH,
            post(verify).with_state((db.clone(), config.clone())),
        )
        .route(VERIFY_PATH, get(verify_form))
        .route(RESET_PATH, get(reset_form))
        .route(RESET_PATH, post(reset).with_state((db.clone(), config)))
        .route(INVITATION_PATH, get(invitation))
        .with_state(db)
}
