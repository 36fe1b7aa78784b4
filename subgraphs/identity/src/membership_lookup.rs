//! `GET /internal/membership?user=…&organization=…`: the user's role in the organization now
//! (`{"role": "owner" | "admin" | "member" | null}`), for the apps and licensing services, which
//! check a token's `org`/`role` against it so that a demotion or removal takes effect within
//! seconds rather than when the token expires. Only Nexus's own services may ask.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use uuid::Uuid;

use nexus_kit::authority::{MEMBERSHIP_LOOKUP_PATH, MembershipAnswer};
use nexus_kit::token::KeyStore;

use crate::accounts::session::role_name;
use crate::service::membership_of;

pub const PATH: &str = MEMBERSHIP_LOOKUP_PATH;

#[derive(Deserialize)]
pub struct LookupParams {
    user: Uuid,
    organization: Uuid,
}

pub async fn lookup(
    State((db, keys)): State<(DatabaseConnection, Arc<KeyStore>)>,
    Query(params): Query<LookupParams>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) =
        nexus_kit::server::refuse_unless_service(&headers, &keys, "membership lookup")
    {
        return refused;
    }
    match membership_of(&db, params.organization, params.user).await {
        Ok(found) => Json(MembershipAnswer {
            // The same names the tokens' `role` claim carries.
            role: found.map(|m| role_name(m.role).to_owned()),
        })
        .into_response(),
        // `internal` has logged it.
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot read memberships").into_response(),
    }
}
