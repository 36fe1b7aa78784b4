use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, internal};
use nexus_kit::id::parse_id;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::types::{ApiKey, Membership, Organization, User};
use crate::accounts::session::{self, Session};
use crate::accounts::{AuthConfig, api_keys, password};
use crate::entity::membership::Role;
use crate::entity::{organization, user};
use crate::service;
use crate::tenancy::tenancy;

#[derive(InputObject)]
pub struct SignUpInput {
    pub email: String,
    /// At least 10 characters, with a letter and a digit or symbol.
    pub password: String,
    pub name: String,
}

#[derive(InputObject)]
pub struct LogInInput {
    pub email: String,
    pub password: String,
}

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub name: String,
    /// 2 to 64 lowercase letters, digits and single dashes; unique.
    pub slug: String,
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    pub name: Option<String>,
    /// 2 to 64 lowercase letters, digits and single dashes; unique.
    pub slug: Option<String>,
}

/// Fields left out stay as they are; `avatarUrl: null` removes the picture.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub name: Option<String>,
    /// An https URL.
    pub avatar_url: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct AddMemberInput {
    pub organization_id: ID,
    /// The person must have signed up already.
    pub email: String,
    pub role: Role,
}

#[derive(InputObject)]
pub struct ChangeMemberRoleInput {
    pub membership_id: ID,
    pub role: Role,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    pub organization_id: ID,
    pub name: String,
    /// From the platform's scope catalog (`users:read`, `organizations:read`, …).
    #[graphql(default)]
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A signed-in session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// Trade for a new session with `refreshSession`; works once.
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    pub user: User,
    /// The organization the access token acts in.
    pub organization: Option<Organization>,
}

#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// The key itself, for the `X-Api-Key` header. Shown once: store it now.
    pub secret: String,
}

async fn payload(db: &DatabaseConnection, session: Session) -> Result<AuthPayload> {
    let organization = match session.organization_id {
        Some(id) => organization::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(internal)?
            .map(Organization),
        None => None,
    };
    Ok(AuthPayload {
        access_token: session.access_token,
        refresh_token: session.refresh_token,
        expires_at: session.expires_at,
        user: User(session.user),
        organization,
    })
}

/// The client's address as the router resolved it, for login and sign-up rate limits.
pub struct ClientAddress(pub String);

pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates an account and signs it in.
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> Result<AuthPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let email = service::normalize_email(&input.email)?;
        password::check_policy(&input.password, &email)?;
        let address = ctx
            .data_opt::<ClientAddress>()
            .map_or("unknown", |a| a.0.as_str());
        config.limiter.sign_up(address).await?;
        let hash = password::hash(input.password).await?;
        let user = service::create_user(db, &email, &input.name, None, Some(hash)).await?;
        payload(db, session::issue(db, config, user, None, None).await?).await
    }

    /// Signs in. A wrong password and an unknown email get the same error, in the same time.
    async fn log_in(&self, ctx: &Context<'_>, input: LogInInput) -> Result<AuthPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let address = ctx
            .data_opt::<ClientAddress>()
            .map_or("unknown", |a| a.0.as_str());
        let email = input.email.trim().to_lowercase();
        config.limiter.attempt(&email, address).await?;
        let user = service::find_user_by_email(db, &email).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        if !password::verify(input.password, stored).await? {
            return Err(Code::Unauthenticated.error("wrong email or password"));
        }
        config.limiter.succeeded(&email, address).await;
        let user = user.ok_or_else(|| Code::Unauthenticated.error("wrong email or password"))?;
        payload(db, session::issue(db, config, user, None, None).await?).await
    }

    /// Trades a refresh token for a new session. Each refresh token works once; reusing one
    /// revokes every session of that login.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> Result<AuthPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        payload(db, session::refresh(db, config, &refresh_token).await?).await
    }

    /// Ends the login the refresh token belongs to.
    async fn log_out(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        session::log_out(db, &refresh_token).await?;
        Ok(true)
    }

    /// A new session acting in another of your organizations.
    async fn switch_organization(&self, ctx: &Context<'_>, id: ID) -> Result<AuthPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let user_id = caller(ctx).require_user()?;
        let organization_id = parse_id(&id, "organization")?;
        let user = user::Entity::find_by_id(user_id)
            .one(db)
            .await
            .map_err(internal)?
            .ok_or_else(|| Code::Unauthenticated.error("this account no longer exists"))?;
        if !tenancy(ctx)
            .organizations()
            .await?
            .contains_key(&organization_id)
        {
            return Err(Code::Forbidden.error("you are not a member of that organization"));
        }
        payload(
            db,
            session::issue(db, config, user, Some(organization_id), None).await?,
        )
        .await
    }

    /// Creates an organization with you as its owner.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> Result<Organization> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let owner = caller(ctx).require_user()?;
        service::create_owned_organization(db, owner, &input.name, &input.slug)
            .await
            .map(Organization)
    }

    /// Renames an organization or changes its slug (owners and admins). Apps installed there
    /// with `organizations:read` hear `organization.updated`.
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateOrganizationInput,
    ) -> Result<Organization> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&id, "organization")?;
        let changes = service::OrganizationChanges {
            name: input.name,
            slug: input.slug,
        };
        service::update_organization(db, actor, organization_id, changes)
            .await
            .map(Organization)
    }

    /// Deletes an organization, with its memberships and API keys (its owners only). Give its slug
    /// as `confirmSlug`. Apps installed there hear `organization.deleted`, and their
    /// installations end (`app.uninstalled`).
    async fn delete_organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
        confirm_slug: String,
    ) -> Result<Organization> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&id, "organization")?;
        service::delete_organization(db, actor, organization_id, &confirm_slug)
            .await
            .map(Organization)
    }

    /// Deletes your account, with your memberships and sessions; your password confirms it
    /// (attempts count as logins). Refused while you are an organization's only owner. Apps in
    /// your organizations hear `user.deleted` and `member.removed`.
    async fn delete_account(&self, ctx: &Context<'_>, password: String) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let user_id = caller(ctx).require_user()?;
        let user = user::Entity::find_by_id(user_id)
            .one(db)
            .await
            .map_err(internal)?
            .ok_or_else(|| Code::NotFound.error("your account no longer exists"))?;
        let address = ctx
            .data_opt::<ClientAddress>()
            .map_or("unknown", |a| a.0.as_str());
        config.limiter.attempt(&user.email, address).await?;
        if !password::verify(password, user.password_hash.clone()).await? {
            return Err(Code::Unauthenticated.error("wrong password"));
        }
        config.limiter.succeeded(&user.email, address).await;
        service::delete_account(db, user_id).await?;
        Ok(true)
    }

    /// Changes your name or avatar. Apps installed in your organizations with `users:read` hear
    /// `user.updated`.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let user = caller(ctx).require_user()?;
        let avatar_url = match input.avatar_url {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(url) => Some(Some(url)),
        };
        let changes = service::ProfileChanges {
            name: input.name,
            avatar_url,
        };
        service::update_profile(db, user, changes).await.map(User)
    }

    /// Adds someone who has signed up to an organization (owners and admins; only owners add owners).
    async fn add_member(&self, ctx: &Context<'_>, input: AddMemberInput) -> Result<Membership> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&input.organization_id, "organization")?;
        service::add_member(db, actor, organization_id, &input.email, input.role)
            .await
            .map(Membership)
    }

    /// Changes a member's role. The last owner cannot be demoted.
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        input: ChangeMemberRoleInput,
    ) -> Result<Membership> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let membership_id = parse_id(&input.membership_id, "membership")?;
        service::change_member_role(db, actor, membership_id, input.role)
            .await
            .map(Membership)
    }

    /// Removes a member. The last owner cannot be removed.
    async fn remove_member(&self, ctx: &Context<'_>, membership_id: ID) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let membership_id = parse_id(&membership_id, "membership")?;
        service::remove_member(db, actor, membership_id).await?;
        Ok(true)
    }

    /// Leaves an organization. Its last owner cannot leave.
    async fn leave_organization(&self, ctx: &Context<'_>, organization_id: ID) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&organization_id, "organization")?;
        service::leave_organization(db, actor, organization_id).await?;
        Ok(true)
    }

    /// Creates an API key for server-to-server calls (owners and admins). The secret is shown once.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> Result<CreatedApiKey> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&input.organization_id, "organization")?;
        require_org_admin(ctx, organization_id).await?;
        let created = api_keys::create(
            db,
            organization_id,
            actor,
            &input.name,
            input.scopes,
            input.expires_at,
        )
        .await?;
        Ok(CreatedApiKey {
            api_key: ApiKey(created.key),
            secret: created.secret,
        })
    }

    /// Revokes an API key; the router stops accepting it within 5 seconds.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        id: ID,
    ) -> Result<ApiKey> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        caller(ctx).require_user()?;
        let organization_id = parse_id(&organization_id, "organization")?;
        require_org_admin(ctx, organization_id).await?;
        let id = parse_id(&id, "API key")?;
        api_keys::revoke(db, organization_id, id).await.map(ApiKey)
    }
}

async fn require_org_admin(ctx: &Context<'_>, organization_id: uuid::Uuid) -> Result<()> {
    let role = tenancy(ctx)
        .organizations()
        .await?
        .get(&organization_id)
        .copied();
    if matches!(role, Some(Role::Owner | Role::Admin)) {
        Ok(())
    } else {
        Err(Code::Forbidden
            .error("only the organization's owners and admins can manage its API keys"))
    }
}
