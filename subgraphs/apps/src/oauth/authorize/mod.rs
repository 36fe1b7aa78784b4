//! `GET /oauth/authorize` and the forms of its pages (RFC 6749 §4.1, OAuth 2.1, RFC 7636, RFC
//! 9207, OpenID Connect Core §3.1).
//!
//! The request is judged in this order: the client and its redirect URI first — if either is
//! wrong nothing is sent anywhere, a page says why; then everything else, answered at the
//! redirect URI (`error`, `state`, `iss`). A browser not signed in gets the login page; a
//! signed-in one the consent page, unless the user already consented to exactly this for an
//! organization where the app is still installed with those scopes (then straight back with a
//! code). The forms post the original request back and it is judged again: nothing about it is
//! kept between pages but the signed session cookie.

mod answers;
mod decision;
mod forms;
mod request;

pub use forms::{consent, log_in};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::browser::BrowserSession;
use super::server::OAuthServer;
use decision::{decide, login_page};
use request::parse;

/// `GET /oauth/authorize`.
pub async fn authorize(
    State(server): State<OAuthServer>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let request = match parse(&server, query.as_deref().unwrap_or_default()).await {
        Ok(request) => request,
        Err(answer) => return *answer,
    };
    let session = BrowserSession::from_request(&headers, &server.keys);
    let signed_in = session
        .as_ref()
        .filter(|_| !request.prompt.login)
        .and_then(|s| Some((s.user()?, s.sign_in()?)));
    let Some((user, sign_in)) = signed_in else {
        if request.prompt.none {
            return request.error(
                server.keys.issuer(),
                "login_required",
                "the user is not signed in",
            );
        }
        return login_page(&server, &request, session, StatusCode::OK, "", None, None);
    };
    decide(&server, &request, session.as_ref(), user, sign_in, None).await
}
