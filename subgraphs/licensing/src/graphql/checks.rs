//! The answer to activate / deactivate / validate, and the limit on anonymous validation.

use async_graphql::{Context, SimpleObject};
use nexus_kit::Result;
use nexus_kit::auth::caller;
use nexus_kit::rate_limit::{Bucket, RateLimits, take_one};

use super::types::{Activation, License, may_read_license};
use crate::activations::{Outcome, ValidationCode};

/// Anonymous validations per client address and minute.
pub const ANONYMOUS_VALIDATIONS_PER_MINUTE: u64 = 60;

/// The buckets anonymous validations count in (shared by every licensing replica through Redis).
pub struct AnonymousValidations(pub RateLimits);

/// The request's client address (as the router resolved it).
pub struct ClientAddress(pub String);

pub async fn check_anonymous_limit(ctx: &Context<'_>) -> Result<()> {
    if caller(ctx).principal().is_some() {
        return Ok(());
    }
    let (Some(limits), Some(address)) = (
        ctx.data_opt::<AnonymousValidations>(),
        ctx.data_opt::<ClientAddress>(),
    ) else {
        return Ok(());
    };
    take_one(
        &limits.0,
        "license:anonymous",
        &[&address.0],
        Bucket::new(ANONYMOUS_VALIDATIONS_PER_MINUTE, 60),
        "too many anonymous license validations from your address; validate with a token",
    )
    .await
}

/// `valid` is true exactly when `code` is `VALID`.
#[derive(SimpleObject)]
pub struct LicenseCheck {
    pub valid: bool,
    pub code: ValidationCode,
    /// What happened, for people.
    pub detail: String,
    /// Null when the key is unknown or you may not read the license.
    pub license: Option<License>,
    /// The activation on the fingerprint, when there is one.
    pub activation: Option<Activation>,
}

impl LicenseCheck {
    pub fn new(ctx: &Context<'_>, outcome: Outcome) -> LicenseCheck {
        let readable = outcome
            .license
            .as_ref()
            .is_some_and(|l| may_read_license(ctx, l));
        LicenseCheck {
            valid: outcome.code == ValidationCode::Valid,
            code: outcome.code,
            detail: outcome.detail,
            license: outcome.license.filter(|_| readable).map(License),
            activation: outcome.activation.filter(|_| readable).map(Activation),
        }
    }
}
