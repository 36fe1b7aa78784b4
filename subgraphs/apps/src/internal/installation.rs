//! The apps service's side of the installation contract
//! (`nexus_protocol::internal::installation`), `GET /internal/installation`: what the router
//! needs to know about an installation before it lets a call through — for the installation gate (`?namespace=…&organization=…`: is the app
//! installed there?) and for installation tokens (`?id=…`: is it still live, with which scopes?;
//! `&grant=…` for an app's token acting for a user: is its OAuth grant still unrevoked?).
//! Only Nexus's own services may ask (a service token): it is not part of the public graph.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

use nexus_kit::error::{Result, internal};
use nexus_kit::internal::installation::{InstallationView, LookupAnswer, LookupQuery};
use nexus_kit::token::KeyStore;

use crate::entity::app::{self, AppStatus};
use crate::entity::installation::{self, InstallationStatus};

pub async fn lookup(
    State((db, keys)): State<(DatabaseConnection, Arc<KeyStore>)>,
    Query(params): Query<LookupQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) =
        nexus_kit::server::refuse_unless_service(&headers, &keys, "installation lookup")
    {
        return refused;
    }
    let found = match (params.id, params.namespace, params.organization) {
        (Some(id), None, None) => by_id(&db, id, params.grant).await,
        (None, Some(namespace), Some(organization)) => by_app(&db, &namespace, organization).await,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "ask with `id`, or with `namespace` and `organization`",
            )
                .into_response();
        }
    };
    match found {
        Ok(installation) => Json(LookupAnswer { installation }).into_response(),
        // `internal` has logged it.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot read installations",
        )
            .into_response(),
    }
}

async fn by_id(
    db: &DatabaseConnection,
    id: Uuid,
    grant: Option<Uuid>,
) -> Result<Option<InstallationView>> {
    let Some(found) = installation::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    let app = app::Entity::find_by_id(found.app_id)
        .one(db)
        .await
        .map_err(internal)?;
    let grant_live = match grant {
        Some(grant) => crate::oauth::grants::grant_is_live(db, grant).await?,
        None => true,
    };
    Ok(app.map(|app| {
        let mut view = view(found, &app);
        view.live &= grant_live;
        view
    }))
}

async fn by_app(
    db: &DatabaseConnection,
    namespace: &str,
    organization: Uuid,
) -> Result<Option<InstallationView>> {
    let Some(app) = crate::listing::find_app_by_namespace(db, namespace).await? else {
        return Ok(None);
    };
    let found = crate::installations::for_app(db, app.id, organization).await?;
    Ok(found.map(|found| view(found, &app)))
}

fn view(found: installation::Model, app: &app::Model) -> InstallationView {
    InstallationView {
        id: found.id,
        app_id: found.app_id,
        namespace: app.namespace.clone(),
        organization_id: found.organization_id,
        live: found.status == InstallationStatus::Active && app.status == AppStatus::Published,
        scopes: found.scopes(),
    }
}
