//! The answers the authorization endpoint and its forms share: a redirect back to the app (with
//! `state` and `iss`, RFC 9207), a 303 to another page, an internal error page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::oauth::pages::{self};

pub(super) fn redirect_to(
    uri: &str,
    issuer: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = url::Url::parse(uri) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Cannot go back to the app",
            "its redirect URI is not a URL",
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    see_other(url.as_str())
}

pub(super) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) fn internal_page(what: &str, error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "{what}");
    pages::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Nexus could not finish this; it has been logged. Try again from the app.",
    )
}
