//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662), for an app's own
//! tokens, the app authenticated as at the token endpoint. Revoking either token of a sign-in
//! (refresh or access) revokes its grant: every token of that sign-in stops working. Unknown or
//! foreign tokens are answered as if revoked (`200`) or inactive (`{"active": false}`), saying
//! nothing about other clients' tokens.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nexus_kit::token::{CORE_AUDIENCE, Claims, TokenType};
use sea_orm::EntityTrait;
use uuid::Uuid;

use super::server::{OAuthServer, answer, oauth_error, server_error};
use super::token_endpoint::authenticated_client;
use super::token_request::{Malformed, TokenRequest};
use crate::entity::installation::{self, InstallationStatus};

/// The request's client and `token`, or the answer that refuses it.
async fn client_and_token(
    server: &OAuthServer,
    headers: &HeaderMap,
    body: &[u8],
    public_allowed: bool,
) -> Result<(Uuid, String), Response> {
    let request = match TokenRequest::parse_client_request(headers, body) {
        Ok(request) => request,
        Err(Malformed(why)) => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &why,
            ));
        }
    };
    let client = authenticated_client(server, &request).await?;
    // A public client may revoke its own sign-ins (RFC 7009 §5), not read tokens' contents.
    if client.public && !public_allowed {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "introspection needs the client secret",
        ));
    }
    let client = client.app_id;
    match request.params.get("token") {
        Some(token) => Ok((client, token.clone())),
        None => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is missing",
        )),
    }
}

/// The client's own access token (delegated or installation), verified.
fn own_access_token(server: &OAuthServer, client: Uuid, token: &str) -> Option<Claims> {
    let claims = server.keys.verify(token, CORE_AUDIENCE).ok()?;
    let owner = match claims.typ {
        TokenType::Delegated => claims.client_id.clone()?,
        TokenType::Installation => claims.sub.clone(),
        _ => return None,
    };
    (owner == client.to_string()).then_some(claims)
}

pub async fn revoke(
    State(server): State<OAuthServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, token) = match client_and_token(&server, &headers, &body, true).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let grant = match super::grants::refresh_token_of(&server.db, client, &token).await {
        Ok(Some((_, grant, _))) => Some(grant.id),
        Ok(None) => own_access_token(&server, client, &token)
            .and_then(|c| c.gid)
            .and_then(|g| Uuid::parse_str(&g).ok()),
        Err(e) => return server_error("cannot read a refresh token", e.message),
    };
    if let Some(grant) = grant
        && let Err(e) = super::grants::revoke_grant(&server.db, grant).await
    {
        return server_error("cannot revoke a grant", e.message);
    }
    answer(StatusCode::OK, serde_json::json!({}))
}

pub async fn introspect(
    State(server): State<OAuthServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, token) = match client_and_token(&server, &headers, &body, false).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let inactive = || answer(StatusCode::OK, serde_json::json!({ "active": false }));
    match super::grants::refresh_token_of(&server.db, client, &token).await {
        Ok(Some((stored, grant, authorization))) => {
            let live = stored.used_at.is_none()
                && stored.expires_at > chrono::Utc::now()
                && grant.revoked_at.is_none()
                && authorization.revoked_at.is_none();
            if !live {
                return inactive();
            }
            return answer(
                StatusCode::OK,
                serde_json::json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "client_id": client.to_string(),
                    "sub": authorization.user_id.to_string(),
                    "scope": grant.scopes().join(" "),
                    "exp": stored.expires_at.timestamp(),
                    "iat": stored.created_at.timestamp(),
                    "iss": server.keys.issuer(),
                    "org": authorization.organization_id.to_string(),
                }),
            );
        }
        Ok(None) => {}
        Err(e) => return server_error("cannot read a refresh token", e.message),
    }
    let Some(claims) = own_access_token(&server, client, &token) else {
        return inactive();
    };
    let live = match claims.typ {
        TokenType::Delegated => super::userinfo::delegation_is_live(&server, &claims)
            .await
            .is_ok(),
        _ => match claims.inst.as_deref().map(Uuid::parse_str) {
            Some(Ok(id)) => match installation::Entity::find_by_id(id).one(&server.db).await {
                Ok(found) => found.is_some_and(|i| i.status == InstallationStatus::Active),
                Err(e) => return server_error("database error", e),
            },
            _ => false,
        },
    };
    if !live {
        return inactive();
    }
    answer(
        StatusCode::OK,
        serde_json::json!({
            "active": true,
            "token_type": "Bearer",
            "client_id": client.to_string(),
            "sub": claims.sub,
            "aud": claims.aud,
            "scope": claims.scopes.join(" "),
            "exp": claims.exp,
            "iat": claims.iat,
            "iss": claims.iss,
            "jti": claims.jti,
            "org": claims.org,
        }),
    )
}
