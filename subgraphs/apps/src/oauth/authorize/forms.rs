//! The login and consent forms: each posts the original request back (judged again), with the
//! CSRF token bound to the browser's cookie.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use nexus_kit::Code;
use nexus_kit::accounts::{Account, AccountMembership, Credentials};
use nexus_kit::audit::{Actor, Entry};
use nexus_protocol::oauth::{AUTHORIZE_PATH, is_user_scope};
use uuid::Uuid;

use super::answers::{internal_page, see_other};
use super::decision::{decide, issue_code, login_page};
use super::request::{AuthorizationRequest, parse};
use crate::entity::installation;
use crate::oauth::browser::{BrowserSession, SignIn};
use crate::oauth::pages::{self};
use crate::oauth::server::OAuthServer;

/// A posted form's fields; `scope` may repeat.
pub(super) struct Form {
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

/// The form, and the browser's session if the form came from it (its CSRF token matches the
/// session's); `None` answers `csrf_refused`.
fn from_this_browser(
    server: &OAuthServer,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<(Form, BrowserSession)> {
    let form = Form::parse(body);
    let session = BrowserSession::from_request(headers, &server.keys)?;
    session
        .csrf_matches(form.get("csrf"))
        .then_some((form, session))
}

pub(super) fn csrf_refused() -> Response {
    pages::error(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was not sent from this sign-in (its security token is missing or stale). Go back to the app and start again.",
    )
}

/// The request the form posts back, judged again; the answer to send when it is not one.
async fn posted_request(
    server: &OAuthServer,
    form: &Form,
) -> Result<AuthorizationRequest, Response> {
    parse(server, form.get("request").unwrap_or_default())
        .await
        .map_err(|answer| *answer)
}

/// `POST /oauth/login`: the login form.
pub async fn log_in(
    State(server): State<OAuthServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((form, session)) = from_this_browser(&server, &headers, &body) else {
        return csrf_refused();
    };
    let request = match posted_request(&server, &form).await {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    let email = form.get("email").unwrap_or_default();
    let credentials = credentials(&server, &headers, &form);
    match server.accounts.authenticate(&credentials).await {
        Ok(account) => signed_in(&server, &request, &account),
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

/// What the login form asks identity to check.
fn credentials(server: &OAuthServer, headers: &HeaderMap, form: &Form) -> Credentials {
    Credentials {
        email: form.get("email").unwrap_or_default().to_owned(),
        password: form.get("password").unwrap_or_default().to_owned(),
        // identity's login limits count the browser's address.
        address: nexus_kit::server::client_address(headers, &server.keys),
        challenge: form.get("challenge").map(str::to_owned),
        code: form.get("code").map(str::to_owned),
        known_device: nexus_kit::accounts::known_device_from_headers(headers),
    }
}

/// Signed in: back to the request with the new session's cookie (and the device's).
fn signed_in(server: &OAuthServer, request: &AuthorizationRequest, account: &Account) -> Response {
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
                HeaderValue::from_str(&nexus_kit::accounts::known_device_cookie(token, secure)).ok()
            }) {
                response.headers_mut().append(header::SET_COOKIE, device);
            }
            response
        }
        Err(e) => internal_page("cannot sign a browser session", e),
    }
}

/// `POST /oauth/consent`: Approve or Deny.
pub async fn consent(
    State(server): State<OAuthServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((form, session)) = from_this_browser(&server, &headers, &body) else {
        return csrf_refused();
    };
    let (Some(user), Some(sign_in)) = (session.user(), session.sign_in()) else {
        return csrf_refused();
    };
    let request = match posted_request(&server, &form).await {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    let issuer = server.keys.issuer();
    if form.get("decision") != Some("approve") {
        return request.error(issuer, "access_denied", "the user denied the request");
    }
    let approval = Approval {
        server: &server,
        request: &request,
        session: &session,
        user,
        sign_in,
    };
    let Some(organization) = form
        .get("organization")
        .and_then(|o| Uuid::parse_str(o).ok())
    else {
        return approval
            .refuse("Choose the organization to authorize the app for.")
            .await;
    };
    let account = match server.accounts.account(user).await {
        Ok(Some(account)) if account.session_epoch == sign_in.epoch => account,
        // Gone, or its sessions ended since this browser signed in.
        Ok(_) => return csrf_refused(),
        Err(e) => return internal_page("cannot read the account", e.message),
    };
    let membership = match membership_allowing(&account, organization, sign_in) {
        Ok(membership) => membership,
        Err(problem) => return approval.refuse(problem).await,
    };
    let mut approved = approved_scopes(&request, &form);
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
    let installation = match approval
        .installation(organization, membership, existing, &mut approved, &address)
        .await
    {
        Ok(installation) => installation,
        Err(problem) => return approval.refuse(&problem).await,
    };
    let scopes = code_scopes(&request, &installation, &approved);
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

/// A signed-in browser approving a request on the consent page: what a refusal shows again and
/// an installation records.
struct Approval<'a> {
    server: &'a OAuthServer,
    request: &'a AuthorizationRequest,
    session: &'a BrowserSession,
    user: Uuid,
    sign_in: SignIn,
}

impl Approval<'_> {
    /// The consent page again, saying what kept the approval from going through.
    async fn refuse(&self, message: &str) -> Response {
        decide(
            self.server,
            self.request,
            Some(self.session),
            self.user,
            self.sign_in,
            Some(message),
        )
        .await
    }

    /// The installation the code acts through: a new one (only an owner or admin installs), or
    /// the existing one as the approval leaves it; otherwise what the consent page says.
    async fn installation(
        &self,
        organization: Uuid,
        membership: &AccountMembership,
        existing: Option<installation::Model>,
        approved: &mut BTreeSet<String>,
        address: &Option<String>,
    ) -> Result<installation::Model, String> {
        let (server, app) = (self.server, &self.request.client.app);
        let audit = |action| Entry::new(action, Actor::user(self.user), address.clone());
        let installation = match existing {
            None if !membership.may_install() => {
                return Err(format!(
                    "Only an owner or admin of {} can install {}.",
                    membership.organization_name, app.name
                ));
            }
            None => {
                crate::installations::install(
                    &server.db,
                    &server.licensing,
                    app.id,
                    organization,
                    self.user,
                    Some(approved.iter().cloned().collect()),
                    audit("installation.created"),
                )
                .await
            }
            Some(installed) => {
                let may_widen = membership.may_install();
                let audit = || audit("installation.scopes_changed");
                keep_or_widen(server, organization, installed, may_widen, approved, audit).await
            }
        };
        installation.map_err(|e| e.message)
    }
}

/// The user's membership of the organization, when it lets this sign-in authorize the app
/// there; otherwise what the consent page says.
fn membership_allowing(
    account: &Account,
    organization: Uuid,
    sign_in: SignIn,
) -> Result<&AccountMembership, &'static str> {
    let Some(membership) = account
        .memberships
        .iter()
        .find(|m| m.organization_id == organization)
    else {
        return Err("You are not a member of that organization.");
    };
    if membership.two_factor_required && !sign_in.two_factor {
        return Err(
            "That organization requires two-factor sign-in: turn it on for your account, then sign in again.",
        );
    }
    Ok(membership)
}

