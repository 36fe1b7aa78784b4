//! What an app can touch, in the graph: computed from its live version (`App.access`) or any
//! version (`AppVersion.access`), and what a version adds or drops against the approved version
//! before it (`accessChanges`) — for reviewers, and for the admins who install it.

use async_graphql::{Context, Object, SimpleObject};
use nexus_kit::Result;
use nexus_registry::access::{Access, AccessChanges};

/// What a version touches that the approved version before it did not (the graph's
/// `AppAccessChanges`).
pub type AppAccessChanges = AccessChanges;
use sea_orm::DatabaseConnection;

use super::types::{App, AppVersion};
use crate::entity::app_version;

/// A core type and the fields an app adds to it.
#[derive(SimpleObject)]
pub struct ExtendedType {
    #[graphql(name = "type")]
    pub type_name: String,
    pub fields: Vec<String>,
}

pub struct AppAccess(pub Access);

/// What an app can touch: computed from its subgraph (as the extension policy let it through)
/// and its manifest, not declared by its vendor.
#[Object]
impl AppAccess {
    /// The core types it adds fields to, with those fields.
    async fn extends(&self) -> Vec<ExtendedType> {
        self.0
            .extends
            .iter()
            .map(|(t, fields)| ExtendedType {
                type_name: t.clone(),
                fields: fields.iter().cloned().collect(),
            })
            .collect()
    }

    /// Granted with every installation.
    async fn required_scopes(&self) -> Vec<String> {
        self.0.required_scopes.iter().cloned().collect()
    }

    /// An organization may grant these or not.
    async fn optional_scopes(&self) -> Vec<String> {
        self.0.optional_scopes.iter().cloned().collect()
    }

    /// The events it hears (within what its granted scopes cover).
    async fn webhook_events(&self) -> Vec<String> {
        self.0.webhook_events.iter().cloned().collect()
    }

    /// It signs users in with Nexus (OpenID Connect).
    async fn signs_users_in(&self) -> bool {
        self.0.signs_users_in
    }

    /// The hosts its sign-ins may send a browser back to.
    async fn redirect_hosts(&self) -> Vec<String> {
        self.0.redirect_hosts.iter().cloned().collect()
    }
}

/// `version`'s changes against the approved version before it; none without an SDL (a version
/// refused before its subgraph answered).
pub async fn changes_of(
    ctx: &Context<'_>,
    version: &app_version::Model,
) -> Result<Option<AppAccessChanges>> {
    let Some(now) = crate::listing::version_access(version) else {
        return Ok(None);
    };
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let before = crate::listing::previous_approved(db, version)
        .await?
        .and_then(|v| crate::listing::version_access(&v));
    let first = before.is_none();
    let mut changes = now.changes_since(&before.unwrap_or_default());
    changes.first_version = first;
    Ok(Some(changes))
}

impl App {
    pub(super) fn access_now(&self) -> Option<AppAccess> {
        crate::listing::stored_access(&self.0).map(AppAccess)
    }
}

impl AppVersion {
    pub(super) fn access_of(&self) -> Option<AppAccess> {
        crate::listing::version_access(&self.0).map(AppAccess)
    }
}
