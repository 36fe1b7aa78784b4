//! Signing up and in: sessions begun, refreshed, switched to another organization and ended,
//! and the helpers every mutation that starts a session or checks a password shares.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::accounts::Credentials;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, internal};
use nexus_kit::id::parse_id;
use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};

use super::types::{Organization, User};
use crate::accounts::session::{self, Session};
use crate::accounts::{AuthConfig, email, password, sign_in, sign_in_log};
use crate::entity::email_token::Purpose;
use crate::entity::{organization, user};
use crate::mail::Mailer;
use crate::tenancy::tenancy;
use crate::users;

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
    /// `knownDeviceToken` from an earlier sign-in of this account on this device: it may still
    /// sign in while the account is under attack (its failures from everywhere past the limit).
    pub known_device_token: Option<String>,
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
    /// After a sign-in (`logIn`, `verifySecondFactor`): keep it on this device and send it with
    /// the next `logIn` (90 days).
    pub known_device_token: Option<String>,
}

pub(super) async fn payload(db: &DatabaseConnection, session: Session) -> Result<AuthPayload> {
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
        known_device_token: None,
    })
}

/// The client's address as the router resolved it, for login and sign-up rate limits.
pub struct ClientAddress(pub String);

/// The signed-in user `user_id`, once `password` is theirs (counted as a login attempt, under the
/// login limits: a stolen token alone cannot guess it).
pub(super) async fn confirm_password(
    ctx: &Context<'_>,
    user_id: uuid::Uuid,
    password: String,
) -> Result<user::Model> {
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let config = ctx.data_unchecked::<AuthConfig>();
    let user = user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| Code::NotFound.error("your account no longer exists"))?;
    let address = ctx
        .data_opt::<ClientAddress>()
        .map_or("unknown", |a| a.0.as_str());
    // Signed in already: the account's own session counts as a known device.
    config.limiter.attempt(&user.email, address, true).await?;
    if !password::verify(password, user.password_hash.clone()).await? {
        return Err(Code::Unauthenticated.error("wrong password"));
    }
    config.limiter.succeeded(&user.email, address, true).await;
    Ok(user)
}

/// Signs `user` in on `device`: a new session (its refresh-token family) and `user.signed_in`
/// (with `details`, if any), in one transaction.
pub(super) async fn start_session(
    ctx: &Context<'_>,
    user: user::Model,
    device: &session::Device,
    two_factor: bool,
    details: Option<serde_json::Value>,
) -> Result<AuthPayload> {
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let config = ctx.data_unchecked::<AuthConfig>();
    let txn = db.begin().await.map_err(internal)?;
    let user_id = user.id;
    // A write first: on SQLite the transaction waits its turn here instead of failing later.
    crate::users::lock_user(&txn, user_id).await?;
    let issued = session::issue(&txn, config, user, None, None, device, two_factor).await?;
    let mut entry = sign_in_log::signed_in(Entry::by(ctx, "user.signed_in"), user_id)
        .in_organization_opt(issued.organization_id);
    if let Some(details) = details {
        entry = entry.details(details);
    }
    nexus_kit::audit::record(&txn, entry).await?;
    txn.commit().await.map_err(internal)?;
    let mut signed_in = payload(db, issued).await?;
    signed_in.known_device_token = crate::accounts::known_device::issue(&config.keys, user_id);
    Ok(signed_in)
}

/// The device and address a new session is signed in from.
fn device<'a>(ctx: &Context<'a>) -> &'a session::Device {
    static UNKNOWN: std::sync::OnceLock<session::Device> = std::sync::OnceLock::new();
    ctx.data_opt::<session::Device>()
        .unwrap_or_else(|| UNKNOWN.get_or_init(session::Device::default))
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Creates an account and signs it in.
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> Result<AuthPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let mailer = ctx.data_unchecked::<Mailer>();
        let email = users::normalize_email(&input.email)?;
        password::check_policy(&input.password, &email)?;
        let address = ctx
            .data_opt::<ClientAddress>()
            .map_or("unknown", |a| a.0.as_str());
        config.limiter.sign_up(address).await?;
        // A sign-up mails its address: that mailbox is not flooded either.
        config.limiter.mail(&email).await?;
        let hash = password::hash(input.password).await?;
        let user = users::create_user(db, &email, &input.name, None, Some(hash)).await?;
        // The account exists now: a letter that cannot be prepared is logged, and
        // `resendVerification` sends another.
        match email::issue(
            db,
            user.id,
            Purpose::VerifyEmail,
            &user.email,
            mailer.limits.letters_per_account,
        )
        .await
        {
            Ok(token) => {
                mailer
                    .send(&user.email, mailer.verification(&user.name, &token))
                    .await;
            }
            Err(e) => tracing::error!(error = %e.message, "no verification letter at sign-up"),
        }
        payload(
            db,
            session::issue(db, config, user, None, None, device(ctx), false).await?,
        )
        .await
    }

    /// Signs in. A wrong password and an unknown email get the same error, in the same time.
    /// An account with two-factor sign-in answers `SECOND_FACTOR_REQUIRED` instead, with
    /// `extensions.challenge` for `verifySecondFactor`.
    async fn log_in(&self, ctx: &Context<'_>, input: LogInInput) -> Result<AuthPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let credentials = Credentials {
            email: input.email,
            password: input.password,
            address: ctx
                .data_opt::<ClientAddress>()
                .map_or("unknown", |a| a.0.as_str())
                .to_owned(),
            challenge: None,
            code: None,
            known_device: input.known_device_token,
        };
        let failure = Entry::by(ctx, "user.sign_in_failed");
        let user = sign_in::password_step(db, config, &credentials, device(ctx), failure).await?;
        start_session(ctx, user, device(ctx), false, None).await
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
        let reuse = Entry::by(ctx, "session.revoked");
        payload(
            db,
            session::refresh(db, config, &refresh_token, reuse).await?,
        )
        .await
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
        tenancy(ctx).require_allowed_in(organization_id).await?;
        if !tenancy(ctx)
            .organizations()
            .await?
            .contains_key(&organization_id)
        {
            return Err(Code::Forbidden.error("you are not a member of that organization"));
        }
        payload(
            db,
            session::issue(
                db,
                config,
                user,
                Some(organization_id),
                None,
                device(ctx),
                caller(ctx).require()?.claims.two_factor(),
            )
            .await?,
        )
        .await
    }
}
