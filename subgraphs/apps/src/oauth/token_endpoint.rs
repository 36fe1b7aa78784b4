//! `POST /oauth/token` (RFC 6749 §3.2): the client is authenticated first (HTTP Basic or body
//! credentials, `token_request`), then its grant judged: `authorization_code` (RFC 7636 PKCE),
//! `refresh_token` (rotating), `client_credentials` (installation tokens) and RFC 8693 token
//! exchange (an app's context token for a user → an access token acting for that user). Errors
//! as §5.2 has them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nexus_kit::token::{Claims, TokenType};
use nexus_protocol::oauth::{
    AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN, TOKEN_EXCHANGE, is_user_scope,
};
use sea_orm::EntityTrait;
use uuid::Uuid;

use super::client;
use super::grants::{self, Issued, Redemption, Refused};
use super::server::{OAuthServer, answer, invalid_client, oauth_error, server_error};
use super::token_request::{Malformed, TokenRequest};
use super::tokens::{self, Delegation, IdToken};
use crate::entity::app::{self, AppStatus};
use crate::entity::installation::{self, InstallationStatus};

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Who is asking: a published app, proven by its secret or, for a public client, named.
#[derive(Clone, Copy, Debug)]
pub struct Authenticated {
    pub app_id: Uuid,
    /// Named by `client_id` alone (its manifest says `token_endpoint_auth_method: none`).
    pub public: bool,
}

/// The client, authenticated and published; or the answer that says why not. A client that
/// names itself without a secret is one only if its live manifest makes it a public client.
pub async fn authenticated_client(
    server: &OAuthServer,
    request: &TokenRequest,
) -> Result<Authenticated, Response> {
    if let Some(client_id) = &request.public_client {
        return match client::Client::find(&server.db, client_id).await {
            Ok(Some(found)) if found.public => Ok(Authenticated {
                app_id: found.app.id,
                public: true,
            }),
            Ok(_) => Err(invalid_client(false)),
            Err(e) => Err(server_error("cannot check a client", e.message)),
        };
    }
    let Some((client_id, secret)) = &request.client else {
        return Err(invalid_client(request.basic));
    };
    let app_id = match client::authenticate(&server.db, client_id, secret).await {
        Ok(Some(app_id)) => app_id,
        Ok(None) => return Err(invalid_client(request.basic)),
        Err(e) => return Err(server_error("cannot check a client", e.message)),
    };
    // Credentials follow the app: a suspended (or unpublished) app gets no new token.
    match app::Entity::find_by_id(app_id).one(&server.db).await {
        Ok(Some(app)) if app.status == AppStatus::Published => Ok(Authenticated {
            app_id,
            public: false,
        }),
        Ok(Some(app)) if app.status == AppStatus::Suspended => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "the app is suspended: it gets no tokens until the platform reinstates it",
        )),
        Ok(_) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "the app is not published",
        )),
        Err(e) => Err(server_error("database error", e)),
    }
}

pub async fn token(State(server): State<OAuthServer>, headers: HeaderMap, body: Bytes) -> Response {
    let request = match TokenRequest::parse(&headers, &body) {
        Ok(request) => request,
        Err(Malformed(why)) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &why);
        }
    };
    // The client is authenticated before anything about the grant is said.
    let client = match authenticated_client(&server, &request).await {
        Ok(client) => client,
        Err(answer) => return answer,
    };
    let app_id = client.app_id;
    // RFC 9700 §2.5: a client without a secret redeems sign-ins (bound to it by PKCE and by
    // rotating refresh tokens), and nothing that only the app's server should hold.
    if client.public && ![AUTHORIZATION_CODE, REFRESH_TOKEN].contains(&request.grant_type.as_str())
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "a public client (no secret) redeems sign-ins only: authorization_code and refresh_token; installation tokens and token exchange need the client secret",
        );
    }
    let params = &request.params;
    let param = |name: &str| params.get(name).map(String::as_str);
    match request.grant_type.as_str() {
        CLIENT_CREDENTIALS => super::client_credentials::grant(&server, app_id, params).await,
        AUTHORIZATION_CODE => {
            let Some(code) = param("code") else {
                return invalid_request("code is missing");
            };
            let redeemed = grants::redeem_code(
                &server.db,
                Redemption {
                    client: app_id,
                    code,
                    redirect_uri: param("redirect_uri"),
                    code_verifier: param("code_verifier"),
                },
            )
            .await;
            respond(&server, redeemed, None).await
        }
        REFRESH_TOKEN => {
            let Some(token) = param("refresh_token") else {
                return invalid_request("refresh_token is missing");
            };
            let narrowed = param("scope").map(split_scopes);
            let refreshed = grants::refresh(&server.db, app_id, token).await;
            respond(&server, refreshed, narrowed).await
        }
        TOKEN_EXCHANGE => exchange(&server, app_id, params).await,
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "supported grant types: authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:token-exchange",
        ),
    }
}

