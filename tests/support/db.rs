//! A database of the test's own: a SQLite file in a temporary directory, or, when
//! `AGENTOS_TEST_DB=postgres`, a PostgreSQL database created on `DATABASE_URL` and dropped when
//! the test ends, so tests never see each other's rows.

use agentos::store::Db;
use sea_orm::{ConnectionTrait, Database};

pub struct TestDb {
    db: Db,
    /// For PostgreSQL: the server's admin URL and the database to drop.
    postgres: Option<(String, String)>,
    _dir: Option<tempdir::TempDir>,
}

impl TestDb {
    pub fn on_postgres() -> bool {
        std::env::var("AGENTOS_TEST_DB").is_ok_and(|v| v == "postgres")
    }

    pub async fn new() -> Self {
        if Self::on_postgres() {
            Self::postgres().await
        } else {
            Self::sqlite()
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempdir::TempDir::new();
        let path = dir.path().join("agentos.db");
        TestDb {
            db: Db::sqlite(path.to_string_lossy().into_owned()),
            postgres: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let admin = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("agentos_test_{}", uuid_like());
        let conn = Database::connect(admin.as_str())
            .await
            .expect("PostgreSQL at DATABASE_URL");
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        let url = match admin.rfind('/') {
            Some(slash) => format!("{}/{name}", &admin[..slash]),
            None => panic!("DATABASE_URL has no database name: {admin}"),
        };
        TestDb {
            db: Db::postgres(url),
            postgres: Some((admin, name)),
            _dir: None,
        }
    }

    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// For PostgreSQL: the admin URL and the name of the test's database.
    pub fn postgres_names(&self) -> Option<(&str, &str)> {
        self.postgres
            .as_ref()
            .map(|(admin, name)| (admin.as_str(), name.as_str()))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any runtime the test may be shutting down: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let conn = Database::connect(admin.as_str()).await.ok()?;
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
    }
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{nanos}", std::process::id())
}

/// A directory removed when dropped.
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!("agentos-test-{}", super::uuid_like()));
            std::fs::create_dir_all(&path).expect("temp dir");
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
