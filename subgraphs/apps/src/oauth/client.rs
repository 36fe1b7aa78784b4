//! An app as an OAuth client: its secret (shown once, stored hashed, rotatable), its live
//! manifest's redirect URIs and scopes.

use std::collections::BTreeSet;

use chrono::Utc;
use nexus_kit::audit::Entry;
use nexus_kit::error::{Result, internal};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, TransactionTrait};
use uuid::Uuid;

use crate::entity::app::{self, AppStatus};
use crate::entity::app_credential;
use nexus_kit::secrets::sha256_hex;

/// A new client secret for the app (the old one stops working); returned once. `audit`
/// (`app.client_secret_rotated`, by whom) says `app.client_secret_created` for the first one.
pub async fn rotate_secret(db: &DatabaseConnection, app_id: Uuid, audit: Entry) -> Result<String> {
    let secret = format!("nxs_{}", nexus_kit::secrets::random_secret());
    let (hash, now) = (sha256_hex(&secret), Utc::now());
    let txn = db.begin().await.map_err(internal)?;
    // Whether there was a secret, told by the write itself: no read a racing rotation outdates.
    let replaced = app_credential::Entity::update_many()
        .col_expr(
            app_credential::Column::SecretHash,
            Expr::value(hash.clone()),
        )
        .col_expr(app_credential::Column::CreatedAt, Expr::value(now))
        .filter(app_credential::Column::AppId.eq(app_id))
        .exec(&txn)
        .await
        .map_err(internal)?
        .rows_affected
        == 1;
    if !replaced {
        app_credential::Entity::insert(app_credential::ActiveModel {
            app_id: Set(app_id),
            secret_hash: Set(hash),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(app_credential::Column::AppId)
                .update_columns([
                    app_credential::Column::SecretHash,
                    app_credential::Column::CreatedAt,
                ])
                .to_owned(),
        )
        .exec(&txn)
        .await
        .map_err(internal)?;
    }
    // No earlier secret stopped working: that is a creation, not a rotation.
    let action = if replaced {
        audit.action
    } else {
        "app.client_secret_created"
    };
    nexus_kit::audit::record(&txn, Entry { action, ..audit }).await?;
    txn.commit().await.map_err(internal)?;
    Ok(secret)
}

/// Whether `secret` is the client secret of the app `client_id` (the app id); `None` when the
/// id names no app with credentials.
pub async fn authenticate(
    db: &DatabaseConnection,
    client_id: &str,
    secret: &str,
) -> Result<Option<Uuid>> {
    let Ok(app_id) = Uuid::parse_str(client_id) else {
        return Ok(None);
    };
    let stored = app_credential::Entity::find_by_id(app_id)
        .one(db)
        .await
        .map_err(internal)?;
    Ok(stored
        .filter(|c| c.secret_hash == sha256_hex(secret))
        .map(|_| app_id))
}

/// A published app with what its live manifest says about OAuth.
pub struct Client {
    pub app: app::Model,
    pub redirect_uris: Vec<String>,
    pub required_scopes: BTreeSet<String>,
    pub optional_scopes: BTreeSet<String>,
    /// A public client (`oauth.token_endpoint_auth_method: none`): it redeems sign-ins with its
    /// `client_id` alone.
    pub public: bool,
}

impl Client {
    /// The published app `client_id` with its approved version, if there is one.
    pub async fn find(db: &DatabaseConnection, client_id: &str) -> Result<Option<Client>> {
        let Ok(app_id) = Uuid::parse_str(client_id) else {
            return Ok(None);
        };
        let Some(app) = app::Entity::find_by_id(app_id)
            .one(db)
            .await
            .map_err(internal)?
            .filter(|a| a.status == AppStatus::Published)
        else {
            return Ok(None);
        };
        let Some(live) = crate::registry::versions::live_version(db, app_id).await? else {
            return Ok(None);
        };
        let strings = |value: &serde_json::Value| -> Vec<String> {
            value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        Ok(Some(Client {
            redirect_uris: strings(&live.manifest["oauth"]["redirect_uris"]),
            public: live.manifest["oauth"]["token_endpoint_auth_method"] == "none",
            required_scopes: strings(&live.manifest["scopes"]["required"])
                .into_iter()
                .collect(),
            optional_scopes: strings(&live.manifest["scopes"]["optional"])
                .into_iter()
                .collect(),
            app,
        }))
    }

    /// Exact match with a registered URI; for a loopback `http` URI any port (RFC 8252 §7.3:
    /// native apps listen on whatever port the system gives them).
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri || same_loopback_uri_but_port(registered, uri))
    }

    /// Whether the manifest declares `scope`.
    pub fn declares(&self, scope: &str) -> bool {
        self.required_scopes.contains(scope) || self.optional_scopes.contains(scope)
    }
}

fn same_loopback_uri_but_port(registered: &str, asked: &str) -> bool {
    let (Ok(registered), Ok(asked)) = (url::Url::parse(registered), url::Url::parse(asked)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
    };
    loopback(&registered)
        && loopback(&asked)
        && registered.host_str() == asked.host_str()
        && registered.path() == asked.path()
        && registered.query() == asked.query()
        && asked.fragment().is_none()
        && asked.username().is_empty()
        && asked.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::same_loopback_uri_but_port as loopback;

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else() {
        assert!(loopback(
            "http://127.0.0.1:5001/cb",
            "http://127.0.0.1:61234/cb"
        ));
        assert!(loopback("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb"));
        assert!(!loopback(
            "http://127.0.0.1:5001/cb",
            "http://127.0.0.1:5001/other"
        ));
        assert!(!loopback(
            "http://127.0.0.1:5001/cb",
            "http://localhost:5001/cb"
        ));
        assert!(!loopback(
            "https://app.example.com/cb",
            "https://app.example.com:444/cb"
        ));
        assert!(!loopback(
            "http://127.0.0.1:5001/cb",
            "http://127.0.0.1:5001/cb#x"
        ));
        assert!(!loopback(
            "http://127.0.0.1:5001/cb",
            "http://u@127.0.0.1:5001/cb"
        ));
    }
}