fn invalid_request(why: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why)
}

fn invalid_grant(why: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why)
}

fn split_scopes(scope: &str) -> Vec<String> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Tokens for a redeemed code or refresh token: the user must still belong to the
/// organization; `narrowed` (a refresh's `scope`) may only take scopes away.
async fn respond(
    server: &OAuthServer,
    issued: Result<Issued, Refused>,
    narrowed: Option<Vec<String>>,
) -> Response {
    let issued = match issued {
        Ok(issued) => issued,
        Err(Refused::InvalidGrant(why)) => return invalid_grant(why),
        Err(Refused::InvalidRequest(why)) => return invalid_request(why),
        Err(Refused::Internal(e)) => return server_error("cannot redeem a grant", e.message),
    };
    let authorization = &issued.authorization;
    let scopes = match still_granted(&issued, narrowed) {
        Ok(scopes) => scopes,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &why),
    };
    let role = match member_role(server, &issued).await {
        Ok(role) => role,
        Err(answer) => return answer,
    };
    let ttl = server.access_token_ttl;
    let access_token = match tokens::access_token(
        &server.keys,
        ttl,
        &Delegation {
            user: authorization.user_id,
            app: authorization.app_id,
            organization: authorization.organization_id,
            installation: authorization.installation_id,
            role: Some(role),
            scopes: &scopes,
            grant: Some(issued.grant.id),
            two_factor: issued.grant.two_factor,
        },
    ) {
        Ok(token) => token,
        Err(e) => return server_error("cannot sign a token", e),
    };
    let mut body = serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "scope": scopes.join(" "),
    });
    if let Some(refresh_token) = &issued.refresh_token {
        body["refresh_token"] = refresh_token.clone().into();
    }
    if scopes.iter().any(|s| s == "openid") {
        match signed_id_token(server, &issued, &scopes, &access_token, ttl).await {
            Ok(id_token) => body["id_token"] = id_token.into(),
            Err(answer) => return answer,
        }
    }
    answer(StatusCode::OK, body)
}

/// The scopes the new tokens carry: the grant's that the installation still grants, or the
/// narrower set a refresh asks for; otherwise why that is an `invalid_scope`.
fn still_granted(issued: &Issued, narrowed: Option<Vec<String>>) -> Result<Vec<String>, String> {
    // What the installation no longer grants is not granted any more (the user's own scopes are
    // the user's).
    let installed = issued.installation.scopes();
    let mut scopes: Vec<String> = issued
        .grant
        .scopes()
        .into_iter()
        .filter(|s| is_user_scope(s) || installed.contains(s))
        .collect();
    if let Some(narrowed) = narrowed {
        if let Some(extra) = narrowed.iter().find(|s| !scopes.contains(s)) {
            return Err(format!(
                "`{extra}` was not granted: a refresh may only narrow the scopes"
            ));
        }
        scopes = narrowed;
    }
    Ok(scopes)
}

/// The user's role in the grant's organization now; a grant whose user left it is revoked.
async fn member_role(server: &OAuthServer, issued: &Issued) -> Result<String, Response> {
    let authorization = &issued.authorization;
    match server
        .memberships
        .role(authorization.user_id, authorization.organization_id)
        .await
    {
        Ok(answer) if answer.two_factor_required && !issued.grant.two_factor => Err(invalid_grant(
            "the organization requires two-factor sign-in, and this sign-in had none: sign in again with a second factor",
        )),
        Ok(nexus_kit::authority::MembershipAnswer {
            role: Some(role), ..
        }) => Ok(role),
        Ok(_) => {
            let _ = grants::revoke_grant(&server.db, issued.grant.id).await;
            Err(invalid_grant(
                "the user is no longer a member of that organization",
            ))
        }
        Err(e) => Err(server_error("cannot check the membership", e.message)),
    }
}

