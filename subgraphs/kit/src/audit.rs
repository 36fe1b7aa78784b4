//! The audit log: who did what, to what, from where, and when — for every security-relevant action
//! of every service. An entry is appended with the same connection (the same transaction) as the
//! action it records, so an action that rolls back leaves no entry and one that commits always
//! has one. Appending is one INSERT: actions never wait on each other for the log.
//!
//! Entries are then sealed into a hash chain, in the order the sealer finds them (`seal`, run
//! every second by one task per platform, and by `nexus audit verify` first): each gets its
//! position, the hash of the entry before it and its own hash, and one head row holds the newest.
//! A sealed row changed, removed or inserted by hand breaks the chain where it happened, and
//! [`verify`] names the first broken entry. (An entry is open to undetected change for the
//! second before it is sealed.) Each seal signs the head (position, hash, time) with the
//! platform's key, so a chain rewritten from the start by someone who can write to the database,
//! but does not hold the key file, does not verify either.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::Caller;
use nexus_protocol::token::{KeyStore, TokenType};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Position in the chain once sealed: 1, 2, 3, … without gaps.
        #[sea_orm(unique)]
        pub seq: Option<i64>,
        pub occurred_at: DateTimeUtc,
        /// `user.signed_in`, `api_key.created`, … (see `docs/audit.md`).
        pub action: String,
        /// `user`, `api_key`, `app`, `service`, `anonymous` or `operator` (the `nexus` command).
        pub actor_type: String,
        pub actor_id: Option<String>,
        pub organization_id: Option<Uuid>,
        pub target_type: Option<String>,
        pub target_id: Option<String>,
        /// The client's address as the router resolved it.
        pub address: Option<String>,
        /// JSON, kept as the exact text that is hashed.
        pub details: String,
        /// Set when sealed.
        pub prev_hash: Option<String>,
        pub hash: Option<String>,
        /// What the hash covers: 1 (entries appended before the id was hashed), 2 (the id too).
        pub format: i16,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The newest entry of the chain (one row, id 1).
pub mod head {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_chain_head")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub seq: i64,
        pub hash: String,
        /// The platform key's Ed25519 signature of `signed_message` (base64url), by `key_id`.
        pub signed_at: Option<DateTimeUtc>,
        pub key_id: Option<String>,
        pub signature: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

static RECORDING: AtomicBool = AtomicBool::new(true);

/// Turns appending off (or on again) for the whole process. Only the benchmark does this, to
/// measure what the log costs an action side by side (`nexus-load --suite audit`).
pub fn set_recording(on: bool) {
    RECORDING.store(on, Ordering::Relaxed);
}

/// What the first entry's `prev_hash` is.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub kind: &'static str,
    pub id: Option<String>,
}

impl Actor {
    pub fn user(id: Uuid) -> Actor {
        Actor {
            kind: "user",
            id: Some(id.to_string()),
        }
    }

    pub fn anonymous() -> Actor {
        Actor {
            kind: "anonymous",
            id: None,
        }
    }

    /// Someone with shell access, through the `nexus` command.
    pub fn operator() -> Actor {
        Actor {
            kind: "operator",
            id: None,
        }
    }

    pub fn app(id: Uuid) -> Actor {
        Actor {
            kind: "app",
            id: Some(id.to_string()),
        }
    }

    /// The caller of a request: a user (their own token), an API key, an app (installation,
    /// delegated or context token: the app), another service, or nobody.
    pub fn of(caller: &Caller) -> Actor {
        let Some(p) = caller.principal() else {
            return Actor::anonymous();
        };
        let (kind, id) = match p.typ {
            TokenType::Access => ("user", p.claims.sub.clone()),
            TokenType::ApiKey => ("api_key", p.claims.sub.clone()),
            TokenType::Installation => ("app", p.claims.sub.clone()),
            TokenType::Delegated => (
                "app",
                p.claims
                    .client_id
                    .clone()
                    .unwrap_or_else(|| p.claims.sub.clone()),
            ),
            TokenType::Context => ("user", p.claims.sub.clone()),
            TokenType::Service => ("service", p.claims.sub.clone()),
        };
        Actor { kind, id: Some(id) }
    }
}

/// The client address of the request being served (`kit::server` puts it in every request).
#[derive(Clone, Debug)]
pub struct Origin(pub String);

