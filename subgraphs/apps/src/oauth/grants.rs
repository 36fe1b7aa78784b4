//! What the authorization server remembers: authorizations (a user's consent for an app in an
//! organization), codes, grants and refresh tokens. Secrets (codes, refresh tokens) are stored
//! as SHA-256 hashes. Single use is a conditional write (`used_at IS NULL`), so of two
//! presentations racing, one wins; presenting a used code or refresh token again revokes the
//! grant it led to (RFC 6819 §5.2.1.1, OAuth 2.1 §4.3.1): whoever holds a copy loses it too.

use chrono::{DateTime, Duration, Utc};
use nexus_kit::audit::Entry;
use nexus_kit::error::{Result, internal};
use nexus_kit::id::new_id;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::entity::installation::{self, InstallationStatus};
use crate::entity::{oauth_authorization, oauth_code, oauth_grant, oauth_refresh_token};
use nexus_kit::secrets::{random_secret, sha256_hex};

/// How long an authorization code may wait to be redeemed.
pub const CODE_TTL: Duration = Duration::seconds(60);
/// How long a refresh token lives (each rotation starts a new one).
pub const REFRESH_TTL: Duration = Duration::days(30);

/// Why a code or refresh token gets nothing (`invalid_grant`, or `invalid_request`).
#[derive(Debug)]
pub enum Refused {
    InvalidGrant(&'static str),
    InvalidRequest(&'static str),
    Internal(nexus_kit::Error),
}

impl From<nexus_kit::Error> for Refused {
    fn from(e: nexus_kit::Error) -> Self {
        Refused::Internal(e)
    }
}

fn db_error(e: sea_orm::DbErr) -> Refused {
    Refused::Internal(internal(e))
}

/// Records (or renews) the user's consent; returns it. A consent given after one was revoked is
/// a new authorization: nothing the revoked one led to (grants, codes not yet redeemed) comes back.
/// `audit` (`oauth.consent_granted`, by the user) is recorded when the consent is new or asks
/// for a scope the standing one did not cover — an owner's, an admin's or a member's alike.
pub async fn authorize(
    db: &DatabaseConnection,
    user: Uuid,
    app: Uuid,
    organization: Uuid,
    installation: Uuid,
    scopes: &[String],
    audit: Entry,
) -> Result<oauth_authorization::Model> {
    let now = Utc::now();
    let txn = db.begin().await.map_err(internal)?;
    let existing = oauth_authorization::Entity::find()
        .filter(oauth_authorization::Column::UserId.eq(user))
        .filter(oauth_authorization::Column::AppId.eq(app))
        .filter(oauth_authorization::Column::OrganizationId.eq(organization))
        .one(&txn)
        .await
        .map_err(internal)?;
    let widened = match &existing {
        Some(live) if live.revoked_at.is_none() => {
            let standing = live.scopes();
            scopes.iter().any(|s| !standing.contains(s))
        }
        _ => true,
    };
    let recorded = match existing {
        Some(live) if live.revoked_at.is_none() => {
            let mut renewed: oauth_authorization::ActiveModel = live.into();
            renewed.installation_id = Set(installation);
            renewed.scopes = Set(serde_json::json!(scopes));
            renewed.updated_at = Set(now);
            renewed.update(&txn).await.map_err(internal)?
        }
        revoked => {
            if let Some(revoked) = revoked {
                oauth_authorization::Entity::delete_by_id(revoked.id)
                    .exec(&txn)
                    .await
                    .map_err(internal)?;
            }
            oauth_authorization::ActiveModel {
                id: Set(new_id()),
                user_id: Set(user),
                app_id: Set(app),
                organization_id: Set(organization),
                installation_id: Set(installation),
                scopes: Set(serde_json::json!(scopes)),
                created_at: Set(now),
                updated_at: Set(now),
                revoked_at: Set(None),
            }
            .insert(&txn)
            .await
            .map_err(|e| {
                nexus_kit::error::on_conflict(e, || {
                    "another consent for this app was being recorded at the same time; try again"
                        .to_owned()
                })
            })?
        }
    };
    if widened {
        let entry = audit
            .in_organization(organization)
            .target("oauth_authorization", recorded.id)
            .details(json!({ "app_id": app, "scopes": scopes }));
        nexus_kit::audit::record(&txn, entry).await?;
    }
    txn.commit().await.map_err(internal)?;
    Ok(recorded)
}

/// The user's standing consent for the app in the organization, if not revoked.
pub async fn remembered(
    db: &impl ConnectionTrait,
    user: Uuid,
    app: Uuid,
    organization: Uuid,
) -> Result<Option<oauth_authorization::Model>> {
    oauth_authorization::Entity::find()
        .filter(oauth_authorization::Column::UserId.eq(user))
        .filter(oauth_authorization::Column::AppId.eq(app))
        .filter(oauth_authorization::Column::OrganizationId.eq(organization))
        .filter(oauth_authorization::Column::RevokedAt.is_null())
        .one(db)
        .await
        .map_err(internal)
}

pub struct NewCode<'a> {
    pub authorization: Uuid,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub code_challenge: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: DateTime<Utc>,
    pub two_factor: bool,
    pub session_epoch: i64,
}

/// A new authorization code; returned once, stored hashed.
pub async fn create_code(db: &DatabaseConnection, new: NewCode<'_>) -> Result<String> {
    let code = random_secret();
    let now = Utc::now();
    oauth_code::ActiveModel {
        code_hash: Set(sha256_hex(&code)),
        authorization_id: Set(new.authorization),
        redirect_uri: Set(new.redirect_uri.to_owned()),
        scopes: Set(serde_json::json!(new.scopes)),
        code_challenge: Set(new.code_challenge.to_owned()),
        nonce: Set(new.nonce.map(str::to_owned)),
        auth_time: Set(new.auth_time),
        two_factor: Set(new.two_factor),
        session_epoch: Set(new.session_epoch),
        expires_at: Set(now + CODE_TTL),
        used_at: Set(None),
        grant_id: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(internal)?;
    Ok(code)
}

/// What redeeming a code or a refresh token gives.
pub struct Issued {
    pub authorization: oauth_authorization::Model,
    /// The installation the tokens act through, as it is now.
    pub installation: installation::Model,
    pub grant: oauth_grant::Model,
    pub nonce: Option<String>,
    /// With `offline_access`.
    pub refresh_token: Option<String>,
}

pub struct Redemption<'a> {
    pub client: Uuid,
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// Trades a code for a grant (RFC 6749 §4.1.3, RFC 7636 §4.6).
pub async fn redeem_code(db: &DatabaseConnection, r: Redemption<'_>) -> Result<Issued, Refused> {
    let (code, authorization) = presented_code(db, &r).await?;
    if code.used_at.is_some() {
        if let Some(grant) = code.grant_id {
            revoke_grant(db, grant).await?;
        }
        tracing::warn!(app = %r.client, user = %authorization.user_id, "authorization code reused; its grant is revoked");
        return Err(Refused::InvalidGrant(
            "the authorization code was already used: every token issued from it is revoked",
        ));
    }
    check_presentation(&r, &code, &authorization)?;
    let installation = installation_active(db, authorization.installation_id).await?;
    let txn = db.begin().await.map_err(db_error)?;
    let now = Utc::now();
    let txn = claim_code(db, txn, &code, now).await?;
    let scopes = code.scopes();
    let grant = new_grant(&txn, &authorization, &code, &scopes, now).await?;
    let refresh_token = if scopes.iter().any(|s| s == "offline_access") {
        Some(new_refresh_token(&txn, grant.id).await?)
    } else {
        None
    };
    txn.commit().await.map_err(db_error)?;
    Ok(Issued {
        authorization,
        installation,
        grant,
        nonce: code.nonce,
        refresh_token,
    })
}

/// The code presented and its authorization, when both exist and the code was issued to this
/// client.
async fn presented_code(
    db: &DatabaseConnection,
    r: &Redemption<'_>,
) -> Result<(oauth_code::Model, oauth_authorization::Model), Refused> {
    let unknown =
        Refused::InvalidGrant("the authorization code is unknown or was issued to another client");
    let Some(code) = oauth_code::Entity::find_by_id(sha256_hex(r.code))
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Err(unknown);
    };
    let authorization = oauth_authorization::Entity::find_by_id(code.authorization_id)
        .one(db)
        .await
        .map_err(db_error)?
        .filter(|a| a.app_id == r.client)
        .ok_or(unknown)?;
    Ok((code, authorization))
}

/// An unused code is redeemed only in time, by the redirect URI and PKCE verifier it was issued
/// for, while its authorization stands.
fn check_presentation(
    r: &Redemption<'_>,
    code: &oauth_code::Model,
    authorization: &oauth_authorization::Model,
) -> Result<(), Refused> {
    if code.expires_at <= Utc::now() {
        return Err(Refused::InvalidGrant("the authorization code has expired"));
    }
    if r.redirect_uri != Some(code.redirect_uri.as_str()) {
        return Err(Refused::InvalidGrant(
            "redirect_uri is not the one the code was issued for",
        ));
    }
    let Some(verifier) = r.code_verifier else {
        return Err(Refused::InvalidRequest(
            "code_verifier is missing (PKCE is required)",
        ));
    };
    if !pkce_matches(verifier, &code.code_challenge) {
        return Err(Refused::InvalidGrant(
            "code_verifier does not match the code_challenge",
        ));
    }
    if authorization.revoked_at.is_some() {
        return Err(Refused::InvalidGrant("the authorization was revoked"));
    }
    Ok(())
}

/// Marks the code used in `txn` (single use: of two racing redemptions one wins); the loser's
/// transaction is rolled back and it is refused as a reuse.
async fn claim_code(
    db: &DatabaseConnection,
    txn: DatabaseTransaction,
    code: &oauth_code::Model,
    now: DateTime<Utc>,
) -> Result<DatabaseTransaction, Refused> {
    let claimed = oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::UsedAt, Expr::value(now))
        .filter(oauth_code::Column::CodeHash.eq(code.code_hash.clone()))
        .filter(oauth_code::Column::UsedAt.is_null())
        .exec(&txn)
        .await
        .map_err(db_error)?;
    if claimed.rows_affected != 1 {
        // Another redemption won the race: this one is a reuse, and what the winner got is
        // revoked too (the winner's commit, which this update waited for, names its grant).
        txn.rollback().await.map_err(db_error)?;
        let winner = oauth_code::Entity::find_by_id(code.code_hash.clone())
            .one(db)
            .await
            .map_err(db_error)?
            .and_then(|c| c.grant_id);
        if let Some(grant) = winner {
            revoke_grant(db, grant).await?;
        }
        return Err(Refused::InvalidGrant(
            "the authorization code was already used: every token issued from it is revoked",
        ));
    }
    Ok(txn)
}

