//! `GET`/`POST /oauth/userinfo` (OpenID Connect Core §5.3): the signed-in user's claims for an
//! access token acting for them with `openid` (and `profile`, `email` for those claims). Errors
//! per RFC 6750 §3: `invalid_token` (401) and `insufficient_scope` (403), in
//! `WWW-Authenticate`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nexus_kit::token::{CORE_AUDIENCE, Claims, TokenType};
use sea_orm::EntityTrait;
use uuid::Uuid;

use super::server::{OAuthServer, answer, server_error};
use crate::entity::installation::{self, InstallationStatus};

fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = answer(
        status,
        serde_json::json!({ "error": error, "error_description": description }),
    );
    let challenge = format!(
        "Bearer error=\"{error}\", error_description=\"{}\"",
        description.replace('"', "'")
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A delegated access token that is still good: signature, expiry, and `delegation_is_live`.
pub async fn live_delegated_token(server: &OAuthServer, token: &str) -> Result<Claims, String> {
    let claims = server
        .keys
        .verify(token, CORE_AUDIENCE)
        .map_err(|e| e.to_string())?;
    if claims.typ != TokenType::Delegated {
        return Err("this is not a token acting for a user".into());
    }
    delegation_is_live(server, &claims).await?;
    Ok(claims)
}

/// Whether a (verified) delegated token still acts: its grant not revoked, its installation
/// active, its user still a member of the organization.
pub async fn delegation_is_live(server: &OAuthServer, claims: &Claims) -> Result<(), String> {
    if let Some(grant) = claims.gid.as_deref() {
        let grant = Uuid::parse_str(grant).map_err(|_| "malformed grant id".to_owned())?;
        match super::grants::grant_is_live(&server.db, grant).await {
            Ok(true) => {}
            Ok(false) => return Err("the token was revoked".into()),
            Err(e) => return Err(format!("cannot check the token now: {}", e.message)),
        }
    }
    let parse = |v: Option<&str>| v.and_then(|v| Uuid::parse_str(v).ok());
    let (Some(installation), Some(organization), Some(user)) = (
        parse(claims.inst.as_deref()),
        parse(claims.org.as_deref()),
        parse(Some(&claims.sub)),
    ) else {
        return Err("the token names no installation, organization or user".into());
    };
    match installation::Entity::find_by_id(installation)
        .one(&server.db)
        .await
    {
        Ok(Some(i)) if i.status == InstallationStatus::Active => {}
        Ok(_) => return Err("the app is no longer installed there".into()),
        Err(e) => return Err(format!("cannot check the token now: {e}")),
    }
    match server.memberships.role(user, organization).await {
        Ok(answer) if answer.two_factor_required && !claims.two_factor() => Err(
            "the organization requires two-factor sign-in, and this token's sign-in had none"
                .into(),
        ),
        Ok(answer) if answer.role.is_some() => Ok(()),
        Ok(_) => Err("the user is no longer a member of the organization".into()),
        Err(e) => Err(format!("cannot check the token now: {}", e.message)),
    }
}

pub async fn userinfo(State(server): State<OAuthServer>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            "send the access token as Authorization: Bearer",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    let claims = match live_delegated_token(&server, token.trim()).await {
        Ok(claims) => claims,
        Err(why) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", &why),
    };
    if !claims.scopes.iter().any(|s| s == "openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "userinfo needs the openid scope",
        );
    }
    let Ok(user) = Uuid::parse_str(&claims.sub) else {
        return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "no user");
    };
    match server.accounts.account(user).await {
        Ok(Some(account)) => answer(
            StatusCode::OK,
            super::tokens::user_claims(
                &account,
                claims.org.as_deref().unwrap_or_default(),
                &claims.scopes,
            ),
        ),
        Ok(None) => bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the account no longer exists",
        ),
        Err(e) => server_error("cannot read the account", e.message),
    }
}
