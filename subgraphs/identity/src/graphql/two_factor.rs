//! Two-factor sign-in in the graph: enrolling an authenticator, completing a sign-in with a code,
//! recovery codes, and organizations that require it of their members.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::Code;
use nexus_kit::id::parse_id;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::sessions::{AuthPayload, confirm_password};
use super::types::Organization;
use crate::accounts::{AuthConfig, two_factor};
use crate::organizations;

#[derive(InputObject)]
pub struct VerifySecondFactorInput {
    /// `extensions.challenge` of `logIn`'s `SECOND_FACTOR_REQUIRED` error.
    pub challenge: String,
    /// The current 6-digit code from your authenticator app, or one of your recovery codes.
    pub code: String,
}

/// An authenticator secret waiting to be confirmed with a code from it (`confirmTwoFactor`).
#[derive(SimpleObject)]
pub struct TwoFactorEnrollment {
    /// Base32: type it into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/…`: show it as a QR code for the app to scan.
    pub otpauth_uri: String,
}

#[derive(Default)]
pub struct TwoFactorMutation;

#[Object]
impl TwoFactorMutation {
    /// Starts two-factor sign-in: a new authenticator secret (your password confirms it; attempts
    /// count as logins). Nothing changes until `confirmTwoFactor` proves the app has it.
    async fn enroll_two_factor(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> Result<TwoFactorEnrollment> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let user_id = caller(ctx).require_user()?;
        let user = confirm_password(ctx, user_id, password).await?;
        let enrollment = two_factor::enroll(db, &config.secrets, &user, "Nexus").await?;
        Ok(TwoFactorEnrollment {
            secret: enrollment.secret,
            otpauth_uri: enrollment.uri,
        })
    }

    /// Turns two-factor sign-in on with a code from the enrolled authenticator, and signs out
    /// every other session (they had no second factor). Answers with ten single-use recovery
    /// codes, shown this once: store them somewhere safe.
    async fn confirm_two_factor(&self, ctx: &Context<'_>, code: String) -> Result<Vec<String>> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let principal = caller(ctx).require()?;
        let user_id = caller(ctx).require_user()?;
        let this_session = principal.claims.session();
        let audit = Entry::by(ctx, "user.two_factor_enabled").target("user", user_id);
        two_factor::confirm(db, &config.secrets, user_id, &code, this_session, audit).await
    }

    /// Turns two-factor sign-in off; a current code (or a recovery code) confirms it.
    async fn disable_two_factor(&self, ctx: &Context<'_>, code: String) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let user_id = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "user.two_factor_disabled").target("user", user_id);
        two_factor::disable(db, config, user_id, &code, audit).await?;
        Ok(true)
    }

    /// Ten new recovery codes (the old ones stop working); a current code confirms it.
    async fn regenerate_recovery_codes(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> Result<Vec<String>> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let user_id = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "user.recovery_codes_regenerated").target("user", user_id);
        two_factor::regenerate_recovery_codes(db, config, user_id, &code, audit).await
    }

    /// Completes a sign-in that answered `SECOND_FACTOR_REQUIRED`. The challenge works once, for
    /// five minutes and a few wrong codes; each code works once.
    async fn verify_second_factor(
        &self,
        ctx: &Context<'_>,
        input: VerifySecondFactorInput,
    ) -> Result<AuthPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let failure = Entry::by(ctx, "user.sign_in_failed");
        let (user, device, proof) =
            two_factor::complete(db, config, &input.challenge, &input.code, failure).await?;
        let method = match proof {
            two_factor::Proof::Authenticator => "authenticator",
            two_factor::Proof::RecoveryCode => "recovery_code",
        };
        let details = json!({ "second_factor": method });
        super::sessions::start_session(ctx, user, &device, true, Some(details)).await
    }

    /// Requires (or stops requiring) two-factor sign-in of the organization's members (owners
    /// and admins; turning it on needs a session signed in with a second factor yourself).
    /// Sessions without one stop acting in the organization: `TWO_FACTOR_REQUIRED`.
    async fn require_two_factor(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        required: bool,
    ) -> Result<Organization> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let principal = caller(ctx).require()?;
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&organization_id, "organization")?;
        crate::tenancy::tenancy(ctx)
            .require_allowed_in(organization_id)
            .await?;
        if required && !principal.claims.two_factor() {
            return Err(Code::Forbidden.error(
                "sign in with a second factor yourself before requiring it of everyone (enrollTwoFactor, then log in again)",
            ));
        }
        let audit = Entry::by(ctx, "organization.two_factor_requirement_changed")
            .in_organization(organization_id)
            .target("organization", organization_id)
            .details(json!({ "required": required }));
        organizations::set_two_factor_requirement(db, actor, organization_id, required, audit)
            .await
            .map(Organization)
    }
}
