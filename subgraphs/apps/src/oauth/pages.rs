//! The pages a person sees: plain server-rendered HTML, no script, labelled form controls
//! (keyboard and screen-reader friendly), styles inline so nothing is fetched from anywhere.
//! Every page is `no-store`, may not be framed (`frame-ancestors 'none'`: no clickjacking of
//! the Approve button), and loads nothing (`default-src 'none'`). There is deliberately no
//! `form-action` rule: after the consent form posts, the browser must follow the redirect to the
//! app, which `form-action 'self'` would block in Chromium.

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

pub struct LoginPage<'a> {
    pub app_name: &'a str,
    pub csrf: &'a str,
    /// The authorization request, to resume after signing in.
    pub request: &'a str,
    pub email: &'a str,
    pub problem: Option<&'a str>,
}

pub fn login(status: StatusCode, p: LoginPage<'_>) -> Response {
    let problem = p
        .problem
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    page(
        status,
        "Sign in",
        &format!(
            "<h1>Sign in to Nexus</h1><p>to continue to <strong>{app}</strong>.</p>{problem}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"request\" value=\"{request}\">\
<label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{email}\" autofocus>\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<p><button class=\"primary\" type=\"submit\">Sign in</button></p></form>",
            app = escape(p.app_name),
            action = nexus_protocol::oauth::LOGIN_PATH,
            csrf = escape(p.csrf),
            request = escape(p.request),
            email = escape(p.email),
        ),
    )
}

/// One line of the consent page's list of scopes.
pub struct ScopeLine {
    pub name: String,
    pub description: String,
    /// Shown as a checkbox the person may clear (an optional scope of the manifest).
    pub optional: bool,
    /// Already granted to the installation in that organization.
    pub granted: bool,
}

pub struct OrganizationChoice {
    pub id: String,
    pub name: String,
    /// What choosing it does, in words ("installs the app", "already installed").
    pub note: String,
}

pub struct ConsentPage<'a> {
    pub app_name: &'a str,
    pub developer: &'a str,
    pub user_email: &'a str,
    pub csrf: &'a str,
    pub request: &'a str,
    pub scopes: &'a [ScopeLine],
    pub organizations: &'a [OrganizationChoice],
    pub problem: Option<&'a str>,
}

pub fn consent(status: StatusCode, p: ConsentPage<'_>) -> Response {
    let problem = p
        .problem
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    let scopes: String = p
        .scopes
        .iter()
        .map(|s| {
            let granted = if s.granted { " <span class=\"muted\">(already granted)</span>" } else { "" };
            if s.optional {
                format!(
                    "<label><input type=\"checkbox\" name=\"scope\" value=\"{name}\" checked> {description} <span class=\"muted\">({name})</span>{granted}</label>",
                    name = escape(&s.name),
                    description = escape(&s.description)
                )
            } else {
                format!(
                    "<label><input type=\"hidden\" name=\"scope\" value=\"{name}\">&#10003; {description} <span class=\"muted\">({name})</span>{granted}</label>",
                    name = escape(&s.name),
                    description = escape(&s.description)
                )
            }
        })
        .collect();
    let organizations: String = p
        .organizations
        .iter()
        .enumerate()
        .map(|(i, o)| {
            format!(
                "<label><input type=\"radio\" name=\"organization\" value=\"{id}\"{checked} required> <strong>{name}</strong> <span class=\"muted\">{note}</span></label>",
                id = escape(&o.id),
                checked = if i == 0 { " checked" } else { "" },
                name = escape(&o.name),
                note = escape(&o.note),
            )
        })
        .collect();
    let (organizations, approve) = if p.organizations.is_empty() {
        (
            "<p class=\"error\" role=\"alert\">None of your organizations has installed this app, and you are not an owner or admin of one that could install it.</p>".to_owned(),
            String::new(),
        )
    } else {
        (
            format!("<fieldset><legend>For the organization</legend>{organizations}</fieldset>"),
            "<button class=\"primary\" type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>".to_owned(),
        )
    };
    page(
        status,
        "Authorize",
        &format!(
            "<h1><strong>{app}</strong> wants to access your Nexus account</h1>\
<p class=\"muted\">by {developer} · signed in as {email}</p>{problem}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"request\" value=\"{request}\">\
<fieldset><legend>It will be able to</legend>{scopes}</fieldset>{organizations}\
<p>{approve}<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p></form>",
            app = escape(p.app_name),
            developer = escape(p.developer),
            email = escape(p.user_email),
            action = nexus_protocol::oauth::CONSENT_PATH,
            csrf = escape(p.csrf),
            request = escape(p.request),
        ),
    )
}
