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

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use nexus_kit::Code;
use nexus_kit::accounts::{Account, Credentials};
use nexus_kit::audit::{Actor, Entry};
use nexus_protocol::oauth::{AUTHORIZE_PATH, USER_SCOPES, is_user_scope};
use uuid::Uuid;

use super::browser::{BrowserSession, SignIn};
use super::client::Client;
use super::grants::{self, NewCode, valid_pkce_string};
use super::pages::{self, ConsentPage, LoginPage, OrganizationChoice, ScopeLine};
use super::server::OAuthServer;
use crate::entity::installation;

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
    fn redirect(&self, issuer: &str, params: &[(&str, &str)]) -> Response {
        redirect_to(&self.redirect_uri, issuer, self.state.as_deref(), params)
    }

    fn error(&self, issuer: &str, error: &str, description: &str) -> Response {
        self.redirect(
            issuer,
            &[("error", error), ("error_description", description)],
        )
    }

    /// The installation's scopes the request asks for.
    fn installation_scopes(&self) -> impl Iterator<Item = &String> {
        self.scopes.iter().filter(|s| !is_user_scope(s))
    }
}

fn redirect_to(uri: &str, issuer: &str, state: Option<&str>, params: &[(&str, &str)]) -> Response {
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

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn internal_page(what: &str, error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "{what}");
    pages::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Nexus could not finish this; it has been logged. Try again from the app.",
    )
}

/// Judges an authorization request; the answer to send when it is not one.
pub async fn parse(
    server: &OAuthServer,
    query: &str,
) -> Result<AuthorizationRequest, Box<Response>> {
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
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => return refuse("invalid_request", "response_type is missing"),
        Some(_) => {
            return refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    match params.get("code_challenge_method").map(String::as_str) {
        Some("S256") => {}
        None => {
            return refuse(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            );
        }
        Some(_) => {
            return refuse(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            );
        }
    }
    let Some(code_challenge) = params
        .get("code_challenge")
        .filter(|c| valid_pkce_string(c) && c.len() == 43)
        .cloned()
    else {
        return refuse(
            "invalid_request",
            "code_challenge must be BASE64URL(SHA-256(code_verifier)): 43 characters",
        );
    };
    let nonce = params.get("nonce").cloned();
    if nonce.as_ref().is_some_and(|n| n.len() > 512)
        || state.as_ref().is_some_and(|s| s.len() > 2048)
    {
        return refuse("invalid_request", "nonce or state is too long");
    }
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
        return refuse(
            "invalid_request",
            "prompt is a list of login and consent, or none alone",
        );
    }
    let prompt = Prompt {
        none: prompts.contains("none"),
        login: prompts.contains("login"),
        consent: prompts.contains("consent"),
    };
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
        return refuse(
            "invalid_scope",
            &format!(
                "the app's manifest does not declare {}",
                undeclared.join(", ")
            ),
        );
    }
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

fn login_page(
    server: &OAuthServer,
    request: &AuthorizationRequest,
    session: Option<BrowserSession>,
    status: StatusCode,
    email: &str,
    problem: Option<&str>,
    challenge: Option<&str>,
) -> Response {
    // Signing in again (`prompt=login`, or a session that has expired) starts a fresh session.
    let session = session
        .filter(|s| s.user().is_none())
        .unwrap_or_else(|| BrowserSession::anonymous(&server.keys));
    let mut response = pages::login(
        status,
        LoginPage {
            app_name: &request.client.app.name,
            csrf: &session.csrf,
            request: &without_prompt_login(&request.query),
            email,
            problem,
            challenge,
        },
    );
    match session.set_cookie(&server.keys) {
        Ok(cookie) => {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(e) => internal_page("cannot sign a browser session", e),
    }
}

/// The request to resume after signing in: `prompt=login` has been honoured by then.
fn without_prompt_login(query: &str) -> String {
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| {
            if name == "prompt" {
                let rest: Vec<&str> = value.split(' ').filter(|p| *p != "login").collect();
                (name.into_owned(), rest.join(" "))
            } else {
                (name.into_owned(), value.into_owned())
            }
        })
        .collect();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish()
}

/// An organization the user may pick on the consent page.
struct Candidate {
    organization: Uuid,
    name: String,
    may_install: bool,
    installation: Option<installation::Model>,
}

/// The organizations this sign-in may authorize the app for: where the user may install it or
/// it is installed, and — for one requiring two-factor sign-in — only with a second factor.
async fn candidates(
    server: &OAuthServer,
    account: &Account,
    app: Uuid,
    sign_in: SignIn,
) -> nexus_kit::Result<Vec<Candidate>> {
    let mut found = Vec::new();
    for membership in &account.memberships {
        if membership.two_factor_required && !sign_in.two_factor {
            continue;
        }
        let installation =
            crate::installations::for_app(&server.db, app, membership.organization_id).await?;
        if installation.is_none() && !membership.may_install() {
            continue;
        }
        found.push(Candidate {
            organization: membership.organization_id,
            name: membership.organization_name.clone(),
            may_install: membership.may_install(),
            installation,
        });
    }
    Ok(found)
}

