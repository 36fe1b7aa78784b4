//! What a judged request leads to: the login page, the consent page, or — when a standing
//! consent covers it where the app is still installed with those scopes — a code at once.

use std::collections::BTreeSet;

use axum::http::{StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use nexus_kit::accounts::Account;
use nexus_kit::audit::{Actor, Entry};
use nexus_protocol::oauth::USER_SCOPES;
use uuid::Uuid;

use super::answers::internal_page;
use super::request::AuthorizationRequest;
use crate::entity::installation;
use crate::oauth::browser::{BrowserSession, SignIn};
use crate::oauth::grants::{self, NewCode};
use crate::oauth::pages::{self, ConsentPage, LoginPage, OrganizationChoice, ScopeLine};
use crate::oauth::server::OAuthServer;

pub(super) fn login_page(
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
pub(super) fn without_prompt_login(query: &str) -> String {
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
pub(super) struct Candidate {
    organization: Uuid,
    name: String,
    may_install: bool,
    installation: Option<installation::Model>,
}

/// The organizations this sign-in may authorize the app for: where the user may install it or
/// it is installed, and — for one requiring two-factor sign-in — only with a second factor.
pub(super) async fn candidates(
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
pub(super) async fn decide(
    server: &OAuthServer,
    request: &AuthorizationRequest,
    session: Option<&BrowserSession>,
    user: Uuid,
    sign_in: SignIn,
    problem: Option<&str>,
) -> Response {
    let issuer = server.keys.issuer();
    let account = match signed_in_account(server, request, user, sign_in).await {
        Ok(account) => account,
        Err(answer) => return answer,
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
        match standing_consent(server, request, user, &candidates).await {
            Ok(Some((organization, installation))) => {
                // (A standing consent that covers the request records nothing: no address.)
                return issue_code(
                    server,
                    request,
                    user,
                    organization,
                    installation,
                    &request.scopes,
                    sign_in,
                    None,
                )
                .await;
            }
            Ok(None) => {}
            Err(answer) => return answer,
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
    let developer = match developer_name(server, request).await {
        Ok(developer) => developer,
        Err(answer) => return answer,
    };
    let scopes = scope_lines(request, &candidates);
    let organizations = organization_choices(&candidates);
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

/// The signed-in user's account, while this browser's sign-in still counts; otherwise the login
/// page (or the error page) to answer with.
async fn signed_in_account(
    server: &OAuthServer,
    request: &AuthorizationRequest,
    user: Uuid,
    sign_in: SignIn,
) -> Result<Account, Response> {
    match server.accounts.account(user).await {
        Ok(Some(account)) if account.session_epoch == sign_in.epoch => Ok(account),
        // The account is gone, or its sessions ended since this browser signed in (a password
        // reset or change): sign in again.
        Ok(_) => Err(login_page(
            server,
            request,
            None,
            StatusCode::OK,
            "",
            None,
            None,
        )),
        Err(e) => Err(internal_page("cannot read the account", e.message)),
    }
}

/// The first organization (and its installation) where the user's standing consent covers the
/// request and the installation still grants what it asks for, if any.
async fn standing_consent(
    server: &OAuthServer,
    request: &AuthorizationRequest,
    user: Uuid,
    candidates: &[Candidate],
) -> Result<Option<(Uuid, Uuid)>, Response> {
    for candidate in candidates {
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
            Err(e) => return Err(internal_page("cannot read consents", e.message)),
        };
        let granted = installation.scopes();
        let covered = remembered.is_some_and(|r| {
            r.installation_id == installation.id
                && request.scopes.iter().all(|s| r.scopes().contains(s))
        }) && request.installation_scopes().all(|s| granted.contains(s));
        if covered {
            return Ok(Some((candidate.organization, installation.id)));
        }
    }
    Ok(None)
}

/// Who the consent page says made the app.
async fn developer_name(
    server: &OAuthServer,
    request: &AuthorizationRequest,
) -> Result<String, Response> {
    match server
        .accounts
        .account(request.client.app.developer_id)
        .await
    {
        Ok(Some(developer)) => Ok(developer.name),
        Ok(None) => Ok("an unknown developer".to_owned()),
        Err(e) => Err(internal_page("cannot read the developer", e.message)),
    }
}

/// The consent page's lines: the user's scopes asked for, then the installation's.
fn scope_lines(request: &AuthorizationRequest, candidates: &[Candidate]) -> Vec<ScopeLine> {
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
    scopes
}

/// The organizations the consent page offers, each with what approving there does.
fn organization_choices(candidates: &[Candidate]) -> Vec<OrganizationChoice> {
    candidates
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
        .collect()
}

/// `address`: the browser's, when it is known here (for the audit log).
#[allow(clippy::too_many_arguments)]
pub(super) async fn issue_code(
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
