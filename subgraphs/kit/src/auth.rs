//! Who is calling. Every subgraph verifies the bearer token itself (it does not trust the router
//! blindly) and hands resolvers a `Caller`; the guards that use it live next to the data.

use std::sync::Arc;

use async_graphql::Context;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use uuid::Uuid;

use crate::error::{Code, Error, Result};
use nexus_protocol::token::{CORE_AUDIENCE, Claims, KeyStore, TokenError, TokenType};

#[derive(Clone, Debug)]
pub struct Principal {
    /// The signed-in user; `None` for an API key.
    pub user_id: Option<Uuid>,
    /// The organization the token acts in.
    pub organization_id: Option<Uuid>,
    /// Role in `organization_id`: when the token was issued, or (in services that check with
    /// identity, `kit::authority`) now.
    pub role: Option<String>,
    pub scopes: Vec<String>,
    pub platform_admin: bool,
    pub typ: TokenType,
    pub claims: Arc<Claims>,
}

#[derive(Clone, Debug, Default)]
pub enum Caller {
    #[default]
    Anonymous,
    Authenticated(Principal),
}

impl Caller {
    /// Reads `Authorization: Bearer …`; no header is anonymous, a bad token is an error.
    pub fn from_headers(headers: &HeaderMap, keys: &KeyStore) -> Result<Caller, TokenError> {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Ok(Caller::Anonymous);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                TokenError::Invalid("expected `Authorization: Bearer <token>`".into())
            })?;
        let claims = keys.verify(token.trim(), CORE_AUDIENCE)?;
        Caller::from_claims(claims)
    }

    pub fn from_claims(claims: Claims) -> Result<Caller, TokenError> {
        let parse = |what: &str, v: &str| {
            Uuid::parse_str(v).map_err(|_| TokenError::Invalid(format!("`{what}` is not a UUID")))
        };
        // A delegated token names a user but is an app's: it acts within its scopes, never as
        // the user themselves (no account changes, no developer's or admin's powers).
        let user_id = match claims.typ {
            TokenType::Access | TokenType::Context => Some(parse("sub", &claims.sub)?),
            TokenType::Delegated => {
                parse("sub", &claims.sub)?;
                None
            }
            TokenType::ApiKey | TokenType::Installation | TokenType::Service => None,
        };
        let organization_id = claims.org.as_deref().map(|o| parse("org", o)).transpose()?;
        Ok(Caller::Authenticated(Principal {
            user_id,
            organization_id,
            role: claims.role.clone(),
            scopes: claims.scopes.clone(),
            platform_admin: claims.adm,
            typ: claims.typ,
            claims: Arc::new(claims),
        }))
    }

    /// A token acting for a user in an organization (theirs, or an app's on their behalf):
    /// (user, organization), whose membership `kit::authority` checks against identity.
    pub fn membership_claimed(&self) -> Option<(Uuid, Uuid)> {
        let p = self.principal()?;
        let user = match p.typ {
            TokenType::Access => p.user_id?,
            TokenType::Delegated => Uuid::parse_str(&p.claims.sub).ok()?,
            _ => return None,
        };
        Some((user, p.organization_id?))
    }

    /// The caller with the role it has now (`None`: no longer a member, so the token acts in no
    /// organization).
    pub fn with_current_role(self, role: Option<String>) -> Caller {
        match self {
            Caller::Authenticated(mut p) => {
                if role.is_none() {
                    p.organization_id = None;
                }
                p.role = role;
                Caller::Authenticated(p)
            }
            anonymous => anonymous,
        }
    }

    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Anonymous => None,
            Caller::Authenticated(p) => Some(p),
        }
    }

    /// The principal, or `UNAUTHENTICATED`.
    pub fn require(&self) -> Result<&Principal> {
        self.principal().ok_or_else(|| {
            Code::Unauthenticated
                .error("sign in first: send `Authorization: Bearer <access token>`")
        })
    }

    /// The signed-in user, or `UNAUTHENTICATED` (API keys act for an organization, not a user).
    pub fn require_user(&self) -> Result<Uuid> {
        self.require()?.user_id.ok_or_else(|| {
            Code::Forbidden.error("this needs a signed-in user; API keys cannot do it")
        })
    }

    pub fn user_id(&self) -> Option<Uuid> {
        self.principal().and_then(|p| p.user_id)
    }

    /// Another core service (a service token), not a user or an app.
    pub fn is_service(&self) -> bool {
        self.principal()
            .is_some_and(|p| p.typ == TokenType::Service)
    }

    /// The app an installation token acts for (its `sub`).
    pub fn installation_app(&self) -> Option<Uuid> {
        self.principal()
            .filter(|p| p.typ == TokenType::Installation)
            .and_then(|p| Uuid::parse_str(&p.claims.sub).ok())
    }

    /// `FORBIDDEN` unless another core service is calling.
    pub fn require_service(&self) -> Result<()> {
        if self.is_service() {
            Ok(())
        } else {
            Err(Code::Forbidden.error("only Nexus's own services can do this"))
        }
    }

    pub fn is_platform_admin(&self) -> bool {
        self.principal().is_some_and(|p| p.platform_admin)
    }

    /// The tenant rule of the apps and licensing subgraphs: an organization's data is readable with
    /// a token acting in that organization, or by a platform admin.
    pub fn acts_in(&self, organization_id: Uuid) -> bool {
        self.principal()
            .is_some_and(|p| p.platform_admin || p.organization_id == Some(organization_id))
    }

    /// A user's own token carries every scope; API keys and app tokens only the ones granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.principal()
            .is_some_and(|p| p.typ == TokenType::Access || p.scopes.iter().any(|s| s == scope))
    }

    /// The tenant rule with a scope: acting in the organization with `scope`, or a platform admin.
    pub fn reads_in(&self, organization_id: Uuid, scope: &str) -> bool {
        self.is_platform_admin() || (self.acts_in(organization_id) && self.has_scope(scope))
    }

    /// Owner or admin of the organization the token acts in — with their own token (an app's
    /// token acting for an admin has the app's powers, not the admin's).
    pub fn is_org_admin_of(&self, organization_id: Uuid) -> bool {
        self.principal().is_some_and(|p| {
            p.typ == TokenType::Access
                && p.organization_id == Some(organization_id)
                && matches!(p.role.as_deref(), Some("owner" | "admin"))
        })
    }

    /// `FORBIDDEN` unless a platform admin.
    pub fn require_platform_admin(&self) -> Result<()> {
        self.require()?;
        if self.is_platform_admin() {
            Ok(())
        } else {
            Err(Code::Forbidden.error("only platform administrators can do this"))
        }
    }
}

/// The caller of the request being resolved.
pub fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    static ANONYMOUS: Caller = Caller::Anonymous;
    ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
}

/// The error a subgraph answers a bad token with.
pub fn unauthenticated(err: &TokenError) -> Error {
    Code::Unauthenticated.error(err.to_string())
}