/// The grant the code leads to, recorded on the code (so a reuse can revoke it).
async fn new_grant(
    txn: &DatabaseTransaction,
    authorization: &oauth_authorization::Model,
    code: &oauth_code::Model,
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<oauth_grant::Model, Refused> {
    let grant = oauth_grant::ActiveModel {
        id: Set(new_id()),
        authorization_id: Set(authorization.id),
        scopes: Set(serde_json::json!(scopes)),
        auth_time: Set(code.auth_time),
        two_factor: Set(code.two_factor),
        session_epoch: Set(code.session_epoch),
        created_at: Set(now),
        revoked_at: Set(None),
    }
    .insert(txn)
    .await
    .map_err(db_error)?;
    oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::GrantId, Expr::value(grant.id))
        .filter(oauth_code::Column::CodeHash.eq(code.code_hash.clone()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    Ok(grant)
}

/// `BASE64URL(SHA-256(verifier)) == challenge` (RFC 7636 §4.6), for a verifier of the allowed
/// characters and length.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    if !valid_pkce_string(verifier) {
        return false;
    }
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    computed == challenge
}

/// 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` (RFC 7636 §4.1).
pub fn valid_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn installation_active(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<installation::Model, Refused> {
    match installation::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_error)?
    {
        Some(i) if i.status == InstallationStatus::Active => Ok(i),
        _ => Err(Refused::InvalidGrant(
            "the app is no longer installed in that organization",
        )),
    }
}

