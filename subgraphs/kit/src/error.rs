//! Errors with a stable `extensions.code`, so clients can branch on the code, not the message.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};

pub type Error = async_graphql::Error;
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    BadUserInput,
    NotFound,
    Conflict,
    Unauthenticated,
    Forbidden,
    /// Another service this one needs did not answer.
    Unavailable,
    /// Too many requests from this client; `retryAfterSeconds` says when to try again.
    RateLimited,
    /// The password was right and the account signs in with a second factor too:
    /// `extensions.challenge` goes to `verifySecondFactor` with a code.
    SecondFactorRequired,
    /// The organization the token acts in requires two-factor sign-in, and this session was not.
    TwoFactorRequired,
    /// Only a development platform (`nexus dev`) does this.
    DevelopmentOnly,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::Unavailable => "SERVICE_UNAVAILABLE",
            Code::RateLimited => "RATE_LIMITED",
            Code::SecondFactorRequired => "SECOND_FACTOR_REQUIRED",
            Code::TwoFactorRequired => "TWO_FACTOR_REQUIRED",
            Code::DevelopmentOnly => "DEVELOPMENT_ONLY",
            Code::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The code named `name` (as another service sent it); unknown names are internal.
    pub fn from_name(name: &str) -> Code {
        [
            Code::BadUserInput,
            Code::NotFound,
            Code::Conflict,
            Code::Unauthenticated,
            Code::Forbidden,
            Code::Unavailable,
            Code::RateLimited,
            Code::SecondFactorRequired,
            Code::TwoFactorRequired,
            Code::DevelopmentOnly,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
        .unwrap_or(Code::Internal)
    }

    /// The code an error carries (`Internal` when none).
    pub fn of(err: &Error) -> Code {
        Code::from_name(&extension(err, "code").unwrap_or_default())
    }

    pub fn error(self, message: impl Into<String>) -> Error {
        Error::new(message).extend_with(|_, e| e.set("code", self.as_str()))
    }
}

/// The text `err` carries as `extensions.<name>` (`code`, `challenge`, …), if any.
pub fn extension(err: &Error, name: &str) -> Option<String> {
    match err.extensions.as_ref()?.get(name)? {
        async_graphql::Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

/// Whether `err` carries `code` as its `extensions.code`.
pub fn has_code(err: &Error, code: Code) -> bool {
    err.extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .is_some_and(|v| *v == async_graphql::Value::from(code.as_str()))
}

pub fn bad_input(message: impl Into<String>) -> Error {
    Code::BadUserInput.error(message)
}

pub fn not_found(message: impl Into<String>) -> Error {
    Code::NotFound.error(message)
}

/// A database failure the caller cannot fix: logged in full, reported without internals.
pub fn internal(err: DbErr) -> Error {
    tracing::error!(error = %err, "database error");
    Code::Internal.error("internal error; it has been logged")
}

/// Maps a unique-constraint violation to `CONFLICT` with `conflict_message`, anything else to internal.
pub fn on_conflict(err: DbErr, conflict_message: impl FnOnce() -> String) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Code::Conflict.error(conflict_message()),
        _ => internal(err),
    }
}
