//! An authorization request, judged in order: the client and its redirect URI first (wrong:
//! an error page, never a redirect), then PKCE, scopes, `prompt`, `nonce` (wrong: an error sent
//! back to the app).

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use axum::response::Response;
use nexus_protocol::oauth::is_user_scope;

use super::answers::{internal_page, redirect_to};
use crate::oauth::client::Client;
use crate::oauth::grants::valid_pkce_string;
use crate::oauth::pages::{self};
use crate::oauth::server::OAuthServer;

/// The longest redirect URI a request may name (codes store it).
const MAX_REDIRECT_URI: usize = 2048;

/// What `prompt` asks for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Prompt {
    /// Answer at once: an error rather than a page.
    pub none: bool,
    /// Enter the password again, even when signed in.
    pub login: bool,
    /// Show the consent page, even when the user consented before.
    pub consent: bool,
}

/// A valid authorization request.
pub struct AuthorizationRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub state: Option<String>,
    /// What the app asked for, each declared by its manifest or a user scope.
    pub scopes: Vec<String>,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    /// The request as it came, to resume it after a page.
    pub query: String,
}

impl AuthorizationRequest {
    /// Back to the app with these parameters (and `state` and `iss`, RFC 9207).
    pub(super) fn redirect(&self, issuer: &str, params: &[(&str, &str)]) -> Response {
        redirect_to(&self.redirect_uri, issuer, self.state.as_deref(), params)
    }

    pub(super) fn error(&self, issuer: &str, error: &str, description: &str) -> Response {
        self.redirect(
            issuer,
            &[("error", error), ("error_description", description)],
        )
    }

    /// The installation's scopes the request asks for.
    pub(super) fn installation_scopes(&self) -> impl Iterator<Item = &String> {
        self.scopes.iter().filter(|s| !is_user_scope(s))
    }
}

/// Judges an authorization request; the answer to send when it is not one.
pub async fn parse(
    server: &OAuthServer,
    query: &str,
) -> Result<AuthorizationRequest, Box<Response>> {
    let (params, repeated) = query_params(query);
    let (client, redirect_uri) = client_and_redirect_uri(server, &params, &repeated).await?;
    let issuer = server.keys.issuer().to_owned();
    let state = params.get("state").cloned();
    let refuse = |error: &str, description: &str| {
        Err(Box::new(redirect_to(
            &redirect_uri,
            &issuer,
            state.as_deref(),
            &[("error", error), ("error_description", description)],
        )))
    };
    if let Some(name) = repeated.first() {
        return refuse(
            "invalid_request",
            &format!("`{name}` is given more than once"),
        );
    }
    if let Err((error, description)) = response_type_code(&params) {
        return refuse(error, description);
    }
    let code_challenge = match pkce_challenge(&params) {
        Ok(code_challenge) => code_challenge,
        Err(description) => return refuse("invalid_request", description),
    };
    let nonce = params.get("nonce").cloned();
    if nonce.as_ref().is_some_and(|n| n.len() > 512)
        || state.as_ref().is_some_and(|s| s.len() > 2048)
    {
        return refuse("invalid_request", "nonce or state is too long");
    }
    let Some(prompt) = requested_prompt(&params) else {
        return refuse(
            "invalid_request",
            "prompt is a list of login and consent, or none alone",
        );
    };
    let scopes = match requested_scopes(&params, &client) {
        Ok(scopes) => scopes,
        Err(description) => return refuse("invalid_scope", &description),
    };
    Ok(AuthorizationRequest {
        client,
        redirect_uri,
        state,
        scopes,
        code_challenge,
        nonce,
        prompt,
        query: query.to_owned(),
    })
}

/// The query's parameters (an empty value counts as absent), and the names given more than once.
fn query_params(query: &str) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    let mut repeated: BTreeSet<String> = BTreeSet::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if value.is_empty() {
            continue;
        }
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            repeated.insert(name.into_owned());
        }
    }
    (params, repeated)
}

