use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, bad_input, has_code, not_found};
use nexus_kit::id::parse_id;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::checks::{LicenseCheck, check_anonymous_limit};
use super::types::{License, may_manage_license, may_use_license};
use crate::activations;
use crate::core_lookups::{self, AppsService, IdentityService};
use crate::entity::license::LicenseKind;
use crate::service::{self, Change, NewLicense};

#[derive(InputObject)]
pub struct IssueLicenseInput {
    pub app_id: ID,
    pub organization_id: ID,
    pub kind: LicenseKind,
    /// Required for trial and subscription licenses; null never expires.
    pub expires_at: Option<DateTime<Utc>>,
    #[graphql(default = 1)]
    pub max_activations: i32,
    /// What the license unlocks, as the app defines it (`"pro"`, `"seats:10"`, …).
    #[graphql(default)]
    pub entitlements: Vec<String>,
}

/// A new license and its key: the key is shown this once and stored only as a hash.
#[derive(SimpleObject)]
pub struct IssuedLicense {
    pub key: String,
    pub license: License,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Issues a license of an app to an organization (the app's developers and platform admins).
    async fn issue_license(
        &self,
        ctx: &Context<'_>,
        input: IssueLicenseInput,
    ) -> Result<IssuedLicense> {
        let caller = caller(ctx);
        let user = caller.require_user()?;
        let app_id = parse_id(&input.app_id, "app")?;
        let organization_id = parse_id(&input.organization_id, "organization")?;
        let apps = ctx.data_unchecked::<AppsService>();
        let app = core_lookups::app(apps, app_id)
            .await?
            .ok_or_else(|| not_found(format!("no app `{app_id}`")))?;
        if !(caller.is_platform_admin() || app.developer_id() == Some(user)) {
            return Err(Code::Forbidden.error(
                "only the app's developers and platform administrators issue its licenses",
            ));
        }
        let identity = ctx.data_unchecked::<IdentityService>();
        if !core_lookups::organization_exists(identity, organization_id).await? {
            return Err(not_found(format!("no organization `{organization_id}`")));
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let issued = service::issue_license(
            db,
            NewLicense {
                app_id,
                app_namespace: Some(app.namespace.clone()),
                developer_id: app.developer_id(),
                organization_id,
                kind: input.kind,
                max_activations: input.max_activations,
                expires_at: input.expires_at,
                entitlements: input.entitlements,
                issued_by: Some(user),
            },
            Entry::by(ctx, "license.issued"),
        )
        .await?;
        Ok(IssuedLicense {
            key: issued.key,
            license: License(issued.license),
        })
    }

    /// Suspends a license until it is reinstated; its installations stop working within a minute.
    async fn suspend_license(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> Result<License> {
        change(ctx, id, Change::Suspend, reason).await
    }

    async fn reinstate_license(&self, ctx: &Context<'_>, id: ID) -> Result<License> {
        change(ctx, id, Change::Reinstate, None).await
    }

    /// Revokes a license for good.
    async fn revoke_license(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> Result<License> {
        change(ctx, id, Change::Revoke, reason).await
    }

    /// Moves the expiry later; an expired license is active again.
    async fn renew_license(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expires_at: DateTime<Utc>,
    ) -> Result<License> {
        change(ctx, id, Change::Renew(expires_at), None).await
    }

    /// Activates the license on a machine or instance (`fingerprint`, 1-256 characters, stable
    /// for that machine); the same fingerprint again is a no-op. For the app (its installation
    /// token), the organization's members, the app's developers and platform admins.
    async fn activate_license(
        &self,
        ctx: &Context<'_>,
        key: String,
        fingerprint: String,
        name: Option<String>,
    ) -> Result<LicenseCheck> {
        caller(ctx).require()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let outcome =
            activations::activate(db, &key, &fingerprint, name, |l| may_use_license(ctx, l))
                .await?;
        Ok(LicenseCheck::new(ctx, outcome))
    }

    async fn deactivate_license(
        &self,
        ctx: &Context<'_>,
        key: String,
        fingerprint: String,
    ) -> Result<LicenseCheck> {
        caller(ctx).require()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let outcome =
            activations::deactivate(db, &key, &fingerprint, |l| may_use_license(ctx, l)).await?;
        Ok(LicenseCheck::new(ctx, outcome))
    }

    /// Checks a key (and, with a fingerprint, its activation there) and records the activation as
    /// seen. Anyone may validate a key; anonymous callers are rate-limited and get no license
    /// details.
    async fn validate_license(
        &self,
        ctx: &Context<'_>,
        key: String,
        fingerprint: Option<String>,
    ) -> Result<LicenseCheck> {
        check_anonymous_limit(ctx).await?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let outcome = activations::validate(db, &key, fingerprint.as_deref()).await?;
        Ok(LicenseCheck::new(ctx, outcome))
    }

    /// Nexus's apps service: the organization's trial license of a trial app, issued on its first
    /// installation (one trial per app and organization, ever).
    #[graphql(inaccessible)]
    async fn start_trial(
        &self,
        ctx: &Context<'_>,
        app_id: ID,
        organization_id: ID,
        trial_days: i32,
    ) -> Result<License> {
        caller(ctx).require_service()?;
        if !(1..=365).contains(&trial_days) {
            return Err(bad_input("`trialDays` must be between 1 and 365"));
        }
        let app_id = parse_id(&app_id, "app")?;
        let organization_id = parse_id(&organization_id, "organization")?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        if let Some(trial) = service::find_trial(db, app_id, organization_id).await? {
            return Ok(License(trial));
        }
        let app = core_lookups::app(ctx.data_unchecked::<AppsService>(), app_id)
            .await?
            .ok_or_else(|| not_found(format!("no app `{app_id}`")))?;
        let new = NewLicense {
            app_id,
            app_namespace: Some(app.namespace.clone()),
            developer_id: app.developer_id(),
            organization_id,
            kind: LicenseKind::Trial,
            max_activations: 5,
            expires_at: Some(Utc::now() + chrono::Duration::days(trial_days.into())),
            entitlements: Vec::new(),
            issued_by: None,
        };
        match service::issue_license(db, new, Entry::by(ctx, "license.issued")).await {
            Ok(issued) => Ok(License(issued.license)),
            // Two installs racing: the other one created it.
            Err(e) if has_code(&e, Code::Conflict) => {
                service::find_trial(db, app_id, organization_id)
                    .await?
                    .map(License)
                    .ok_or(e)
            }
            Err(e) => Err(e),
        }
    }
}

async fn change(
    ctx: &Context<'_>,
    id: ID,
    change: Change,
    reason: Option<String>,
) -> Result<License> {
    caller(ctx).require()?;
    let id: Uuid = parse_id(&id, "license")?;
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let found = service::find(db, id).await?;
    if !may_manage_license(ctx, &found) {
        // Others' licenses do not exist, as far as this caller can tell.
        return Err(not_found(format!("no license `{id}`")));
    }
    let audit = Entry::by(ctx, change.action());
    service::change(db, found, change, reason, audit)
        .await
        .map(License)
}
