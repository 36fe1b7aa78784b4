use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, internal, not_found};
use nexus_kit::id::{parse_id, to_id};
use nexus_kit::loader::load;
use nexus_kit::page::{PageArgs, fetch_page};
use nexus_kit::token::KeyStore;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::types::{
    Activation, EntityKey, InstallationLicense, License, OrganizationLicenses, may_read_license,
    may_use_license,
};
use crate::activations::{self, ValidationCode};
use crate::certificate;
use crate::core_lookups::{self, AppsService};
use crate::entity::license::LicenseStatus;
use crate::entity::{activation, license};
use crate::service;

/// A signed certificate of a license on one machine, for checking it offline.
#[derive(SimpleObject)]
pub struct LicenseCertificate {
    /// A compact JWS (`header.payload.signature`), Ed25519-signed; see docs/license-certificates.md.
    pub certificate: String,
    pub expires_at: DateTime<Utc>,
    /// The signing key's id in `/.well-known/jwks.json`.
    pub key_id: String,
}

#[derive(InputObject)]
#[graphql(name = "LicensingAppOrganization")]
pub struct AppOrganizationInput {
    pub app_id: ID,
    pub organization_id: ID,
}

/// Whether an organization holds a license of an app that is valid now.
#[derive(SimpleObject)]
pub struct LicenseStanding {
    pub app_id: ID,
    pub organization_id: ID,
    pub valid: bool,
    /// `VALID`, or why not (`NOT_FOUND` when it holds none).
    pub code: ValidationCode,
}

pub struct Query;

#[Object]
impl Query {
    /// A license you may read by id: your organization's, your app's (developers), any (platform
    /// admins); null otherwise.
    async fn license(&self, ctx: &Context<'_>, id: ID) -> Result<Option<License>> {
        caller(ctx).require()?;
        readable_license(ctx, id).await
    }

    /// The licenses of one of your apps, oldest first (the app's developers and platform admins).
    async fn app_licenses(
        &self,
        ctx: &Context<'_>,
        app_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, License>> {
        let caller = caller(ctx);
        let user = caller.require_user()?;
        let app_id = parse_id(&app_id, "app")?;
        let app = core_lookups::app(ctx.data_unchecked::<AppsService>(), app_id)
            .await?
            .ok_or_else(|| not_found(format!("no app `{app_id}`")))?;
        if !(caller.is_platform_admin() || app.developer_id() == Some(user)) {
            return Err(Code::Forbidden
                .error("only the app's developers and platform administrators list its licenses"));
        }
        let args = PageArgs::parse(first, after)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let page = fetch_page(
            db,
            license::Entity::find().filter(license::Column::AppId.eq(app_id)),
            license::Column::Id,
            &args,
        )
        .await
        .map_err(internal)?;
        Ok(page.into_connection(|l| l.id, License))
    }

    /// A signed certificate that the license is valid on `fingerprint` (which must be
    /// activated), for the app to check offline until `expiresAt`. Refused with the validation
    /// code (`NO_ACTIVATION`, `EXPIRED`, …) as the error's code.
    async fn license_certificate(
        &self,
        ctx: &Context<'_>,
        key: String,
        fingerprint: String,
    ) -> Result<LicenseCertificate> {
        caller(ctx).require()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let outcome = activations::validate(db, &key, Some(&fingerprint)).await?;
        let usable = outcome.license.as_ref().filter(|l| may_use_license(ctx, l));
        let license = match (outcome.code, usable) {
            (ValidationCode::Valid, Some(license)) => license,
            (_, None) => {
                return Err(validation_error(
                    ValidationCode::NotFound,
                    "no license with this key",
                ));
            }
            (code, Some(_)) => return Err(validation_error(code, &outcome.detail)),
        };
        let keys = ctx.data_unchecked::<Arc<KeyStore>>();
        let signed = certificate::issue(keys, license, &fingerprint)
            .map_err(|e| Code::Internal.error(format!("cannot sign the certificate: {e}")))?;
        let header = jsonwebtoken_header_kid(&signed.certificate);
        Ok(LicenseCertificate {
            certificate: signed.certificate,
            expires_at: DateTime::from_timestamp(signed.claims.exp, 0).unwrap_or_default(),
            key_id: header,
        })
    }

    /// Nexus's apps service: which (app, organization) pairs hold a valid license now.
    #[graphql(inaccessible)]
    async fn license_standings(
        &self,
        ctx: &Context<'_>,
        pairs: Vec<AppOrganizationInput>,
    ) -> Result<Vec<LicenseStanding>> {
        caller(ctx).require_service()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let keys = pairs
            .iter()
            .map(|p| {
                Ok(service::AppOrganization {
                    app_id: parse_id(&p.app_id, "app")?,
                    organization_id: parse_id(&p.organization_id, "organization")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let best = service::governing_licenses(db, &keys).await?;
        let now = Utc::now();
        Ok(keys
            .iter()
            .map(|key| {
                let code = match best.get(key).map(|l| l.status_at(now)) {
                    None => ValidationCode::NotFound,
                    Some(LicenseStatus::Active) => ValidationCode::Valid,
                    Some(LicenseStatus::Expired) => ValidationCode::Expired,
                    Some(LicenseStatus::Suspended) => ValidationCode::Suspended,
                    Some(LicenseStatus::Revoked) => ValidationCode::Revoked,
                };
                LicenseStanding {
                    app_id: to_id(key.app_id),
                    organization_id: to_id(key.organization_id),
                    valid: code == ValidationCode::Valid,
                    code,
                }
            })
            .collect())
    }

    #[graphql(entity)]
    async fn find_license_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<License>> {
        readable_license(ctx, id).await
    }

    #[graphql(entity)]
    async fn find_activation_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Activation>> {
        let id = parse_id(&id, "activation")?;
        let Some(activation) = load::<activation::Entity>(ctx, id).await? else {
            return Ok(None);
        };
        let license = load::<license::Entity>(ctx, activation.license_id).await?;
        Ok(license
            .filter(|l| may_read_license(ctx, l))
            .map(|_| Activation(activation)))
    }

    #[graphql(entity)]
    async fn find_organization_by_id(&self, id: ID) -> Result<OrganizationLicenses> {
        Ok(OrganizationLicenses {
            id: parse_id(&id, "organization")?,
        })
    }

    #[graphql(entity)]
    async fn find_installation_by_id(
        &self,
        #[graphql(key)] id: ID,
        app: Option<EntityKey>,
        organization: Option<EntityKey>,
    ) -> Result<InstallationLicense> {
        Ok(InstallationLicense {
            id: parse_id(&id, "installation")?,
            app,
            organization,
        })
    }
}

async fn readable_license(ctx: &Context<'_>, id: ID) -> Result<Option<License>> {
    let id = parse_id(&id, "license")?;
    Ok(load::<license::Entity>(ctx, id)
        .await?
        .filter(|l| may_read_license(ctx, l))
        .map(License))
}

/// An error whose code is the validation code.
fn validation_error(code: ValidationCode, detail: &str) -> async_graphql::Error {
    use async_graphql::ErrorExtensions;
    async_graphql::Error::new(detail.to_owned()).extend_with(|_, e| e.set("code", code.as_str()))
}

/// The `kid` of a compact JWS we just signed.
fn jsonwebtoken_header_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .ok()
        .and_then(|h| h.kid)
        .unwrap_or_default()
}
