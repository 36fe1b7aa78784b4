//! identity's side of the contracts between the services (`nexus_protocol::internal`): the
//! membership lookup, the account contract of the OAuth pages, and the router's API-key exchange.
//! None of these is reachable from the public port.

pub mod account;
pub mod api_key;
pub mod membership;

use std::sync::Arc;

use axum::routing::{get, post};
use nexus_kit::internal::membership as membership_contract;
use nexus_kit::internal::{account as account_contract, api_key as api_key_contract};
use nexus_kit::token::KeyStore;
use sea_orm::DatabaseConnection;

use crate::accounts::AuthConfig;

/// The internal routes, beside the GraphQL endpoint.
pub fn routes(db: DatabaseConnection, keys: Arc<KeyStore>, config: AuthConfig) -> axum::Router {
    let accounts = (db.clone(), config);
    axum::Router::new()
        .route(
            api_key_contract::EXCHANGE_PATH,
            post(api_key::exchange).with_state(accounts.clone()),
        )
        .route(
            account_contract::AUTHENTICATE_PATH,
            post(account::authenticate).with_state(accounts.clone()),
        )
        .route(
            account_contract::ACCOUNT_PATH,
            get(account::account).with_state(accounts),
        )
        .route(
            membership_contract::PATH,
            get(membership::lookup).with_state((db, keys)),
        )
}
