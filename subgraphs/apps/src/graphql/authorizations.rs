//! The apps a user signed in to with Nexus (OAuth consents), and taking that back.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{internal, not_found};
use nexus_kit::id::{parse_id, to_id};
use nexus_kit::loader::load;
use nexus_kit::page::{PageArgs, fetch_page};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::types::{App, OrganizationInstallations};
use crate::entity::{app, oauth_authorization};

/// An app you authorized to act for you in an organization (`Sign in with Nexus`).
pub struct AppAuthorization(oauth_authorization::Model);

#[Object]
impl AppAuthorization {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn app(&self, ctx: &Context<'_>) -> Result<App> {
        load::<app::Entity>(ctx, self.0.app_id)
            .await?
            .map(App::new)
            .ok_or_else(|| internal(sea_orm::DbErr::RecordNotFound("authorized app".into())))
    }

    async fn organization(&self) -> OrganizationInstallations {
        OrganizationInstallations {
            id: self.0.organization_id,
        }
    }

    /// What you consented to: OpenID scopes (`openid`, `email`, …) and the installation's.
    async fn scopes(&self) -> Vec<String> {
        self.0.scopes()
    }

    async fn authorized_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Default)]
pub struct AuthorizationQuery;

#[Object]
impl AuthorizationQuery {
    /// The apps you authorized to act for you, oldest first. Your own sign-in only: an app's
    /// token cannot list them.
    async fn authorized_apps(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, AppAuthorization>> {
        let user = caller(ctx).require_user()?;
        let args = PageArgs::parse(first, after)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let page = fetch_page(
            db,
            oauth_authorization::Entity::find()
                .filter(oauth_authorization::Column::UserId.eq(user))
                .filter(oauth_authorization::Column::RevokedAt.is_null()),
            oauth_authorization::Column::Id,
            &args,
        )
        .await
        .map_err(internal)?;
        Ok(page.into_connection(|a| a.id, AppAuthorization))
    }
}

#[derive(Default)]
pub struct AuthorizationMutation;

#[Object]
impl AuthorizationMutation {
    /// Takes back what you authorized the app to do for you (in one organization, or in all):
    /// its refresh tokens stop working at once, its access tokens within seconds, and its next
    /// sign-in asks for your consent again. The installation itself stays. Returns how many
    /// authorizations ended.
    async fn revoke_app_authorization(
        &self,
        ctx: &Context<'_>,
        app_id: ID,
        organization_id: Option<ID>,
    ) -> Result<i32> {
        let user = caller(ctx).require_user()?;
        let app = parse_id(&app_id, "app")?;
        let organization = organization_id
            .map(|o| parse_id(&o, "organization"))
            .transpose()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let audit = Entry::by(ctx, "oauth.authorization_revoked");
        let ended =
            crate::oauth::grants::revoke_for_user(db, user, app, organization, audit).await?;
        if ended == 0 {
            return Err(not_found("you have not authorized that app"));
        }
        Ok(ended as i32)
    }
}
