//! Database access helpers: connecting (SQLite or PostgreSQL through `sqlx::Any`), migrations,
//! ids and clocks.

use std::str::FromStr;

use base64::Engine;
use rand::RngCore;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::state::Backend;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://)")]
    Scheme,
    /// Creating the SQLite file's directory failed.
    #[error("creating {path}: {source}")]
    Dir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("connecting to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("running migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The backend a URL names.
pub fn backend_of(url: &str) -> Result<Backend, DbError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Backend::Postgres)
    } else {
        Err(DbError::Scheme)
    }
}

/// Opens the pool (creating a SQLite file's directory) and runs the migrations.
pub async fn connect(url: &str) -> Result<(AnyPool, Backend), DbError> {
    sqlx::any::install_default_drivers();
    let backend = backend_of(url)?;
    if backend == Backend::Sqlite {
        let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
        let path = path.split('?').next().unwrap_or("");
        if let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
            && path != ":memory:"
        {
            std::fs::create_dir_all(dir).map_err(|source| DbError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
    }
    let max = if backend == Backend::Sqlite { 4 } else { 10 };
    let opts = sqlx::any::AnyConnectOptions::from_str(url).map_err(DbError::Connect)?;
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await
        .map_err(DbError::Connect)?;
    if backend == Backend::Sqlite {
        // WAL lets readers run beside the one writer; it persists in the file.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await
            .map_err(DbError::Connect)?;
    }
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok((pool, backend))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// `n` random bytes from the OS-seeded generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    b
}

/// A random id: `prefix` + 16 random bytes in base64url (no padding), e.g. `key_Q2x…`.
pub fn new_id(prefix: &str) -> String {
    let b = random_bytes(16);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// `n` random lowercase letters and digits (for readable ids such as `bot-k3x9…`).
pub fn short_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes(n)
        .into_iter()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// SHA-256 of `text`, hex.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(text.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A boolean as stored (BIGINT 0/1).
pub fn b2i(b: bool) -> i64 {
    i64::from(b)
}
