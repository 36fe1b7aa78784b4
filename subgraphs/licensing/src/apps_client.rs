//! What licensing needs to know of an app (its namespace, developer and pricing), asked of the
//! apps service: licensing never reads the apps tables.

use nexus_kit::Result;
use nexus_kit::core_client::CoreClient;
use serde::Deserialize;
use uuid::Uuid;

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
struct Answer {
    app: Option<AppInfo>,
}

impl AppInfo {
    pub fn developer_id(&self) -> Option<Uuid> {
        self.developer.as_ref().map(|d| d.id)
    }
}

/// The app `id`, or `None` if there is no such app.
pub async fn app(apps: &CoreClient, id: Uuid) -> Result<Option<AppInfo>> {
    let answer: Answer = apps
        .query(
            "query($id: ID!) { app(id: $id) { id namespace developer { id } } }",
            serde_json::json!({ "id": id }),
        )
        .await?;
    Ok(answer.app)
}