/// The published app the request names and the redirect URI it registered; until both are
/// known nothing may be sent back, so what is wrong here is said on a page.
async fn client_and_redirect_uri(
    server: &OAuthServer,
    params: &BTreeMap<String, String>,
    repeated: &BTreeSet<String>,
) -> Result<(Client, String), Box<Response>> {
    let bad_client = |message: &str| {
        Err(Box::new(pages::error(
            StatusCode::BAD_REQUEST,
            "This app's sign-in link is broken",
            message,
        )))
    };
    if repeated.contains("client_id") || repeated.contains("redirect_uri") {
        return bad_client("client_id and redirect_uri may be given once each.");
    }
    let Some(client_id) = params.get("client_id") else {
        return bad_client("The request names no app (client_id is missing).");
    };
    let client = match Client::find(&server.db, client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return bad_client("No published app has that client_id."),
        Err(e) => return Err(Box::new(internal_page("cannot read the app", e.message))),
    };
    let Some(redirect_uri) = params.get("redirect_uri").cloned() else {
        return bad_client("The request has no redirect_uri: the app must name one it registered.");
    };
    if redirect_uri.len() > MAX_REDIRECT_URI || !client.allows_redirect(&redirect_uri) {
        return bad_client(
            "The redirect_uri is not one the app registered in its manifest, so Nexus will not send you there.",
        );
    }
    Ok((client, redirect_uri))
}

/// Only the authorization code flow is served; otherwise the `error` and its description.
fn response_type_code(
    params: &BTreeMap<String, String>,
) -> Result<(), (&'static str, &'static str)> {
    match params.get("response_type").map(String::as_str) {
        Some("code") => Ok(()),
        None => Err(("invalid_request", "response_type is missing")),
        Some(_) => Err((
            "unsupported_response_type",
            "only response_type=code is supported",
        )),
    }
}

/// The S256 PKCE challenge every request must carry; otherwise why it is an `invalid_request`.
fn pkce_challenge(params: &BTreeMap<String, String>) -> Result<String, &'static str> {
    match params.get("code_challenge_method").map(String::as_str) {
        Some("S256") => {}
        None => {
            return Err("PKCE is required: send code_challenge with code_challenge_method=S256");
        }
        Some(_) => {
            return Err("code_challenge_method must be S256 (plain is not accepted)");
        }
    }
    params
        .get("code_challenge")
        .filter(|c| valid_pkce_string(c) && c.len() == 43)
        .cloned()
        .ok_or("code_challenge must be BASE64URL(SHA-256(code_verifier)): 43 characters")
}

/// What `prompt` asks for; `None` when it is not a valid combination.
fn requested_prompt(params: &BTreeMap<String, String>) -> Option<Prompt> {
    // A space-separated list (OpenID Connect Core §3.1.2.1); `none` stands alone.
    let prompts: BTreeSet<&str> = params
        .get("prompt")
        .map(|p| p.split(' ').filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    if prompts
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "consent"))
        || (prompts.contains("none") && prompts.len() > 1)
    {
        return None;
    }
    Some(Prompt {
        none: prompts.contains("none"),
        login: prompts.contains("login"),
        consent: prompts.contains("consent"),
    })
}

/// The scopes asked for (the manifest's required ones when `scope` is absent), sorted and
/// once each; otherwise the `invalid_scope` description naming those the manifest lacks.
fn requested_scopes(
    params: &BTreeMap<String, String>,
    client: &Client,
) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = match params.get("scope") {
        Some(scope) => scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => client.required_scopes.iter().cloned().collect(),
    };
    scopes.sort();
    scopes.dedup();
    let undeclared: Vec<&str> = scopes
        .iter()
        .filter(|s| !is_user_scope(s) && !client.declares(s))
        .map(String::as_str)
        .collect();
    if !undeclared.is_empty() {
        return Err(format!(
            "the app's manifest does not declare {}",
            undeclared.join(", ")
        ));
    }
    Ok(scopes)
}
