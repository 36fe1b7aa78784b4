//! One way to open the core database, the same for SQLite and PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Counts every SQL statement a connection runs; the N+1 tests read it.
#[derive(Clone, Default, Debug)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Opens a pool on `url` (`sqlite://path` or `postgres://…`) and counts its statements.
pub async fn connect(url: &str) -> Result<(DatabaseConnection, StatementCounter), DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // One connection: SQLite has one writer, and a transaction that reads and then writes
        // fails at once (SQLITE_BUSY_SNAPSHOT, no waiting) when another connection of the same
        // process committed in between; taking turns in the pool avoids that. WAL and the busy
        // timeout still serve other processes on the same file.
        options.max_connections(1).map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    } else {
        options.max_connections(16);
    }
    let mut db = Database::connect(options).await?;
    let counter = StatementCounter::default();
    let count = counter.0.clone();
    db.set_metric_callback(move |info| {
        count.fetch_add(1, Ordering::SeqCst);
        tracing::trace!(target: "nexus::sql", sql = %info.statement.sql);
    });
    Ok((db, counter))
}

/// Begins a transaction that will write, holding SQLite's write lock from its start: one that
/// reads first and writes later fails (`SQLITE_BUSY_SNAPSHOT`) when another connection wrote in
/// between, where waiting would have done. (PostgreSQL needs nothing of the sort.) The no-op
/// write is to the audit chain's head, a table every platform has.
pub async fn begin_writing(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let txn = db.begin().await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Sqlite {
        txn.execute_unprepared("UPDATE audit_chain_head SET seq = seq WHERE 0 = 1")
            .await?;
    }
    Ok(txn)
}
