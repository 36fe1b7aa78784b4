//! The answer to activate / deactivate / validate, and the limit on anonymous validation.

use std::time::Duration;

use async_graphql::{Context, SimpleObject};
use nexus_kit::Result;
use nexus_kit::auth::caller;
use nexus_kit::rate_limit::{RateLimiter, rate_limited};

use super::types::{Activation, License, may_read_license};
use crate::activations::{Outcome, ValidationCode};

/// Anonymous validations per client address and minute.
pub const ANONYMOUS_VALIDATIONS_PER_MINUTE: u32 = 60;

/// The per-address limiter of anonymous validations (one per licensing process).
pub struct AnonymousValidations(pub RateLimiter);

impl Default for AnonymousValidations {
    fn default() -> Self {
        AnonymousValidations(RateLimiter::new(
            Duration::from_secs(60),
            ANONYMOUS_VALIDATIONS_PER_MINUTE,
        ))
    }
}

/// The request's client address (from the router's `X-Forwarded-For`).
pub struct ClientAddress(pub String);

pub fn check_anonymous_limit(ctx: &Context<'_>) -> Result<()> {
    if caller(ctx).principal().is_some() {
        return Ok(());
    }
    let (Some(limiter), Some(address)) = (
        ctx.data_opt::<AnonymousValidations>(),
        ctx.data_opt::<ClientAddress>(),
    ) else {
        return Ok(());
    };
    limiter.0.hit(&address.0).map_err(|retry| {
        rate_limited(
            "too many anonymous license validations from your address; validate with a token",
            retry,
        )
    })
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