async fn new_refresh_token(db: &impl ConnectionTrait, grant: Uuid) -> Result<String, Refused> {
    let token = random_secret();
    let now = Utc::now();
    oauth_refresh_token::ActiveModel {
        id: Set(new_id()),
        grant_id: Set(grant),
        token_hash: Set(sha256_hex(&token)),
        expires_at: Set(now + REFRESH_TTL),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(db_error)?;
    Ok(token)
}

/// The grant a refresh token belongs to and its authorization, when the token is the client's.
pub async fn refresh_token_of(
    db: &DatabaseConnection,
    client: Uuid,
    token: &str,
) -> Result<
    Option<(
        oauth_refresh_token::Model,
        oauth_grant::Model,
        oauth_authorization::Model,
    )>,
> {
    let Some(stored) = oauth_refresh_token::Entity::find()
        .filter(oauth_refresh_token::Column::TokenHash.eq(sha256_hex(token)))
        .one(db)
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    let Some(grant) = oauth_grant::Entity::find_by_id(stored.grant_id)
        .one(db)
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    let authorization = oauth_authorization::Entity::find_by_id(grant.authorization_id)
        .one(db)
        .await
        .map_err(internal)?
        .filter(|a| a.app_id == client);
    Ok(authorization.map(|a| (stored, grant, a)))
}

/// Trades a refresh token for the next one of its grant (and new tokens). `scope`, if given,
/// may only narrow what the grant has.
pub async fn refresh(
    db: &DatabaseConnection,
    client: Uuid,
    token: &str,
) -> Result<Issued, Refused> {
    let invalid = Refused::InvalidGrant("the refresh token is invalid, expired or revoked");
    let (stored, grant, authorization) =
        refresh_token_of(db, client, token).await?.ok_or(invalid)?;
    if stored.used_at.is_some() {
        revoke_grant(db, grant.id).await?;
        tracing::warn!(app = %client, user = %authorization.user_id, "refresh token reused; its grant is revoked");
        return Err(Refused::InvalidGrant(
            "the refresh token was already used: every token of that sign-in is revoked",
        ));
    }
    if grant.revoked_at.is_some()
        || authorization.revoked_at.is_some()
        || stored.expires_at <= Utc::now()
    {
        return Err(Refused::InvalidGrant(
            "the refresh token is invalid, expired or revoked",
        ));
    }
    let installation = installation_active(db, authorization.installation_id).await?;
    let txn = db.begin().await.map_err(db_error)?;
    let claimed = oauth_refresh_token::Entity::update_many()
        .col_expr(oauth_refresh_token::Column::UsedAt, Expr::value(Utc::now()))
        .filter(oauth_refresh_token::Column::Id.eq(stored.id))
        .filter(oauth_refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await
        .map_err(db_error)?;
    if claimed.rows_affected != 1 {
        txn.rollback().await.map_err(db_error)?;
        revoke_grant(db, grant.id).await?;
        return Err(Refused::InvalidGrant(
            "the refresh token was already used: every token of that sign-in is revoked",
        ));
    }
    let next = new_refresh_token(&txn, grant.id).await?;
    txn.commit().await.map_err(db_error)?;
    Ok(Issued {
        authorization,
        installation,
        grant,
        nonce: None,
        refresh_token: Some(next),
    })
}

/// Ends a grant: its refresh tokens stop working, its access tokens within seconds.
pub async fn revoke_grant(db: &impl ConnectionTrait, grant: Uuid) -> Result<()> {
    oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(oauth_grant::Column::Id.eq(grant))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Whether tokens of the grant may still be used: it and its authorization are not revoked.
pub async fn grant_is_live(db: &impl ConnectionTrait, grant: Uuid) -> Result<bool> {
    let Some(grant) = oauth_grant::Entity::find_by_id(grant)
        .one(db)
        .await
        .map_err(internal)?
    else {
        return Ok(false);
    };
    if grant.revoked_at.is_some() {
        return Ok(false);
    }
    Ok(
        oauth_authorization::Entity::find_by_id(grant.authorization_id)
            .one(db)
            .await
            .map_err(internal)?
            .is_some_and(|a| a.revoked_at.is_none()),
    )
}

/// Ends every authorization given through an installation (it was uninstalled): their tokens
/// stop working, and a new sign-in asks for consent again.
pub async fn revoke_for_installation(db: &impl ConnectionTrait, installation: Uuid) -> Result<()> {
    end_authorizations(
        db,
        Condition::all().add(oauth_authorization::Column::InstallationId.eq(installation)),
    )
    .await
    .map(|_| ())
}

/// The user's sessions before `epoch` ended (`user.sessions_ended`: a password reset or change):
/// the grants and the unredeemed codes made from a sign-in before it are revoked — an intruder's
/// among them. The consents stay (nothing an app may do changes); signing in again makes new
/// grants. Returns the grants revoked.
pub async fn revoke_signed_in_before(
    db: &impl ConnectionTrait,
    user: Uuid,
    epoch: i64,
) -> Result<Vec<Uuid>> {
    let of_user = || {
        sea_orm::sea_query::Query::select()
            .column(oauth_authorization::Column::Id)
            .from(oauth_authorization::Entity)
            .and_where(oauth_authorization::Column::UserId.eq(user))
            .to_owned()
    };
    let live: Vec<Uuid> = oauth_grant::Entity::find()
        .select_only()
        .column(oauth_grant::Column::Id)
        .filter(oauth_grant::Column::AuthorizationId.in_subquery(of_user()))
        .filter(oauth_grant::Column::SessionEpoch.lt(epoch))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .into_tuple()
        .all(db)
        .await
        .map_err(internal)?;
    let now = Utc::now();
    oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::RevokedAt, Expr::value(now))
        .filter(oauth_grant::Column::Id.is_in(live.clone()))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::ExpiresAt, Expr::value(now))
        .filter(oauth_code::Column::AuthorizationId.in_subquery(of_user()))
        .filter(oauth_code::Column::SessionEpoch.lt(epoch))
        .filter(oauth_code::Column::UsedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(live)
}

/// Revokes the user's authorizations of the app (in one organization, or all); how many.
/// `audit` (`oauth.authorization_revoked`, by whom) is appended once per authorization ended.
pub async fn revoke_for_user(
    db: &DatabaseConnection,
    user: Uuid,
    app: Uuid,
    organization: Option<Uuid>,
    audit: Entry,
) -> Result<u64> {
    let mut which = Condition::all()
        .add(oauth_authorization::Column::UserId.eq(user))
        .add(oauth_authorization::Column::AppId.eq(app))
        .add(oauth_authorization::Column::RevokedAt.is_null());
    if let Some(organization) = organization {
        which = which.add(oauth_authorization::Column::OrganizationId.eq(organization));
    }
    // Reads, then writes: SQLite's write lock first.
    let txn = nexus_kit::db::begin_writing(db).await.map_err(internal)?;
    let live = oauth_authorization::Entity::find()
        .filter(which)
        .all(&txn)
        .await
        .map_err(internal)?;
    // One at a time (a user has one per organization): each entry names an authorization this
    // call ended, not one a racing revocation ended first.
    let mut ended = Vec::new();
    for authorization in live {
        let this_one = Condition::all().add(oauth_authorization::Column::Id.eq(authorization.id));
        if end_authorizations(&txn, this_one).await? == 1 {
            ended.push(authorization);
        }
    }
    for authorization in &ended {
        let entry = audit
            .clone()
            .in_organization(authorization.organization_id)
            .target("oauth_authorization", authorization.id)
            .details(json!({ "app_id": authorization.app_id }));
        nexus_kit::audit::record(&txn, entry).await?;
    }
    txn.commit().await.map_err(internal)?;
    Ok(ended.len() as u64)
}

/// Revokes the live authorizations `which` selects and every grant of theirs (so a later consent,
/// which renews the authorization, never revives an old grant's tokens).
async fn end_authorizations(db: &impl ConnectionTrait, which: Condition) -> Result<u64> {
    let which = which.add(oauth_authorization::Column::RevokedAt.is_null());
    let ids: Vec<Uuid> = oauth_authorization::Entity::find()
        .select_only()
        .column(oauth_authorization::Column::Id)
        .filter(which)
        .into_tuple()
        .all(db)
        .await
        .map_err(internal)?;
    if ids.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::RevokedAt, Expr::value(now))
        .filter(oauth_grant::Column::AuthorizationId.is_in(ids.clone()))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    oauth_authorization::Entity::update_many()
        .col_expr(oauth_authorization::Column::RevokedAt, Expr::value(now))
        .filter(oauth_authorization::Column::Id.is_in(ids))
        .filter(oauth_authorization::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)
        .map(|r| r.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        // Python: base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        let verifier = "dBjftJeZ4CVP-mJ92K8pLuWZvvQ4xUEaN6tGspKLSVw";
        let challenge = "53EtRZY5oJyQInDyD1Go3Do2DgIts0582VJM4ahyuCE";
        assert!(pkce_matches(verifier, challenge));
        assert!(
            !pkce_matches(challenge, challenge),
            "the challenge is not its own verifier"
        );
        assert!(!pkce_matches("short", "x"));
        assert!(!valid_pkce_string(&"a".repeat(129)));
        assert!(!valid_pkce_string(&format!("{}!", "a".repeat(43))));
    }
}
