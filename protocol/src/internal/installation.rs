//! The installation lookup between the router and the apps service (`GET {apps}{LOOKUP_PATH}`,
//! service token): the wire shape both sides share.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const LOOKUP_PATH: &str = "/internal/installation";

/// An installation as the router sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationView {
    pub id: Uuid,
    pub app_id: Uuid,
    pub namespace: String,
    pub organization_id: Uuid,
    /// Active, and its app is published (not suspended).
    pub live: bool,
    pub scopes: Vec<String>,
}

/// The lookup's answer: `null` when there is no such installation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LookupAnswer {
    pub installation: Option<InstallationView>,
}
