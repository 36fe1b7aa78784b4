use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::accounts::Credentials;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, internal};
use nexus_kit::id::parse_id;
use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};

use super::types::{ApiKey, Invitation, Membership, Organization, User};
use crate::accounts::session::{self, Session};
use crate::accounts::{AuthConfig, api_keys, email, password, sign_in, sign_in_log};
use crate::entity::email_token::Purpose;
use crate::entity::membership::Role;
use crate::entity::{organization, user};
use crate::invitations;
use crate::mail::Mailer;
use crate::tenancy::tenancy;
use crate::{memberships, organizations, users};

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
pub struct InviteMemberInput {
    pub organization_id: ID,
    /// Whoever proves this address (a verified account) can accept.
    pub email: String,
    pub role: Role,
}

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
    /// After a sign-in (`logIn`, `verifySecondFactor`): keep it on this device and send it with
    /// the next `logIn` (90 days).
    pub known_device_token: Option<String>,
}

#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// The key itself, for the `X-Api-Key` header. Shown once: store it now.
    pub secret: String,
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

/// `require_allowed_in` for the organization of a membership.
async fn allowed_for_membership(ctx: &Context<'_>, membership_id: uuid::Uuid) -> Result<()> {
    let db = ctx.data_unchecked::<DatabaseConnection>();
    if let Some(m) = crate::entity::membership::Entity::find_by_id(membership_id)
        .one(db)
        .await
        .map_err(internal)?
    {
        tenancy(ctx).require_allowed_in(m.organization_id).await?;
    }
    Ok(())
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
pub struct AccountMutation;

#[Object]
impl AccountMutation {
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

    /// Creates an organization with you as its owner.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> Result<Organization> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let owner = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "organization.created");
        organizations::create_owned_organization(db, owner, &input.name, &input.slug, Some(audit))
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
        tenancy(ctx).require_allowed_in(organization_id).await?;
        let changes = organizations::OrganizationChanges {
            name: input.name,
            slug: input.slug,
        };
        let audit = Entry::by(ctx, "organization.updated");
        organizations::update_organization(db, actor, organization_id, changes, audit)
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
        tenancy(ctx).require_allowed_in(organization_id).await?;
        let audit = Entry::by(ctx, "organization.deleted");
        organizations::delete_organization(db, actor, organization_id, &confirm_slug, audit)
            .await
            .map(Organization)
    }

    /// Deletes your account, with your memberships and sessions; your password confirms it
    /// (attempts count as logins). Refused while you are an organization's only owner. Apps in
    /// your organizations hear `user.deleted` and `member.removed`.
    async fn delete_account(&self, ctx: &Context<'_>, password: String) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let user_id = caller(ctx).require_user()?;
        confirm_password(ctx, user_id, password).await?;
        crate::accounts::deletion::delete_account(db, user_id, Entry::by(ctx, "user.deleted"))
            .await?;
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
        let changes = users::ProfileChanges {
            name: input.name,
            avatar_url,
        };
        users::update_profile(db, user, changes).await.map(User)
    }

    /// Invites an address to an organization (owners and admins; only owners invite owners). A
    /// letter with a single-use link goes to the address; a signed-in user whose verified email
    /// it is accepts with `acceptInvitation` within 7 days. Inviting the same address again
    /// replaces the earlier invitation.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> Result<Invitation> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let mailer = ctx.data_unchecked::<Mailer>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&input.organization_id, "organization")?;
        tenancy(ctx).require_allowed_in(organization_id).await?;
        // Letters carry an organization's name: nobody may flood an address with them.
        config
            .limiter
            .mail(&users::normalize_email(&input.email)?)
            .await?;
        let (invited, token) = invitations::invite(
            db,
            &mailer.limits,
            actor,
            organization_id,
            &input.email,
            input.role,
            Entry::by(ctx, "invitation.created"),
        )
        .await?;
        let (organization, inviter) = invitations::letter_names(db, &invited).await?;
        let role = crate::entity::membership::role_name(invited.role);
        mailer
            .send(
                &invited.email,
                mailer.invitation(&organization, &inviter, role, &token),
            )
            .await;
        Ok(Invitation(invited))
    }

    /// Withdraws a pending invitation (owners and admins).
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "invitation.revoked");
        let id = parse_id(&id, "invitation")?;
        if let Some(invitation) = crate::entity::invitation::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(internal)?
        {
            tenancy(ctx)
                .require_allowed_in(invitation.organization_id)
                .await?;
        }
        invitations::revoke(db, actor, id, audit)
            .await
            .map(Invitation)
    }

    /// Joins the organization an invitation is for. Your email must be the invited address, and
    /// verified.
    async fn accept_invitation(&self, ctx: &Context<'_>, token: String) -> Result<Membership> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let user = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "invitation.accepted");
        invitations::accept(db, user, &token, audit)
            .await
            .map(Membership)
    }

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

    /// Changes a member's role. The last owner cannot be demoted.
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        input: ChangeMemberRoleInput,
    ) -> Result<Membership> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let membership_id = parse_id(&input.membership_id, "membership")?;
        allowed_for_membership(ctx, membership_id).await?;
        let audit = Entry::by(ctx, "member.role_changed");
        memberships::change_member_role(db, actor, membership_id, input.role, audit)
            .await
            .map(Membership)
    }

    /// Removes a member. The last owner cannot be removed.
    async fn remove_member(&self, ctx: &Context<'_>, membership_id: ID) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let membership_id = parse_id(&membership_id, "membership")?;
        allowed_for_membership(ctx, membership_id).await?;
        let audit = Entry::by(ctx, "member.removed");
        memberships::remove_member(db, actor, membership_id, audit).await?;
        Ok(true)
    }

    /// Leaves an organization. Its last owner cannot leave.
    async fn leave_organization(&self, ctx: &Context<'_>, organization_id: ID) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&organization_id, "organization")?;
        let audit = Entry::by(ctx, "member.left");
        memberships::leave_organization(db, actor, organization_id, audit).await?;
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
        tenancy(ctx).require_allowed_in(organization_id).await?;
        require_org_admin(ctx, organization_id).await?;
        let created = api_keys::create(
            db,
            organization_id,
            actor,
            &input.name,
            input.scopes,
            input.expires_at,
            Entry::by(ctx, "api_key.created"),
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
        tenancy(ctx).require_allowed_in(organization_id).await?;
        require_org_admin(ctx, organization_id).await?;
        let id = parse_id(&id, "API key")?;
        api_keys::revoke(db, organization_id, id, Entry::by(ctx, "api_key.revoked"))
            .await
            .map(ApiKey)
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