/// The installation's scopes: the required ones, and the optional ones asked for and kept.
fn approved_scopes(request: &AuthorizationRequest, form: &Form) -> BTreeSet<String> {
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
    approved
}

/// The existing installation as the approval leaves it: as it is when it grants everything
/// approved, else widened by an owner or admin, or the approval narrowed for a member.
async fn keep_or_widen(
    server: &OAuthServer,
    organization: Uuid,
    installed: installation::Model,
    may_widen: bool,
    approved: &mut BTreeSet<String>,
    audit: impl FnOnce() -> Entry,
) -> nexus_kit::Result<installation::Model> {
    let granted: BTreeSet<String> = installed.scopes().into_iter().collect();
    if approved.is_subset(&granted) {
        Ok(installed)
    } else if !may_widen {
        // A member signs in with what the organization granted; only an owner or admin
        // could grant more (the token's `scope` tells the app what it got).
        approved.retain(|s| granted.contains(s));
        Ok(installed)
    } else {
        let wider: Vec<String> = granted.union(approved).cloned().collect();
        crate::installations::update_scopes(&server.db, installed.id, organization, wider, audit())
            .await
    }
}

/// The scopes the code carries: the user's asked for, and the installation's both granted and
/// approved.
fn code_scopes(
    request: &AuthorizationRequest,
    installation: &installation::Model,
    approved: &BTreeSet<String>,
) -> Vec<String> {
    let granted = installation.scopes();
    request
        .scopes
        .iter()
        .filter(|s| is_user_scope(s) || (granted.contains(s) && approved.contains(*s)))
        .cloned()
        .collect()
}
