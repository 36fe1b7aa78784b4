//! Who may read what in identity: a user reads the organizations they belong to, those
//! organizations' members, and users who share an organization with them; a platform admin reads
//! everything; an API key reads its own organization, within its scopes. Anything else is `null`,
//! exactly as if it did not exist.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::Loader;
use nexus_kit::auth::{Caller, caller};
use nexus_kit::error::{Code, Error, Result, internal};
use nexus_kit::token::TokenType;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::entity::membership::{self, Role};
use crate::entity::organization;

/// Per request: the caller and, loaded once on first use, the organizations they belong to.
pub struct Tenancy {
    db: DatabaseConnection,
    caller: Caller,
    organizations: OnceCell<HashMap<Uuid, Role>>,
}

impl Tenancy {
    pub fn new(db: DatabaseConnection, caller: Caller) -> Arc<Self> {
        Arc::new(Tenancy {
            db,
            caller,
            organizations: OnceCell::new(),
        })
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The caller's organizations and roles (one statement per request, at most).
    pub async fn organizations(&self) -> Result<&HashMap<Uuid, Role>> {
        self.organizations
            .get_or_try_init(|| async {
                let Some(principal) = self.caller.principal() else {
                    return Ok(HashMap::new());
                };
                match (principal.typ, principal.user_id) {
                    (TokenType::Access, Some(user_id)) => {
                        let rows = membership::Entity::find()
                            .filter(membership::Column::UserId.eq(user_id))
                            .all(&self.db)
                            .await
                            .map_err(internal)?;
                        // Organizations requiring a second factor are not this session's to read
                        // unless it was signed in with one.
                        let closed: HashSet<Uuid> = if principal.claims.two_factor() {
                            HashSet::new()
                        } else {
                            organization::Entity::find()
                                .select_only()
                                .column(organization::Column::Id)
                                .filter(
                                    organization::Column::Id
                                        .is_in(rows.iter().map(|m| m.organization_id)),
                                )
                                .filter(organization::Column::RequireTwoFactor.eq(true))
                                .into_tuple()
                                .all(&self.db)
                                .await
                                .map_err(internal)?
                                .into_iter()
                                .collect()
                        };
                        Ok(rows
                            .into_iter()
                            .filter(|m| !closed.contains(&m.organization_id))
                            .map(|m| (m.organization_id, m.role))
                            .collect())
                    }
                    // An app acting for a user: a member-level view of the organization, while
                    // the user still belongs to it.
                    (TokenType::Delegated, _) => {
                        let (Ok(user_id), Some(org)) = (
                            Uuid::parse_str(&principal.claims.sub),
                            principal.organization_id,
                        ) else {
                            return Ok(HashMap::new());
                        };
                        let member = crate::service::membership_of(&self.db, org, user_id).await?;
                        if member.is_some() && !principal.claims.two_factor() {
                            let closed = organization::Entity::find_by_id(org)
                                .one(&self.db)
                                .await
                                .map_err(internal)?
                                .is_some_and(|o| o.require_two_factor);
                            if closed {
                                return Ok(HashMap::new());
                            }
                        }
                        Ok(member.map(|_| (org, Role::Member)).into_iter().collect())
                    }
                    // An API key is a member-level view of its own organization.
                    _ => Ok(principal
                        .organization_id
                        .map(|org| (org, Role::Member))
                        .into_iter()
                        .collect()),
                }
            })
            .await
    }

    /// `TWO_FACTOR_REQUIRED` when the organization requires a second factor and the caller's
    /// session was signed in without one: nothing may be done there with it.
    pub async fn require_allowed_in(&self, organization_id: Uuid) -> Result<()> {
        let Some(principal) = self.caller.principal() else {
            return Ok(());
        };
        if principal.claims.two_factor()
            || !matches!(principal.typ, TokenType::Access | TokenType::Delegated)
        {
            return Ok(());
        }
        // Only a member learns the requirement (and the name): for anyone else the usual
        // refusals answer, saying nothing about the organization.
        let user = Uuid::parse_str(&principal.claims.sub).ok();
        let member = match user {
            Some(user) => crate::service::membership_of(&self.db, organization_id, user)
                .await?
                .is_some(),
            None => false,
        };
        if !member {
            return Ok(());
        }
        match organization::Entity::find_by_id(organization_id)
            .one(&self.db)
            .await
            .map_err(internal)?
        {
            Some(org) if org.require_two_factor => {
                Err(crate::accounts::session::two_factor_required(&org.name))
            }
            _ => Ok(()),
        }
    }

    pub async fn can_read_organization(&self, organization_id: Uuid) -> Result<bool> {
        // Nexus's other services check that an organization exists (e.g. licensing at issue).
        if self.caller.is_platform_admin() || self.caller.is_service() {
            return Ok(true);
        }
        if !self.has_scope("organizations:read") {
            return Ok(false);
        }
        Ok(self.organizations().await?.contains_key(&organization_id))
    }

    /// Users need no scopes; API keys carry theirs.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.caller.has_scope(scope)
    }

    pub fn require_scope(&self, scope: &str) -> Result<()> {
        if self.has_scope(scope) || self.caller.is_platform_admin() {
            Ok(())
        } else {
            Err(Code::Forbidden.error(format!("this needs the `{scope}` scope")))
        }
    }
}

pub fn tenancy<'a>(ctx: &Context<'a>) -> &'a Arc<Tenancy> {
    ctx.data_unchecked::<Arc<Tenancy>>()
}

/// `UNAUTHENTICATED` for anonymous callers: identity has nothing public.
pub fn require_signed_in(ctx: &Context<'_>) -> Result<()> {
    caller(ctx).require().map(|_| ())
}

/// Which of the asked users the caller may see: themselves, and users sharing an organization.
pub struct VisibleUsers {
    pub tenancy: Arc<Tenancy>,
}

impl Loader<Uuid> for VisibleUsers {
    type Value = bool;
    type Error = Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, bool>> {
        let caller = self.tenancy.caller();
        if caller.is_platform_admin() {
            return Ok(keys.iter().map(|k| (*k, true)).collect());
        }
        if !self.tenancy.has_scope("users:read") {
            return Ok(HashMap::new());
        }
        let organizations: Vec<Uuid> = self
            .tenancy
            .organizations()
            .await?
            .keys()
            .copied()
            .collect();
        let mut visible: HashSet<Uuid> = caller.user_id().into_iter().collect();
        if !organizations.is_empty() {
            let rows: Vec<Uuid> = membership::Entity::find()
                .select_only()
                .column(membership::Column::UserId)
                .filter(membership::Column::UserId.is_in(keys.iter().copied()))
                .filter(membership::Column::OrganizationId.is_in(organizations))
                .into_tuple()
                .all(&self.tenancy.db)
                .await
                .map_err(internal)?;
            visible.extend(rows);
        }
        Ok(keys.iter().map(|k| (*k, visible.contains(k))).collect())
    }
}