/// One entry to append.
#[derive(Clone, Debug)]
pub struct Entry {
    pub action: &'static str,
    pub actor: Actor,
    pub organization: Option<Uuid>,
    pub target: Option<(&'static str, String)>,
    pub address: Option<String>,
    pub details: Value,
}

impl Entry {
    pub fn new(action: &'static str, actor: Actor, address: Option<String>) -> Entry {
        Entry {
            action,
            actor,
            organization: None,
            target: None,
            address: address.filter(|a| a != "unknown"),
            details: Value::Object(Default::default()),
        }
    }

    /// By the caller of the GraphQL request `ctx` serves, from its address.
    pub fn by(ctx: &async_graphql::Context<'_>, action: &'static str) -> Entry {
        let actor = ctx
            .data_opt::<Caller>()
            .map(Actor::of)
            .unwrap_or_else(Actor::anonymous);
        Entry::new(action, actor, ctx.data_opt::<Origin>().map(|o| o.0.clone()))
    }

    pub fn in_organization(mut self, organization: Uuid) -> Entry {
        self.organization = Some(organization);
        self
    }

    pub fn in_organization_opt(mut self, organization: Option<Uuid>) -> Entry {
        self.organization = organization;
        self
    }

    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Entry {
        self.target = Some((kind, id.to_string()));
        self
    }

