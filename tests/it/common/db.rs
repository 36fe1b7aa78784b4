//! A throwaway database per test: a SQLite file, or a fresh PostgreSQL database when
//! `NEXUS_TEST_POSTGRES` is set (dropped when the test ends).

use sea_orm::{ConnectionTrait, Database};

/// `NEXUS_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432` runs the tests on PostgreSQL.
pub const POSTGRES_ENV: &str = "NEXUS_TEST_POSTGRES";

pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        server: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    pub async fn create() -> TestDb {
        match std::env::var(POSTGRES_ENV) {
            Ok(server) if !server.is_empty() => {
                let server = server.trim_end_matches('/').to_owned();
                let name = format!("nexus_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(format!("{server}/postgres"))
                    .await
                    .expect("connect to PostgreSQL (is it running?)");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = format!("{server}/{name}");
                TestDb::Postgres { server, name, url }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("nexus.db").display());
                TestDb::Sqlite { _dir: dir, url }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            TestDb::Sqlite { .. } => "sqlite",
            TestDb::Postgres { .. } => "postgres",
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { server, name, .. } = self {
            let (server, name) = (server.clone(), name.clone());
            // Drop runs outside any runtime we may block: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(format!("{server}/postgres")).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}
