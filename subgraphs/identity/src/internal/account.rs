//! identity's side of the account contract (`nexus_protocol::internal::account`), for the apps
//! service's sign-in and consent pages: `POST /internal/authenticate` checks a password under the
//! same login limits as `logIn`, and `GET /internal/account?user=…` says who someone is and where
//! they belong. Only Nexus's own services may ask.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nexus_kit::Code;
use nexus_kit::audit::{Actor, Entry};
use nexus_kit::error::{Result, internal};
use nexus_kit::internal::account::{
    Account, AccountMembership, AccountQuery, Credentials, Refusal,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::accounts::session::Device;
use crate::accounts::{AuthConfig, known_device, sign_in, sign_in_log};
use crate::entity::membership::role_name;
use crate::entity::{membership, organization, user};

fn refusal(error: nexus_kit::Error) -> Response {
    let code = Code::of(&error);
    let status = match code {
        Code::Unauthenticated | Code::SecondFactorRequired => StatusCode::UNAUTHORIZED,
        Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (
        status,
        Json(Refusal {
            code: code.as_str().to_owned(),
            challenge: nexus_kit::error::extension(&error, "challenge"),
            message: error.message,
        }),
    )
        .into_response()
}

pub async fn authenticate(
    State((db, config)): State<(DatabaseConnection, AuthConfig)>,
    headers: HeaderMap,
    Json(credentials): Json<Credentials>,
) -> Response {
    if let Some(refused) =
        nexus_kit::server::refuse_unless_service(&headers, &config.keys, "authentication")
    {
        return refused;
    }
    match check(&db, &config, credentials).await {
        Ok(account) => Json(account).into_response(),
        Err(e) => refusal(e),
    }
}

/// `logIn`'s checks: limits first, the same error for an unknown email and a wrong password;
/// an account with two-factor sign-in answers `SECOND_FACTOR_REQUIRED` with a challenge, which
/// comes back with a code (`verifySecondFactor`'s checks).
pub(crate) async fn check(
    db: &DatabaseConnection,
    config: &AuthConfig,
    input: Credentials,
) -> Result<Account> {
    let entry = |action| Entry::new(action, Actor::anonymous(), Some(input.address.clone()));
    if let (Some(challenge), Some(code)) = (&input.challenge, &input.code) {
        let (user, _, _) = crate::accounts::two_factor::complete(
            db,
            config,
            challenge,
            code,
            entry("user.sign_in_failed"),
        )
        .await?;
        record_signed_in(db, entry("user.signed_in"), user.id, true).await;
        let mut account = describe(db, user).await?;
        account.two_factor = true;
        account.known_device = known_device::issue(&config.keys, account.id);
        return Ok(account);
    }
    let device = Device {
        user_agent: None,
        address: Some(input.address.chars().take(64).collect()),
    };
    let found =
        sign_in::password_step(db, config, &input, &device, entry("user.sign_in_failed")).await?;
    record_signed_in(db, entry("user.signed_in"), found.id, false).await;
    let mut account = describe(db, found).await?;
    account.known_device = known_device::issue(&config.keys, account.id);
    Ok(account)
}

/// `user.signed_in` on the OAuth sign-in page (the browser session it starts is the apps
/// service's, so there is no transaction of identity's to share).
async fn record_signed_in(db: &DatabaseConnection, entry: Entry, user: Uuid, second_factor: bool) {
    let entry = sign_in_log::signed_in(entry, user)
        .details(serde_json::json!({ "via": "oauth", "second_factor": second_factor }));
    if let Err(e) = nexus_kit::audit::append(db, entry).await {
        tracing::error!(error = %e, "cannot record a sign-in");
    }
}

pub async fn account(
    State((db, config)): State<(DatabaseConnection, AuthConfig)>,
    Query(params): Query<AccountQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) =
        nexus_kit::server::refuse_unless_service(&headers, &config.keys, "account lookup")
    {
        return refused;
    }
    let found = match user::Entity::find_by_id(params.user).one(&db).await {
        Ok(found) => found,
        Err(e) => return refusal(internal(e)),
    };
    let Some(found) = found else {
        return (StatusCode::NOT_FOUND, "no such user").into_response();
    };
    match describe(&db, found).await {
        Ok(account) => Json(account).into_response(),
        Err(e) => refusal(e),
    }
}

async fn describe(db: &DatabaseConnection, found: user::Model) -> Result<Account> {
    let memberships = membership::Entity::find()
        .filter(membership::Column::UserId.eq(found.id))
        .all(db)
        .await
        .map_err(internal)?;
    let organizations: HashMap<Uuid, organization::Model> = organization::Entity::find()
        .filter(organization::Column::Id.is_in(memberships.iter().map(|m| m.organization_id)))
        .all(db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let mut memberships: Vec<AccountMembership> = memberships
        .into_iter()
        .filter_map(|m| {
            let organization = organizations.get(&m.organization_id)?;
            Some(AccountMembership {
                organization_id: m.organization_id,
                organization_name: organization.name.clone(),
                organization_slug: organization.slug.clone(),
                role: role_name(m.role).to_owned(),
                two_factor_required: organization.require_two_factor,
            })
        })
        .collect();
    memberships.sort_by(|a, b| a.organization_name.cmp(&b.organization_name));
    Ok(Account {
        id: found.id,
        email: found.email,
        name: found.name,
        email_verified: found.email_verified_at.is_some(),
        memberships,
        two_factor: false,
        session_epoch: found.session_epoch,
        known_device: None,
    })
}