    pub fn details(mut self, details: Value) -> Entry {
        self.details = details;
        self
    }
}

/// What new entries' hashes cover (`entity::Model::format`).
const FORMAT: i16 = 2;

/// The hash of an entry's content (its id included, from format 2 on), its position `seq` and
/// the hash of the entry before it.
pub fn entry_hash(entry: &entity::Model, seq: i64, prev_hash: &str) -> String {
    let mut content = json!([
        seq,
        timestamp(entry.occurred_at),
        entry.action,
        entry.actor_type,
        entry.actor_id,
        entry.organization_id,
        entry.target_type,
        entry.target_id,
        entry.address,
        entry.details,
        prev_hash,
    ]);
    if entry.format >= 2
        && let Some(fields) = content.as_array_mut()
    {
        fields.splice(0..0, [json!(entry.format), json!(entry.id)]);
    }
    hex::encode(Sha256::digest(content.to_string().as_bytes()))
}

/// Now, to the microsecond: what both databases keep, so a time hashed or signed reads back the
/// same.
fn now_in_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Microseconds: what both databases keep.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Appends `entry` with `conn` (pass the action's transaction): one INSERT; `seal` chains it.
pub async fn append<C: ConnectionTrait>(conn: &C, entry: Entry) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    if !RECORDING.load(Ordering::Relaxed) {
        return Ok(id);
    }
    let occurred_at = now_in_micros();
    let (target_type, target_id) = match entry.target {
        Some((kind, id)) => (Some(kind.to_owned()), Some(id)),
        None => (None, None),
    };
    entity::Entity::insert(entity::ActiveModel {
        id: Set(id),
        seq: Set(None),
        occurred_at: Set(occurred_at),
        action: Set(entry.action.to_owned()),
        actor_type: Set(entry.actor.kind.to_owned()),
        actor_id: Set(entry.actor.id),
        organization_id: Set(entry.organization),
        target_type: Set(target_type),
        target_id: Set(target_id),
        address: Set(entry.address),
        details: Set(entry.details.to_string()),
        prev_hash: Set(None),
        hash: Set(None),
        format: Set(FORMAT),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(id)
}

/// What the head's signature covers (public: an auditor checks it with the JWKS).
pub fn signed_message(seq: i64, hash: &str, signed_at: DateTime<Utc>) -> Vec<u8> {
    format!("nexus-audit-head\0{seq}\0{hash}\0{}", timestamp(signed_at)).into_bytes()
}

/// The head's new columns: `seq` and `hash` signed now with the newest key.
fn signed_head(keys: &KeyStore, seq: i64, hash: &str) -> Result<head::ActiveModel, DbErr> {
    let signed_at = now_in_micros();
    let (kid, signature) = keys
        .sign_bytes(&signed_message(seq, hash, signed_at))
        .map_err(|e| DbErr::Custom(format!("cannot sign the audit chain's head: {e:#}")))?;
    Ok(head::ActiveModel {
        id: Set(1),
        seq: Set(seq),
        hash: Set(hash.to_owned()),
        signed_at: Set(Some(signed_at)),
        key_id: Set(Some(kid)),
        signature: Set(Some(URL_SAFE_NO_PAD.encode(signature))),
    })
}

/// Seals every entry not sealed yet, oldest first, into the chain, and signs the new head with
/// `keys`' newest key (an unchanged head too, when its signature is missing or by an older key);
/// how many. Sealers take turns on the head row, so any number of them may run.
pub async fn seal(db: &DatabaseConnection, keys: &KeyStore) -> Result<u64, DbErr> {
    const BATCH: u64 = 500;
    let mut sealed = 0;
    loop {
        let txn = db.begin().await?;
        // The head's row lock first (and SQLite's write lock): one sealer at a time.
        head::Entity::update_many()
            .col_expr(head::Column::Seq, Expr::col(head::Column::Seq).into())
            .filter(head::Column::Id.eq(1))
            .exec(&txn)
            .await?;
        let current = head::Entity::find_by_id(1)
            .one(&txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("the audit chain's head row is missing".into()))?;
        // Never extend (and so vouch for) a head the platform did not sign.
        let signed_by = match head_signature(&current, keys) {
            Ok((kid, _)) => Some(kid),
            Err(_) if current.signature.is_none() => {
                // Unsigned: a chain from before heads were signed, or one whose signature was
                // removed. Signed from here on, with an entry saying so that stays in the chain.
                if current.seq > 0 {
                    append(
                        &txn,
                        Entry::new("audit.head_signed", Actor::operator(), None).details(json!({
                            "unsigned_seq": current.seq,
                            "unsigned_hash": current.hash,
                        })),
                    )
                    .await?;
                }
                None
            }
            Err(why) => {
                return Err(DbErr::Custom(format!(
                    "not sealing the audit log: {why}; see `nexus audit verify`"
                )));
            }
        };
        let open = entity::Entity::find()
            .filter(entity::Column::Seq.is_null())
            .order_by_asc(entity::Column::OccurredAt)
            .order_by_asc(entity::Column::Id)
            .limit(BATCH)
            .all(&txn)
            .await?;
        let found = open.len() as u64;
        let (mut seq, mut hash) = (current.seq, current.hash);
        for entry in open {
            seq += 1;
            let own = entry_hash(&entry, seq, &hash);
            entity::Entity::update_many()
                .col_expr(entity::Column::Seq, Expr::value(seq))
                .col_expr(entity::Column::PrevHash, Expr::value(hash.clone()))
                .col_expr(entity::Column::Hash, Expr::value(own.clone()))
                .filter(entity::Column::Id.eq(entry.id))
                .exec(&txn)
                .await?;
            hash = own;
        }
        if found > 0 || signed_by != keys.current_key_id().ok() {
            head::Entity::update(signed_head(keys, seq, &hash)?)
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        sealed += found;
        if found < BATCH {
            return Ok(sealed);
        }
    }
}

/// Seals every `interval` (one task per platform is enough; more take turns).
pub fn spawn_sealer(
    db: DatabaseConnection,
    keys: std::sync::Arc<KeyStore>,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = seal(&db, &keys).await {
                tracing::error!(error = %e, "sealing the audit log failed; retrying");
            }
        }
    })
}

/// How often the platform seals the audit log.
pub const SEAL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// `append` for resolvers: a database error is the `INTERNAL` error (logged).
pub async fn record<C: ConnectionTrait>(conn: &C, entry: Entry) -> crate::error::Result<()> {
    append(conn, entry)
        .await
        .map(|_| ())
        .map_err(crate::error::internal)
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Entries read.
    pub checked: u64,
    /// The newest entry's hash (worth writing down elsewhere: a chain rewritten from the start
    /// by someone with write access to the database ends in another hash).
    pub head_hash: String,
    /// The first entry that does not fit, and why; `None` when the chain is whole.
    pub first_broken: Option<(i64, String)>,
    /// Which key signed the head, and when: the newest time the chain is vouched for (a chain
    /// cut back to an older head still verifies, but says it was signed back then).
    pub signed: Option<(String, DateTime<Utc>)>,
}

/// Reads the whole chain in order, checking every entry's hash, its link to the one before, that
/// no position is missing, that the head row names the last entry, and that the head is signed
/// by one of `keys`. The head is read first and the chain up to it: entries appended meanwhile
/// (a live platform) are left for next time.
pub async fn verify<C: ConnectionTrait>(conn: &C, keys: &KeyStore) -> Result<Verification, DbErr> {
    const BATCH: u64 = 1000;
    let Some(head) = head::Entity::find_by_id(1).one(conn).await? else {
        return Ok(Verification {
            checked: 0,
            head_hash: String::new(),
            first_broken: Some((1, "the chain's head row is missing".into())),
            signed: None,
        });
    };
    let mut walk = Walk::new();
    loop {
        let rows = entity::Entity::find()
            .filter(entity::Column::Seq.gte(walk.expected_seq))
            .filter(entity::Column::Seq.lte(head.seq))
            .order_by_asc(entity::Column::Seq)
            .limit(BATCH)
            .all(conn)
            .await?;
        let done = (rows.len() as u64) < BATCH;
        for row in rows {
            if let Some((seq, why)) = walk.step(&row) {
                return Ok(walk.broken(seq, why));
            }
        }
        if done {
            break;
        }
    }
    Ok(walk.end_at(head, keys))
}

/// [`verify`]'s walk along the chain: the entries read so far, and what the next one must be.
struct Walk {
    previous_hash: String,
    expected_seq: i64,
    checked: u64,
}

impl Walk {
    /// A walk from the first entry, linked to [`GENESIS`].
    fn new() -> Walk {
        Walk {
            previous_hash: GENESIS.to_owned(),
            expected_seq: 1,
            checked: 0,
        }
    }

