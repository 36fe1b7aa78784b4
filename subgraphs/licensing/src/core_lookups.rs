//! What licensing needs to know of other services' entities — an app's namespace and developer
//! (apps), that an organization exists (identity) — asked of those services: licensing never
//! reads their tables.

use nexus_kit::Result;
use nexus_kit::core_client::CoreClient;
use serde::Deserialize;
use uuid::Uuid;

/// The apps service.
pub struct AppsService(pub CoreClient);

/// The identity service.
pub struct IdentityService(pub CoreClient);

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub id: Uuid,
    pub namespace: String,
    pub developer: Option<Reference>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Reference {
    pub id: Uuid,
}

#[derive(Deserialize)]
struct AppAnswer {
    app: Option<AppInfo>,
}

#[derive(Deserialize)]
struct OrganizationAnswer {
    organization: Option<Reference>,
}

impl AppInfo {
    pub fn developer_id(&self) -> Option<Uuid> {
        self.developer.as_ref().map(|d| d.id)
    }
}

/// The app `id`, or `None` if there is no such app.
pub async fn app(apps: &AppsService, id: Uuid) -> Result<Option<AppInfo>> {
    let answer: AppAnswer = apps
        .0
        .query(
            "query($id: ID!) { app(id: $id) { id namespace developer { id } } }",
            serde_json::json!({ "id": id }),
        )
        .await?;
    Ok(answer.app)
}

/// Whether the organization `id` exists.
pub async fn organization_exists(identity: &IdentityService, id: Uuid) -> Result<bool> {
    let answer: OrganizationAnswer = identity
        .0
        .query(
            "query($id: ID!) { organization(id: $id) { id } }",
            serde_json::json!({ "id": id }),
        )
        .await?;
    Ok(answer.organization.is_some())
}
