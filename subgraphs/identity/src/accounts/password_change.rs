//! A new password for an account (`changePassword`): the hash stored, every other session and
//! every pending letter's link ended, in one transaction.

use chrono::Utc;
use nexus_kit::audit::Entry;
use nexus_kit::error::{Result, internal};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use uuid::Uuid;

use crate::entity::user;
use crate::users::lock_user;

/// Sets a new password hash and ends every session but `keep`, and every pending letter's link,
/// in one transaction (the user's row locked first, so a refresh racing it waits its turn).
pub async fn set_password(
    db: &DatabaseConnection,
    user_id: Uuid,
    password_hash: String,
    keep: Option<Uuid>,
    audit: Entry,
) -> Result<()> {
    let txn = db.begin().await.map_err(internal)?;
    lock_user(&txn, user_id).await?;
    crate::accounts::email::forget_pending(&txn, user_id).await?;
    user::Entity::update_many()
        .col_expr(
            user::Column::PasswordHash,
            sea_orm::sea_query::Expr::value(Some(password_hash)),
        )
        .col_expr(
            user::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(&txn)
        .await
        .map_err(internal)?;
    crate::accounts::session::revoke_all_but(&txn, user_id, keep).await?;
    crate::accounts::session::end_elsewhere(&txn, user_id).await?;
    nexus_kit::audit::record(&txn, audit.target("user", user_id)).await?;
    txn.commit().await.map_err(internal)
}
