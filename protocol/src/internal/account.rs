//! identity's account contract, asked by the apps service's OAuth pages: `POST AUTHENTICATE_PATH`
//! checks a password (counted by identity's login limits for the browser's address) and answers
//! the `Account`, or a `Refusal`; `GET ACCOUNT_PATH?user=…` reads who someone is and where they
//! belong (consent pages, id_tokens, userinfo), 404 when the account no longer exists.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const AUTHENTICATE_PATH: &str = "/internal/authenticate";
pub const ACCOUNT_PATH: &str = "/internal/account";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: String,
    /// The client's address, for the login limits.
    pub address: String,
    /// The second step of a sign-in with two-factor: the challenge a first answer carried, and
    /// the code the person typed (`email` and `password` are then ignored).
    #[serde(default)]
    pub challenge: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    /// The token of a device that signed in to the account before: it may still try when the
    /// account's limit of failures from everywhere is spent.
    #[serde(default)]
    pub known_device: Option<String>,
}

/// `ACCOUNT_PATH`'s query.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct AccountQuery {
    pub user: Uuid,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// The person proved they receive mail at `email`.
    pub email_verified: bool,
    pub memberships: Vec<AccountMembership>,
    /// This sign-in proved a second factor.
    #[serde(default)]
    pub two_factor: bool,
    /// Goes up whenever every session of the account ends (password reset or change,
    /// two-factor sign-in turned on): a browser session signed in at an older one is over.
    #[serde(default)]
    pub session_epoch: i64,
    /// After a sign-in: the token that makes this device known to the account (kept in the
    /// browser's `nexus_device` cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_device: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountMembership {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub organization_slug: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    /// Acting there needs a sign-in with a second factor.
    #[serde(default)]
    pub two_factor_required: bool,
}

impl AccountMembership {
    pub fn may_install(&self) -> bool {
        matches!(self.role.as_str(), "owner" | "admin")
    }
}

/// A refusal as identity says it: `{code, message}` (`UNAUTHENTICATED`, `RATE_LIMITED`, …).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Refusal {
    pub code: String,
    pub message: String,
    /// With `SECOND_FACTOR_REQUIRED`: the challenge to send back with a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}
