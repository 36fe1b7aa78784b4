//! identity's membership lookup, the contract between identity and whoever asks it (the router,
//! the apps and licensing services): what a user's role in an organization is now, as opposed to
//! what their token said when it was issued.

use serde::{Deserialize, Serialize};

/// identity's lookup, relative to its base URL (`?user=…&organization=…`, service token).
pub const MEMBERSHIP_LOOKUP_PATH: &str = "/internal/membership";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipAnswer {
    /// `owner`, `admin` or `member`; `None` when not a member.
    pub role: Option<String>,
    /// The organization lets members act in it only with a session signed in with a second
    /// factor (`requireTwoFactor`).
    #[serde(default)]
    pub two_factor_required: bool,
}
