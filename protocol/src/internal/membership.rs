//! identity's membership lookup, the contract between identity and whoever asks it (the router,
//! the apps and licensing services): what a user's role in an organization is now, as opposed to
//! what their token said when it was issued.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// identity's lookup, relative to its base URL (`?user=…&organization=…`, service token).
pub const PATH: &str = "/internal/membership";

/// The lookup's query: whose membership of which organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipQuery {
    pub user: Uuid,
    pub organization: Uuid,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipAnswer {
    /// `owner`, `admin` or `member`; `None` when not a member.
    pub role: Option<String>,
    /// The organization lets members act in it only with a session signed in with a second
    /// factor (`requireTwoFactor`).
    #[serde(default)]
    pub two_factor_required: bool,
}