/// Signed in: back to the app at once if the user already consented to this, else the consent
/// page.
async fn decide(
    server: &OAuthServer,
    request: &AuthorizationRequest,
    session: Option<&BrowserSession>,
    user: Uuid,
    sign_in: SignIn,
    problem: Option<&str>,
) -> Response {
    let issuer = server.keys.issuer();
    let account = match server.accounts.account(user).await {
        // The account's sessions ended since this browser signed in (a password reset or
        // change): sign in again.
        Ok(Some(account)) if account.session_epoch != sign_in.epoch => {
            return login_page(server, request, None, StatusCode::OK, "", None, None);
        }
        Ok(Some(account)) => account,
        // The account is gone: sign in again.
        Ok(None) => return login_page(server, request, None, StatusCode::OK, "", None, None),
        Err(e) => return internal_page("cannot read the account", e.message),
    };
    let candidates = match candidates(server, &account, request.client.app.id, sign_in).await {
        Ok(c) => c,
        Err(e) => return internal_page("cannot read installations", e.message),
    };
    // RFC 8252 §8.6: any program on the device can listen on a loopback port and name a public
    // client, so a public client sent back to loopback is asked every time; one sent to its own
    // https origin may skip a consent it already has.
    let impersonable = request.client.public && !request.redirect_uri.starts_with("https://");
    if !request.prompt.consent && !impersonable && problem.is_none() {
        for candidate in &candidates {
            let Some(installation) = &candidate.installation else {
                continue;
            };
            let remembered = match grants::remembered(
                &server.db,
                user,
                request.client.app.id,
                candidate.organization,
            )
            .await
            {
                Ok(r) => r,
                Err(e) => return internal_page("cannot read consents", e.message),
            };
            let granted = installation.scopes();
            let covered = remembered.is_some_and(|r| {
                r.installation_id == installation.id
                    && request.scopes.iter().all(|s| r.scopes().contains(s))
            }) && request.installation_scopes().all(|s| granted.contains(s));
            if covered {
                // (A standing consent that covers the request records nothing: no address.)
                return issue_code(
                    server,
                    request,
                    user,
                    candidate.organization,
                    installation.id,
                    &request.scopes,
                    sign_in,
                    None,
                )
                .await;
            }
        }
    }
    if request.prompt.none {
        return request.error(
            issuer,
            "consent_required",
            "the user has not consented to this yet",
        );
    }
    let Some(session) = session else {
        return login_page(server, request, None, StatusCode::OK, "", None, None);
    };
    let developer = match server
        .accounts
        .account(request.client.app.developer_id)
        .await
    {
        Ok(Some(developer)) => developer.name,
        Ok(None) => "an unknown developer".to_owned(),
        Err(e) => return internal_page("cannot read the developer", e.message),
    };
    // "Already granted" is said only when there is one organization it could be about.
    let granted: BTreeSet<String> = candidates
        .first()
        .filter(|_| candidates.len() == 1)
        .and_then(|c| c.installation.as_ref())
        .map(|i| i.scopes().into_iter().collect())
        .unwrap_or_default();
    // The user's scopes in the catalogue's order (who you are first), then the installation's.
    let mut scopes: Vec<ScopeLine> = USER_SCOPES
        .iter()
        .filter(|(name, _)| request.scopes.iter().any(|s| s == name))
        .map(|(name, description)| ScopeLine {
            name: (*name).to_owned(),
            description: (*description).to_owned(),
            optional: false,
            granted: false,
        })
        .collect();
    // The installation's scopes: the manifest's required ones always, the optional ones asked for.
    let installation_scopes: BTreeSet<&String> = request
        .client
        .required_scopes
        .iter()
        .chain(request.installation_scopes())
        .collect();
    scopes.extend(installation_scopes.into_iter().map(|s| {
        ScopeLine {
            name: s.clone(),
            description: nexus_protocol::scopes::CATALOG
                .iter()
                .find(|(n, _)| n == s)
                .map(|(_, d)| format!("{} (for the whole organization)", d))
                .unwrap_or_default(),
            optional: !request.client.required_scopes.contains(s),
            granted: granted.contains(s),
        }
    }));
    let organizations: Vec<OrganizationChoice> = candidates
        .iter()
        .map(|c| OrganizationChoice {
            id: c.organization.to_string(),
            name: c.name.clone(),
            note: match (&c.installation, c.may_install) {
                (Some(_), true) => "already installed; you may grant more",
                (Some(_), false) => "already installed",
                (None, _) => "installs the app",
            }
            .to_owned(),
        })
        .collect();
    pages::consent(
        if problem.is_some() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::OK
        },
        ConsentPage {
            app_name: &request.client.app.name,
            developer: &developer,
            user_email: &account.email,
            csrf: &session.csrf,
            request: &request.query,
            scopes: &scopes,
            organizations: &organizations,
            problem,
        },
    )
}

