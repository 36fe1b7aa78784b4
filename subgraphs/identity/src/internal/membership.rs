//! identity's side of the membership contract (`nexus_protocol::internal::membership`):
//! `GET /internal/membership?user=…&organization=…` answers the user's role in the organization
//! now, for the router, the apps and licensing services, which check a token's `org`/`role`
//! against it so that a demotion or removal takes effect within seconds rather than when the
//! token expires. Only Nexus's own services may ask.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nexus_kit::internal::membership::{MembershipAnswer, MembershipQuery};
use nexus_kit::token::KeyStore;
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::entity::membership::role_name;
use crate::entity::organization;
use crate::memberships::membership_of;

pub async fn lookup(
    State((db, keys)): State<(DatabaseConnection, Arc<KeyStore>)>,
    Query(params): Query<MembershipQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) =
        nexus_kit::server::refuse_unless_service(&headers, &keys, "membership lookup")
    {
        return refused;
    }
    let required = match organization::Entity::find_by_id(params.organization)
        .one(&db)
        .await
    {
        Ok(found) => found.is_some_and(|o| o.require_two_factor),
        Err(e) => {
            tracing::error!(error = %e, "cannot read an organization");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read organizations",
            )
                .into_response();
        }
    };
    match membership_of(&db, params.organization, params.user).await {
        Ok(found) => Json(MembershipAnswer {
            // The same names the tokens' `role` claim carries.
            role: found.map(|m| role_name(m.role).to_owned()),
            two_factor_required: required,
        })
        .into_response(),
        // `internal` has logged it.
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot read memberships").into_response(),
    }
}
