//! Identity's writes, shared by the GraphQL mutations and the demo seed. Input is validated here,
//! so every entry point gets the same errors.

use chrono::Utc;
use nexus_kit::error::{Result, bad_input, internal, not_found, on_conflict};
use nexus_kit::id::new_id;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::entity::membership::{self, Role};
use crate::entity::{organization, user};

/// Trimmed and lowercased, so uniqueness is case-insensitive.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 320
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(bad_input(format!("`{email}` is not a valid email address")))
    }
}

/// Lowercase letters, digits and single dashes, 2 to 64 characters: safe in URLs.
pub fn validate_slug(slug: &str) -> Result<()> {
    let ok = (2..=64).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if ok {
        Ok(())
    } else {
        Err(bad_input(format!(
            "`{slug}` is not a valid slug: use 2 to 64 lowercase letters, digits and single dashes"
        )))
    }
}

fn validate_name(name: &str, what: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(bad_input(format!(
            "{what} name must be 1 to 200 characters"
        )));
    }
    Ok(name.to_owned())
}

pub async fn create_user(
    db: &DatabaseConnection,
    email: &str,
    name: &str,
    avatar_url: Option<String>,
) -> Result<user::Model> {
    let email = normalize_email(email)?;
    let name = validate_name(name, "user")?;
    let now = Utc::now();
    user::ActiveModel {
        id: Set(new_id()),
        email: Set(email.clone()),
        name: Set(name),
        avatar_url: Set(avatar_url),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| on_conflict(e, || format!("a user with email `{email}` already exists")))
}

pub async fn create_organization(
    db: &DatabaseConnection,
    name: &str,
    slug: &str,
) -> Result<organization::Model> {
    let name = validate_name(name, "organization")?;
    validate_slug(slug)?;
    let now = Utc::now();
    organization::ActiveModel {
        id: Set(new_id()),
        name: Set(name),
        slug: Set(slug.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| {
        on_conflict(e, || {
            format!("an organization with slug `{slug}` already exists")
        })
    })
}

pub async fn add_membership(
    db: &DatabaseConnection,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<membership::Model> {
    let organization = organization::Entity::find_by_id(organization_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no organization with id `{organization_id}`")))?;
    user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no user with id `{user_id}`")))?;
    membership::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(organization_id),
        user_id: Set(user_id),
        role: Set(role),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| {
        on_conflict(e, || {
            format!(
                "user `{user_id}` is already a member of organization `{}`",
                organization.slug
            )
        })
    })
}

pub async fn find_organization_by_slug(
    db: &DatabaseConnection,
    slug: &str,
) -> Result<Option<organization::Model>> {
    organization::Entity::find()
        .filter(organization::Column::Slug.eq(slug))
        .one(db)
        .await
        .map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").ok().as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.d",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn slugs_are_url_safe() {
        assert!(validate_slug("acme-corp").is_ok());
        for bad in ["a", "Acme", "acme_corp", "-acme", "acme-", "ac--me", "acmé"] {
            assert!(validate_slug(bad).is_err(), "{bad} was accepted");
        }
    }
}