/// The OpenID Connect id_token that goes with `access_token`: who signed in, as the account is
/// now.
async fn signed_id_token(
    server: &OAuthServer,
    issued: &Issued,
    scopes: &[String],
    access_token: &str,
    ttl: std::time::Duration,
) -> Result<String, Response> {
    let authorization = &issued.authorization;
    let account = match server.accounts.account(authorization.user_id).await {
        Ok(Some(account)) => account,
        Ok(None) => return Err(invalid_grant("the user's account no longer exists")),
        Err(e) => return Err(server_error("cannot read the account", e.message)),
    };
    let id_token = tokens::id_token(
        &server.keys,
        &IdToken {
            app: authorization.app_id,
            account: &account,
            organization: authorization.organization_id,
            scopes,
            nonce: issued.nonce.as_deref(),
            auth_time: issued.grant.auth_time.timestamp(),
            access_token,
            ttl,
        },
    );
    id_token.map_err(|e| server_error("cannot sign an id_token", e))
}

/// RFC 8693: the app trades the context token the router gave it for a user's call (its
/// `subject_token`) for an access token acting for that user in that organization, within what
/// the context token carried (and `scope`, if given, narrows it). No refresh token: a new call
/// brings a new context token.
async fn exchange(
    server: &OAuthServer,
    app_id: Uuid,
    params: &BTreeMap<String, String>,
) -> Response {
    let subject_token = match subject_token(params) {
        Ok(subject_token) => subject_token,
        Err(why) => return invalid_request(why),
    };
    let context = match context_claims(server, app_id, subject_token).await {
        Ok(context) => context,
        Err(answer) => return answer,
    };
    let (Ok(user), Some(Ok(organization)), Some(Ok(installation_id))) = (
        Uuid::parse_str(&context.sub),
        context.org.as_deref().map(Uuid::parse_str),
        context.inst.as_deref().map(Uuid::parse_str),
    ) else {
        return invalid_grant(
            "the context token does not name a user, organization and installation",
        );
    };
    let installation =
        match active_installation(server, app_id, organization, installation_id).await {
            Ok(installation) => installation,
            Err(answer) => return answer,
        };
    let grant = match grant_behind(server, &context).await {
        Ok(grant) => grant,
        Err(answer) => return answer,
    };
    let role = match context_role(server, user, organization, &context).await {
        Ok(role) => role,
        Err(answer) => return answer,
    };
    let scopes = match exchanged_scopes(&installation, &context, params) {
        Ok(scopes) => scopes,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &why),
    };
    let delegation = Delegation {
        user,
        app: app_id,
        organization,
        installation: installation.id,
        role: Some(role),
        scopes: &scopes,
        grant,
        two_factor: context.two_factor(),
    };
    sign_exchanged(server, &delegation).await
}

/// The context token presented, when the request asks for what token exchange gives (an access
/// token for a context token); otherwise why it is an `invalid_request`.
fn subject_token(params: &BTreeMap<String, String>) -> Result<&String, &'static str> {
    let Some(subject_token) = params.get("subject_token") else {
        return Err("subject_token is missing");
    };
    match params.get("subject_token_type").map(String::as_str) {
        Some(JWT_TOKEN_TYPE | ACCESS_TOKEN_TYPE) => {}
        _ => {
            return Err(
                "subject_token_type must be urn:ietf:params:oauth:token-type:jwt (the context token)",
            );
        }
    }
    if params
        .get("requested_token_type")
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err("only an access token can be requested");
    }
    Ok(subject_token)
}

/// The context token's claims, when it is one addressed to this app.
async fn context_claims(
    server: &OAuthServer,
    app_id: Uuid,
    subject_token: &str,
) -> Result<Claims, Response> {
    let app = match app::Entity::find_by_id(app_id).one(&server.db).await {
        Ok(Some(app)) => app,
        Ok(None) => return Err(invalid_grant("unknown app")),
        Err(e) => return Err(server_error("database error", e)),
    };
    // A context token is addressed to the app's namespace: only that app can present it.
    match server.keys.verify(subject_token, &app.namespace) {
        Ok(claims) if claims.typ == TokenType::Context => Ok(claims),
        Ok(_) => Err(invalid_grant("subject_token is not a context token")),
        Err(e) => Err(invalid_grant(&format!("subject_token: {e}"))),
    }
}

