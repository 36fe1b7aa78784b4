//! The installation lookup between the router and the apps service (`GET {apps}{PATH}`,
//! service token): the wire shape both sides share.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const PATH: &str = "/internal/installation";

/// The lookup's query: an installation by `id` (with `grant`, an OAuth grant whose tokens are
/// asked about: revoked → not live), or the app `namespace`'s installation in `organization`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Uuid>,
}

impl LookupQuery {
    pub fn by_id(id: Uuid, grant: Option<Uuid>) -> Self {
        LookupQuery {
            id: Some(id),
            grant,
            ..Default::default()
        }
    }

    pub fn by_app(organization: Uuid, namespace: &str) -> Self {
        LookupQuery {
            namespace: Some(namespace.to_owned()),
            organization: Some(organization),
            ..Default::default()
        }
    }
}

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