    /// Reads the next entry: where and why it does not fit, if it does not.
    fn step(&mut self, row: &entity::Model) -> Option<(i64, String)> {
        self.checked += 1;
        let expected_seq = self.expected_seq;
        let seq = row.seq.unwrap_or_default();
        if seq != expected_seq {
            return Some((
                expected_seq,
                format!("entry {expected_seq} is missing (the next one is {seq})"),
            ));
        }
        if row.prev_hash.as_deref() != Some(self.previous_hash.as_str()) {
            return Some((
                seq,
                "its link to the entry before does not match that entry (an entry before it was changed, removed or inserted)".into(),
            ));
        }
        let own = entry_hash(row, seq, &self.previous_hash);
        if row.hash.as_deref() != Some(own.as_str()) {
            return Some((
                seq,
                "its content does not match its hash (the entry was changed)".into(),
            ));
        }
        self.previous_hash = own;
        self.expected_seq += 1;
        None
    }

    /// The verification of a chain broken at `seq`, for `why`.
    fn broken(self, seq: i64, why: String) -> Verification {
        Verification {
            checked: self.checked,
            head_hash: self.previous_hash,
            first_broken: Some((seq, why)),
            signed: None,
        }
    }

    /// The verification of a walk that read every entry up to `head`: whether the head names
    /// the last entry, and is signed by one of `keys`.
    fn end_at(self, head: head::Model, keys: &KeyStore) -> Verification {
        let last = self.expected_seq - 1;
        match head {
            head if head.seq == last && head.hash == self.previous_hash => {
                match head_signature(&head, keys) {
                    Ok(signed) => Verification {
                        checked: self.checked,
                        head_hash: self.previous_hash,
                        first_broken: None,
                        signed: Some(signed),
                    },
                    Err(why) => self.broken(last.max(1), why),
                }
            }
            head if head.seq > last => self.broken(
                last + 1,
                format!(
                    "the chain ends at entry {last} but {} were written (the newest were removed)",
                    head.seq
                ),
            ),
            _ => self.broken(
                last.max(1),
                "the chain's head does not name the last entry".into(),
            ),
        }
    }
}

/// Who signed `head`, and when; or why its signature does not hold.
fn head_signature(head: &head::Model, keys: &KeyStore) -> Result<(String, DateTime<Utc>), String> {
    let (Some(signed_at), Some(kid), Some(signature)) = (
        head.signed_at,
        head.key_id.as_ref(),
        head.signature.as_ref(),
    ) else {
        return Err("the chain's head is not signed (it was rewritten, or never sealed by a platform that signs)".into());
    };
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    match keys.verify_bytes(kid, &signed_message(head.seq, &head.hash, signed_at), &signature) {
        Some(true) => Ok((kid.clone(), signed_at)),
        Some(false) => Err("the chain's head signature does not match (the chain or its head was rewritten without the platform's key)".into()),
        None => Err(format!("the chain's head is signed by key `{kid}`, which this platform does not know")),
    }
}