/// The installation the context token names, while it is still this app's, active, in that
/// organization.
async fn active_installation(
    server: &OAuthServer,
    app_id: Uuid,
    organization: Uuid,
    installation_id: Uuid,
) -> Result<installation::Model, Response> {
    match installation::Entity::find_by_id(installation_id)
        .one(&server.db)
        .await
    {
        Ok(Some(i))
            if i.app_id == app_id
                && i.organization_id == organization
                && i.status == InstallationStatus::Active =>
        {
            Ok(i)
        }
        Ok(_) => Err(invalid_grant("the app is not installed there any more")),
        Err(e) => Err(server_error("database error", e)),
    }
}

/// The live grant the exchanged token stays under, if the call came with an app's token.
async fn grant_behind(server: &OAuthServer, context: &Claims) -> Result<Option<Uuid>, Response> {
    // A call made with an app's token acting for the user: the exchanged token stays under the
    // grant that token came from (revoking it ends both). A call made with an exchanged token has
    // no grant to stay under: exchanging again would renew the app's access without the user.
    match (
        &context.client_id,
        context.gid.as_deref().map(Uuid::parse_str),
    ) {
        (None, None) => Ok(None),
        (Some(_), Some(Ok(grant))) => match super::grants::grant_is_live(&server.db, grant).await {
            Ok(true) => Ok(Some(grant)),
            Ok(false) => Err(invalid_grant("the sign-in behind this call was revoked")),
            Err(e) => Err(server_error("cannot check a grant", e.message)),
        },
        _ => Err(invalid_grant(
            "a call made with an exchanged token cannot be exchanged again: the user must sign in",
        )),
    }
}

/// The user's role in the organization now, as the call's sign-in may act there.
async fn context_role(
    server: &OAuthServer,
    user: Uuid,
    organization: Uuid,
    context: &Claims,
) -> Result<String, Response> {
    // Only a user's call: an API key's or an installation's context names no member.
    match server.memberships.role(user, organization).await {
        Ok(answer) if answer.two_factor_required && !context.two_factor() => Err(invalid_grant(
            "the organization requires two-factor sign-in, and the user's session had none",
        )),
        Ok(nexus_kit::authority::MembershipAnswer {
            role: Some(role), ..
        }) => Ok(role),
        Ok(_) => Err(invalid_grant(
            "the context token is not a user's (or the user left the organization)",
        )),
        Err(e) => Err(server_error("cannot check the membership", e.message)),
    }
}

/// The installation's scopes the context token carried that it still grants, or the narrower
/// set `scope` asks for; otherwise why that is an `invalid_scope`.
fn exchanged_scopes(
    installation: &installation::Model,
    context: &Claims,
    params: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let granted = installation.scopes();
    let mut scopes: Vec<String> = context
        .scopes
        .iter()
        .filter(|s| granted.contains(s) && !is_user_scope(s))
        .cloned()
        .collect();
    if let Some(asked) = params.get("scope").map(|s| split_scopes(s)) {
        if let Some(extra) = asked.iter().find(|s| !scopes.contains(s)) {
            return Err(format!(
                "`{extra}` is not within the installation's scopes for this call"
            ));
        }
        scopes = asked;
    }
    Ok(scopes)
}

/// Signs the exchanged access token and puts the exchange on the record before answering.
async fn sign_exchanged(server: &OAuthServer, delegation: &Delegation<'_>) -> Response {
    let ttl = server.access_token_ttl;
    match tokens::access_token(&server.keys, ttl, delegation) {
        Ok(token) => {
            // An app now acts for the user outside the call it was given: on the record.
            let entry = nexus_kit::audit::Entry::new(
                "oauth.token_exchanged",
                nexus_kit::audit::Actor::app(delegation.app),
                None,
            )
            .in_organization(delegation.organization)
            .target("user", delegation.user)
            .details(serde_json::json!({
                "installation_id": delegation.installation,
                "scopes": delegation.scopes,
                "grant_id": delegation.grant,
            }));
            if let Err(e) = nexus_kit::audit::append(&server.db, entry).await {
                return server_error("cannot record the exchange", e);
            }
            exchanged(token, ttl, delegation.scopes)
        }
        Err(e) => server_error("cannot sign a token", e),
    }
}

fn exchanged(token: String, ttl: std::time::Duration, scopes: &[String]) -> Response {
    answer(
        StatusCode::OK,
        serde_json::json!({
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": ttl.as_secs(),
            "scope": scopes.join(" "),
        }),
    )
}
