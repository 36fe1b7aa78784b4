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
    view: OnceCell<View>,
}

/// The caller's organizations as this request may see them.
#[derive(Default)]
struct View {
    /// Where the caller acts, and with which role.
    roles: HashMap<Uuid, Role>,
    /// Where the caller is a member but may not act: the organization requires a second factor
    /// this session lacks.
    closed: HashSet<Uuid>,
}

impl Tenancy {
    pub fn new(db: DatabaseConnection, caller: Caller) -> Arc<Self> {
        Arc::new(Tenancy {
            db,
            caller,
            view: OnceCell::new(),
        })
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The caller's organizations and roles (one or two statements per request, at most).
    pub async fn organizations(&self) -> Result<&HashMap<Uuid, Role>> {
        Ok(&self.view().await?.roles)
    }

    async fn view(&self) -> Result<&View> {
        self.view
            .get_or_try_init(|| async {
                let Some(principal) = self.caller.principal() else {
                    return Ok(View::default());
                };
                let memberships: Vec<(Uuid, Role)> = match (principal.typ, principal.user_id) {
                    (TokenType::Access, Some(user_id)) => membership::Entity::find()
                        .filter(membership::Column::UserId.eq(user_id))
                        .all(&self.db)
                        .await
                        .map_err(internal)?
                        .into_iter()
                        .map(|m| (m.organization_id, m.role))
                        .collect(),
                    // An app acting for a user: a member-level view of the organization, while
                    // the user still belongs to it.
                    (TokenType::Delegated, _) => {
                        let (Ok(user_id), Some(org)) = (
                            Uuid::parse_str(&principal.claims.sub),
                            principal.organization_id,
                        ) else {
                            return Ok(View::default());
                        };
                        crate::memberships::membership_of(&self.db, org, user_id)
                            .await?
                            .map(|_| (org, Role::Member))
                            .into_iter()
                            .collect()
                    }
                    // An API key is a member-level view of its own organization.
                    _ => {
                        return Ok(View {
                            roles: principal
                                .organization_id
                                .map(|org| (org, Role::Member))
                                .into_iter()
                                .collect(),
                            closed: HashSet::new(),
                        });
                    }
                };
                // Organizations requiring a second factor are not this session's to act in
                // unless it was signed in with one.
                let closed = crate::memberships::closed_to(
                    &self.db,
                    memberships.iter().map(|m| m.0).collect(),
                    principal.claims.two_factor(),
                )
                .await?;
                Ok(View {
                    roles: memberships
                        .into_iter()
                        .filter(|(org, _)| !closed.contains(org))
                        .collect(),
                    closed,
                })
            })
            .await
    }

    /// `TWO_FACTOR_REQUIRED` when the caller is a member of the organization, which requires a
    /// second factor, and the caller's session was signed in without one: nothing may be done
    /// there with it. Anyone else gets the usual refusals, which say nothing of the requirement.
    pub async fn require_allowed_in(&self, organization_id: Uuid) -> Result<()> {
        if !self.view().await?.closed.contains(&organization_id) {
            return Ok(());
        }
        let name = organization::Entity::find_by_id(organization_id)
            .one(&self.db)
            .await
            .map_err(internal)?
            .map_or_else(|| "this organization".to_owned(), |o| o.name);
        Err(crate::accounts::session::two_factor_required(&name))
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