/// `address`: the browser's, when it is known here (for the audit log).
#[allow(clippy::too_many_arguments)]
async fn issue_code(
    server: &OAuthServer,
    request: &AuthorizationRequest,
    user: Uuid,
    organization: Uuid,
    installation: Uuid,
    scopes: &[String],
    sign_in: SignIn,
    address: Option<String>,
) -> Response {
    let issuer = server.keys.issuer();
    let authorization = match grants::authorize(
        &server.db,
        user,
        request.client.app.id,
        organization,
        installation,
        scopes,
        Entry::new("oauth.consent_granted", Actor::user(user), address),
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return internal_page("cannot record the consent", e.message),
    };
    let code = grants::create_code(
        &server.db,
        NewCode {
            authorization: authorization.id,
            redirect_uri: &request.redirect_uri,
            scopes,
            code_challenge: &request.code_challenge,
            nonce: request.nonce.as_deref(),
            auth_time: DateTime::from_timestamp(sign_in.at, 0).unwrap_or_else(Utc::now),
            two_factor: sign_in.two_factor,
            session_epoch: sign_in.epoch,
        },
    )
    .await;
    match code {
        Ok(code) => request.redirect(issuer, &[("code", &code)]),
        Err(e) => internal_page("cannot record the code", e.message),
    }
}

/// A posted form's fields; `scope` may repeat.
struct Form {
    fields: BTreeMap<String, String>,
    scopes: Vec<String>,
}

