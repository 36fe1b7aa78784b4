//! Pages a person sees, from any core service: plain server-rendered HTML, no script, labelled
//! form controls (keyboard and screen-reader friendly), styles inline so nothing is fetched from
//! anywhere. Every page is `no-store`, may not be framed (`frame-ancestors 'none'`: no
//! clickjacking of a button), and loads nothing (`default-src 'none'`). There is deliberately no
//! `form-action` rule: after a form posts, the browser may have to follow a redirect to an app
//! (OAuth consent), which `form-action 'self'` would block in Chromium.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a;line-height:1.5}\
h1{font-size:1.4rem}fieldset{border:1px solid #ccc;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}\
label{display:block;margin:.4rem 0}input[type=email],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:6px;border:1px solid #555;cursor:pointer}\
button.primary{background:#1d4ed8;color:#fff;border-color:#1d4ed8}button:focus,input:focus{outline:3px solid #f59e0b}\
.error{background:#fee2e2;border:1px solid #b91c1c;padding:.5rem 1rem;border-radius:6px}.muted{color:#555;font-size:.9rem}";

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page with the headers every page carries.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} · Nexus</title>\
<style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A request that cannot go back to the app (unknown client, unregistered redirect URI): said
/// here, never redirected.
pub fn error(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        title,
        &format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>",
            escape(title),
            escape(message)
        ),
    )
}
