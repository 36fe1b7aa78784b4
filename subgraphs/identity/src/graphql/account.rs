//! The account's address and password (proofs by mail, changes, resets) and its sessions.

use async_graphql::{Context, ID, InputObject, Object};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, internal};
use nexus_kit::id::parse_id;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::sessions::{ClientAddress, confirm_password};
use super::types::User;
use crate::accounts::session::{self};
use crate::accounts::{AuthConfig, email, password};
use crate::entity::email_token::Purpose;
use crate::entity::user;
use crate::mail::Mailer;
use crate::users;

#[derive(InputObject)]
pub struct ChangeEmailInput {
    pub new_email: String,
    /// Your current password.
    pub password: String,
}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    pub current_password: String,
    /// At least 10 characters, with a letter and a digit or symbol.
    pub new_password: String,
}

#[derive(InputObject)]
pub struct ResetPasswordInput {
    /// From the letter.
    pub token: String,
    /// At least 10 characters, with a letter and a digit or symbol.
    pub new_password: String,
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Confirms an address with the token from the letter, signed in as the account it was sent
    /// for (a link proves an address only to the account's owner: someone who registered your
    /// address cannot get you to prove it for them). When it is a new address you asked for with
    /// `changeEmail`, your account switches to it now.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<User> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let user = caller(ctx).require_user()?;
        email::verify(db, user, &token, Entry::by(ctx, "user.email_changed"))
            .await
            .map(User)
    }

    /// Sends the verification letter again (a new link; earlier ones stop working).
    async fn resend_verification(&self, ctx: &Context<'_>) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let mailer = ctx.data_unchecked::<Mailer>();
        let user_id = caller(ctx).require_user()?;
        let user = user::Entity::find_by_id(user_id)
            .one(db)
            .await
            .map_err(internal)?
            .ok_or_else(|| Code::NotFound.error("your account no longer exists"))?;
        if user.email_verified_at.is_some() {
            return Err(Code::Conflict.error("your email address is verified already"));
        }
        config.limiter.mail(&user.email).await?;
        let token = email::issue(
            db,
            user.id,
            Purpose::VerifyEmail,
            &user.email,
            mailer.limits.letters_per_account,
        )
        .await?;
        mailer
            .send(&user.email, mailer.verification(&user.name, &token))
            .await;
        Ok(true)
    }

    /// Asks to move your account to another address: a verification letter goes there, and the
    /// account switches when it is confirmed (until then your current address stays).
    async fn change_email(&self, ctx: &Context<'_>, input: ChangeEmailInput) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let mailer = ctx.data_unchecked::<Mailer>();
        let user_id = caller(ctx).require_user()?;
        let new_email = users::normalize_email(&input.new_email)?;
        let user = confirm_password(ctx, user_id, input.password).await?;
        if users::find_user_by_email(db, &new_email).await?.is_some() {
            return Err(
                Code::Conflict.error(format!("`{new_email}` belongs to an account already"))
            );
        }
        config.limiter.mail(&new_email).await?;
        let token = email::issue(
            db,
            user.id,
            Purpose::VerifyEmail,
            &new_email,
            mailer.limits.letters_per_account,
        )
        .await?;
        mailer
            .send(&new_email, mailer.verification(&user.name, &token))
            .await;
        Ok(true)
    }

    /// Changes your password (the current one confirms it; attempts count as logins) and ends
    /// your other sessions; this one stays signed in.
    async fn change_password(&self, ctx: &Context<'_>, input: ChangePasswordInput) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let principal = caller(ctx).require()?;
        let user_id = caller(ctx).require_user()?;
        let user = confirm_password(ctx, user_id, input.current_password).await?;
        password::check_policy(&input.new_password, &user.email)?;
        let hash = password::hash(input.new_password).await?;
        let this_session = principal.claims.session();
        let audit = Entry::by(ctx, "user.password_changed");
        crate::accounts::password_change::set_password(db, user_id, hash, this_session, audit)
            .await?;
        Ok(true)
    }

    /// Signs one of your sessions out (`mySessions`): its refresh token stops working at once,
    /// its access token when it expires (15 minutes at most).
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let user = caller(ctx).require_user()?;
        let family = parse_id(&id, "session")?;
        let audit = Entry::by(ctx, "session.revoked").target("session", family);
        if session::revoke(db, user, family, audit).await? {
            Ok(true)
        } else {
            Err(Code::NotFound.error("you have no such session"))
        }
    }

    /// Mails a password-reset link to the address, if an account has it. The answer is the same
    /// either way (and takes as long), so it tells nobody whether an account exists.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let mailer = ctx.data_unchecked::<Mailer>().clone();
        let address = ctx
            .data_opt::<ClientAddress>()
            .map_or("unknown", |a| a.0.as_str());
        let email = email.trim().to_lowercase();
        config.limiter.reset(&email, address).await?;
        let per_day = mailer.limits.letters_per_account;
        // Everything past the limits happens in the background: the answer must not wait on the
        // database or the mail server, or its timing would say that the account exists.
        let db = db.clone();
        tokio::spawn(async move {
            let Ok(Some(user)) = users::find_user_by_email(&db, &email).await else {
                return;
            };
            match email::issue(&db, user.id, Purpose::ResetPassword, &user.email, per_day).await {
                Ok(token) => {
                    mailer
                        .send(&user.email, mailer.password_reset(&user.name, &token))
                        .await;
                }
                Err(e) => tracing::error!(error = %e.message, "no password-reset letter"),
            }
        });
        Ok(true)
    }

    /// Sets a new password with the token from a reset letter (once, within an hour) and signs
    /// the account out everywhere.
    async fn reset_password(&self, ctx: &Context<'_>, input: ResetPasswordInput) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        // The password policy looks at the account's address: whose it is, the token says.
        let account = email::reset_target(db, &input.token).await?;
        password::check_policy(&input.new_password, &account.email)?;
        let hash = password::hash(input.new_password).await?;
        email::reset_password(
            db,
            &input.token,
            hash,
            Entry::by(ctx, "user.password_reset"),
        )
        .await?;
        Ok(true)
    }
}