impl Form {
    fn parse(body: &[u8]) -> Form {
        let mut fields = BTreeMap::new();
        let mut scopes = Vec::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if name == "scope" {
                scopes.push(value.into_owned());
            } else {
                fields.insert(name.into_owned(), value.into_owned());
            }
        }
        Form { fields, scopes }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

fn csrf_refused() -> Response {
    pages::error(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was not sent from this sign-in (its security token is missing or stale). Go back to the app and start again.",
    )
}

/// `POST /oauth/login`: the login form.
pub async fn log_in(
    State(server): State<OAuthServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let Some(session) = BrowserSession::from_request(&headers, &server.keys) else {
        return csrf_refused();
    };
    if !session.csrf_matches(form.get("csrf")) {
        return csrf_refused();
    }
    let request = match parse(&server, form.get("request").unwrap_or_default()).await {
        Ok(request) => request,
        Err(answer) => return *answer,
    };
    let email = form.get("email").unwrap_or_default();
    let credentials = Credentials {
        email: email.to_owned(),
        password: form.get("password").unwrap_or_default().to_owned(),
        // identity's login limits count the browser's address.
        address: nexus_kit::server::client_address(&headers, &server.keys),
        challenge: form.get("challenge").map(str::to_owned),
        code: form.get("code").map(str::to_owned),
        known_device: nexus_kit::accounts::known_device_from_headers(&headers),
    };
    match server.accounts.authenticate(&credentials).await {
        Ok(account) => {
            let signed_in = BrowserSession::signed_in(
                &server.keys,
                account.id,
                account.two_factor,
                account.session_epoch,
            );
            let mut response = see_other(&format!("{AUTHORIZE_PATH}?{}", request.query));
            match signed_in.set_cookie(&server.keys) {
                Ok(cookie) => {
                    response.headers_mut().insert(header::SET_COOKIE, cookie);
                    // This browser is now known to the account (identity's login limits).
                    let secure = server.keys.issuer().starts_with("https://");
                    if let Some(device) = account.known_device.as_deref().and_then(|token| {
                        HeaderValue::from_str(&nexus_kit::accounts::known_device_cookie(
                            token, secure,
                        ))
                        .ok()
                    }) {
                        response.headers_mut().append(header::SET_COOKIE, device);
                    }
                    response
                }
                Err(e) => internal_page("cannot sign a browser session", e),
            }
        }
        Err(e) if Code::of(&e) == Code::SecondFactorRequired => {
            let challenge = nexus_kit::error::extension(&e, "challenge").unwrap_or_default();
            login_page(
                &server,
                &request,
                Some(session),
                StatusCode::OK,
                email,
                None,
                Some(&challenge),
            )
        }
        Err(e) => {
            let status = match Code::of(&e) {
                Code::Unauthenticated => StatusCode::UNAUTHORIZED,
                Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            // A wrong code asks for the code again, while its challenge lives.
            let challenge = credentials
                .challenge
                .as_deref()
                .filter(|_| !e.message.starts_with("this sign-in has expired"));
            login_page(
                &server,
                &request,
                Some(session),
                status,
                email,
                Some(&e.message),
                challenge,
            )
        }
    }
}

/// `POST /oauth/consent`: Approve or Deny.
pub async fn consent(
    State(server): State<OAuthServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let Some(session) = BrowserSession::from_request(&headers, &server.keys) else {
        return csrf_refused();
    };
    let (Some(user), Some(sign_in)) = (session.user(), session.sign_in()) else {
        return csrf_refused();
    };
    if !session.csrf_matches(form.get("csrf")) {
        return csrf_refused();
    }
    let request = match parse(&server, form.get("request").unwrap_or_default()).await {
        Ok(request) => request,
        Err(answer) => return *answer,
    };
    let issuer = server.keys.issuer();
    if form.get("decision") != Some("approve") {
        return request.error(issuer, "access_denied", "the user denied the request");
    }
    let refuse = |message: &str| {
        let message = message.to_owned();
        let (server, request, session) = (&server, &request, &session);
        async move {
            decide(
                server,
                request,
                Some(session),
                user,
                sign_in,
                Some(&message),
            )
            .await
        }
    };
    let Some(organization) = form
        .get("organization")
        .and_then(|o| Uuid::parse_str(o).ok())
    else {
        return refuse("Choose the organization to authorize the app for.").await;
    };
    let account = match server.accounts.account(user).await {
        Ok(Some(account)) if account.session_epoch == sign_in.epoch => account,
        // Gone, or its sessions ended since this browser signed in.
        Ok(_) => return csrf_refused(),
        Err(e) => return internal_page("cannot read the account", e.message),
    };
    let Some(membership) = account
        .memberships
        .iter()
        .find(|m| m.organization_id == organization)
    else {
        return refuse("You are not a member of that organization.").await;
    };
    if membership.two_factor_required && !sign_in.two_factor {
        return refuse(
            "That organization requires two-factor sign-in: turn it on for your account, then sign in again.",
        )
        .await;
    }
    // The installation's scopes: the required ones, and the optional ones asked for and kept.
    let asked: BTreeSet<&String> = request.installation_scopes().collect();
    let kept: BTreeSet<String> = form.scopes.iter().cloned().collect();
    let mut approved: BTreeSet<String> = request.client.required_scopes.clone();
    approved.extend(
        request
            .client
            .optional_scopes
            .iter()
            .filter(|s| asked.contains(s) && kept.contains(*s))
            .cloned(),
    );
    let existing = match crate::installations::for_app(
        &server.db,
        request.client.app.id,
        organization,
    )
    .await
    {
        Ok(existing) => existing,
        Err(e) => return internal_page("cannot read installations", e.message),
    };
    let address = Some(nexus_kit::server::client_address(&headers, &server.keys));
    let audit = |action| Entry::new(action, Actor::user(user), address.clone());
    let installation = match existing {
        None if !membership.may_install() => {
            return refuse(&format!(
                "Only an owner or admin of {} can install {}.",
                membership.organization_name, request.client.app.name
            ))
            .await;
        }
        None => {
            match crate::installations::install(
                &server.db,
                &server.licensing,
                request.client.app.id,
                organization,
                user,
                Some(approved.iter().cloned().collect()),
                audit("installation.created"),
            )
            .await
            {
                Ok(installed) => installed,
                Err(e) => return refuse(&e.message).await,
            }
        }
        Some(installed) => {
            let granted: BTreeSet<String> = installed.scopes().into_iter().collect();
            if approved.is_subset(&granted) {
                installed
            } else if !membership.may_install() {
                // A member signs in with what the organization granted; only an owner or admin
                // could grant more (the token's `scope` tells the app what it got).
                approved.retain(|s| granted.contains(s));
                installed
            } else {
                let wider: Vec<String> = granted.union(&approved).cloned().collect();
                match crate::installations::update_scopes(
                    &server.db,
                    installed.id,
                    organization,
                    wider,
                    audit("installation.scopes_changed"),
                )
                .await
                {
                    Ok(updated) => updated,
                    Err(e) => return refuse(&e.message).await,
                }
            }
        }
    };
    let granted = installation.scopes();
    let scopes: Vec<String> = request
        .scopes
        .iter()
        .filter(|s| is_user_scope(s) || (granted.contains(s) && approved.contains(*s)))
        .cloned()
        .collect();
    issue_code(
        &server,
        &request,
        user,
        organization,
        installation.id,
        &scopes,
        sign_in,
        address,
    )
    .await
}
