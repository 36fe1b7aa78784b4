//! The signed-in account's profile, and deleting the account.

use async_graphql::{Context, InputObject, MaybeUndefined, Object};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use sea_orm::DatabaseConnection;

use super::sessions::confirm_password;
use super::types::User;
use crate::users;

/// Fields left out stay as they are; `avatarUrl: null` removes the picture.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub name: Option<String>,
    /// An https URL.
    pub avatar_url: MaybeUndefined<String>,
}

#[derive(Default)]
pub struct ProfileMutation;

#[Object]
impl ProfileMutation {
    /// Deletes your account, with your memberships and sessions; your password confirms it
    /// (attempts count as logins). Refused while you are an organization's only owner. Apps in
    /// your organizations hear `user.deleted` and `member.removed`.
    async fn delete_account(&self, ctx: &Context<'_>, password: String) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let user_id = caller(ctx).require_user()?;
        confirm_password(ctx, user_id, password).await?;
        crate::accounts::deletion::delete_account(db, user_id, Entry::by(ctx, "user.deleted"))
            .await?;
        Ok(true)
    }

    /// Changes your name or avatar. Apps installed in your organizations with `users:read` hear
    /// `user.updated`.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let user = caller(ctx).require_user()?;
        let avatar_url = match input.avatar_url {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(url) => Some(Some(url)),
        };
        let changes = users::ProfileChanges {
            name: input.name,
            avatar_url,
        };
        users::update_profile(db, user, changes).await.map(User)
    }
}
