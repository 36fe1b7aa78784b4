//! The sign-in and consent pages (`nexus_kit::html` gives every page its frame and headers).

use axum::http::StatusCode;
use axum::response::Response;

pub use nexus_kit::html::{error, escape, page};

pub struct LoginPage<'a> {
    pub app_name: &'a str,
    pub csrf: &'a str,
    /// The authorization request, to resume after signing in.
    pub request: &'a str,
    pub email: &'a str,
    pub problem: Option<&'a str>,
    /// The password was right and a second factor is asked: the challenge to send back.
    pub challenge: Option<&'a str>,
}

pub fn login(status: StatusCode, p: LoginPage<'_>) -> Response {
    let problem = p
        .problem
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    if let Some(challenge) = p.challenge {
        return page(
            status,
            "Two-factor sign-in",
            &format!(
                "<h1>Two-factor sign-in</h1><p>Enter the code from your authenticator app (or a recovery code) to continue to <strong>{app}</strong>.</p>{problem}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"request\" value=\"{request}\">\
<input type=\"hidden\" name=\"challenge\" value=\"{challenge}\"><input type=\"hidden\" name=\"email\" value=\"{email}\">\
<label for=\"code\">Code</label><input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus>\
<p><button class=\"primary\" type=\"submit\">Verify</button></p></form>",
                app = escape(p.app_name),
                action = nexus_protocol::oauth::LOGIN_PATH,
                csrf = escape(p.csrf),
                request = escape(p.request),
                challenge = escape(challenge),
                email = escape(p.email),
            ),
        );
    }
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
