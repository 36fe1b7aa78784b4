use async_graphql::connection::Connection;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, internal};
use nexus_kit::id::{parse_id, to_id};
use nexus_kit::loader::{load, load_children};
use nexus_kit::page::PageArgs;
use nexus_kit::token::TokenType;
use uuid::Uuid;

use crate::entity::activation;
use crate::entity::license::{self, LicenseKind, LicenseStatus};
use crate::service::{AppOrganization, LicenseForInstallation};

/// apps' `App`, referenced by id (apps resolves it).
#[derive(SimpleObject)]
#[graphql(name = "App", unresolvable = "id")]
pub struct AppRef {
    pub id: ID,
}

/// The `{ id }` of an entity in a representation's `@requires` selection.
#[derive(InputObject, Clone)]
#[graphql(name = "LicensingEntityKey")]
pub struct EntityKey {
    pub id: ID,
}

pub struct License(pub license::Model);

#[Object]
impl License {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn kind(&self) -> LicenseKind {
        self.0.kind
    }

    /// As of now: an active license past its expiry is `EXPIRED`.
    async fn status(&self) -> LicenseStatus {
        self.0.status_at(Utc::now())
    }

    /// Why it was suspended or revoked, when the issuer said.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }

    /// The key's last four characters (the key itself is shown only when issued).
    async fn key_hint(&self) -> Option<String> {
        self.0.key_last4.as_ref().map(|l| format!("…{l}"))
    }

    async fn entitlements(&self) -> Vec<String> {
        self.0.entitlements()
    }

    /// Machines or instances it is active on now.
    async fn activation_count(&self) -> i32 {
        self.0.activation_count
    }

    /// How many machines or instances may activate this license at once.
    async fn max_activations(&self) -> i32 {
        self.0.max_activations
    }

    /// Null for licenses that never expire.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    async fn app(&self) -> AppRef {
        AppRef {
            id: to_id(self.0.app_id),
        }
    }

    async fn organization(&self) -> OrganizationLicenses {
        OrganizationLicenses {
            id: self.0.organization_id,
        }
    }

    /// Machines or instances this license is active on, oldest first.
    async fn activations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Activation>> {
        let args = PageArgs::parse(first, after)?;
        let page = load_children::<activation::ByLicense>(ctx, self.0.id, args).await?;
        Ok(page.into_connection(|a| a.id, Activation))
    }
}

pub struct Activation(pub activation::Model);

#[Object]
impl Activation {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn fingerprint(&self) -> &str {
        &self.0.fingerprint
    }

    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn last_seen_at(&self) -> DateTime<Utc> {
        self.0.last_seen_at
    }

    async fn license(&self, ctx: &Context<'_>) -> Result<License> {
        load::<license::Entity>(ctx, self.0.license_id)
            .await?
            .map(License)
            .ok_or_else(|| internal(sea_orm::DbErr::RecordNotFound("activation license".into())))
    }
}

/// The tenant rule of an organization's licenses: a token acting in that organization (API keys
/// and app tokens need `licenses:read`), or a platform admin.
pub fn may_read_licenses_of(ctx: &Context<'_>, organization_id: Uuid) -> bool {
    caller(ctx).reads_in(organization_id, "licenses:read")
}

/// One license: its organization (as above), the app's developers, Nexus's own services.
pub fn may_read_license(ctx: &Context<'_>, license: &license::Model) -> bool {
    let caller = caller(ctx);
    may_read_licenses_of(ctx, license.organization_id)
        || caller.is_service()
        || (caller.user_id().is_some() && caller.user_id() == license.developer_id)
}

/// Suspend, reinstate, revoke, renew: the app's developers and platform admins.
pub fn may_manage_license(ctx: &Context<'_>, license: &license::Model) -> bool {
    let caller = caller(ctx);
    caller.is_platform_admin()
        || (caller.user_id().is_some() && caller.user_id() == license.developer_id)
}

/// Activate and deactivate: the app itself acting for the license's organization (its
/// installation token), that organization's signed-in members, and those who manage it.
pub fn may_use_license(ctx: &Context<'_>, license: &license::Model) -> bool {
    let caller = caller(ctx);
    let Some(principal) = caller.principal() else {
        return false;
    };
    let in_organization = principal.organization_id == Some(license.organization_id);
    let app_for_it = caller.installation_app() == Some(license.app_id) && in_organization;
    let member = principal.typ == TokenType::Access && in_organization;
    app_for_it || member || may_manage_license(ctx, license)
}

fn require_license_reader(ctx: &Context<'_>, organization_id: Uuid) -> Result<()> {
    caller(ctx).require()?;
    if may_read_licenses_of(ctx, organization_id) {
        Ok(())
    } else {
        Err(Code::Forbidden.error(
            "an organization's licenses are readable only with a token acting in it: use switchOrganization",
        ))
    }
}

/// identity's `Organization`, extended with its licenses.
pub struct OrganizationLicenses {
    pub id: Uuid,
}

#[Object(name = "Organization")]
impl OrganizationLicenses {
    async fn id(&self) -> ID {
        to_id(self.id)
    }

    /// Licenses held by this organization, oldest first. Readable with a token acting in this
    /// organization (see `switchOrganization`).
    async fn licenses(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<Connection<String, License>>> {
        require_license_reader(ctx, self.id)?;
        let args = PageArgs::parse(first, after)?;
        let page = load_children::<license::ByOrganization>(ctx, self.id, args).await?;
        Ok(Some(page.into_connection(|l| l.id, License)))
    }
}

/// apps' `Installation`, extended with the license that governs it. Licensing keeps no
/// installation rows: the router hands it the installation's app and organization ids.
pub struct InstallationLicense {
    pub id: Uuid,
    pub app: Option<EntityKey>,
    pub organization: Option<EntityKey>,
}

#[Object(name = "Installation")]
impl InstallationLicense {
    async fn id(&self) -> ID {
        to_id(self.id)
    }

    // External: apps resolves these; licensing only reads them from the representation.
    #[graphql(external)]
    async fn app(&self) -> Result<AppRef> {
        let key = self.app.as_ref().ok_or_else(|| missing("app"))?;
        Ok(AppRef { id: key.id.clone() })
    }

    #[graphql(external)]
    async fn organization(&self) -> Result<OrganizationLicenses> {
        let key = self
            .organization
            .as_ref()
            .ok_or_else(|| missing("organization"))?;
        Ok(OrganizationLicenses {
            id: parse_id(&key.id, "organization")?,
        })
    }

    /// The organization's license for this app: the newest active one, else the newest; null when
    /// it holds none.
    #[graphql(requires = "app { id } organization { id }")]
    async fn license(&self, ctx: &Context<'_>) -> Result<Option<License>> {
        let (Some(app), Some(organization)) = (&self.app, &self.organization) else {
            return Ok(None);
        };
        let key = AppOrganization {
            app_id: parse_id(&app.id, "app")?,
            organization_id: parse_id(&organization.id, "organization")?,
        };
        if !may_read_licenses_of(ctx, key.organization_id) {
            return Ok(None);
        }
        Ok(ctx
            .data_unchecked::<DataLoader<LicenseForInstallation>>()
            .load_one(key)
            .await?
            .map(License))
    }
}

fn missing(field: &str) -> async_graphql::Error {
    nexus_kit::error::bad_input(format!(
        "the Installation representation has no `{field} {{ id }}`"
    ))
}
