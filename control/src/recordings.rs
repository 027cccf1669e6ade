//! Recording playback: short-lived signed URLs (`/api/v1/recordings/{key}?exp=…&sig=…`,
//! HMAC-SHA256 under a key derived from the internal secret) and streaming the WAV from the
//! recordings store through `object_store` (a local directory, or S3 when the configuration says
//! `s3://bucket/prefix`; endpoint and credentials from the `AWS_*` environment).

use std::sync::Arc;

use hmac::{Hmac, Mac};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

/// How long a signed URL stays valid.
pub const URL_TTL_SECS: i64 = 300;
/// URL path prefix of signed recording URLs.
pub const PATH_PREFIX: &str = "/api/v1/recordings/";

/// Why a recording cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The key is not a plain relative path.
    #[error("invalid recording key: {0}")]
    InvalidKey(&'static str),
    /// The store URL is invalid.
    #[error("invalid recordings location: {0}")]
    InvalidLocation(&'static str),
    /// No such object.
    #[error("recording not found")]
    NotFound,
    /// The store failed.
    #[error("recordings store: {0}")]
    Store(#[from] object_store::Error),
    /// Creating the local directory failed.
    #[error("recordings directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks that a key is a relative path of plain segments (`2026/11/21/<session_id>`), as the
/// dataplane writes them.
pub fn validate_key(key: &str) -> Result<(), RecordingError> {
    if key.is_empty() || key.len() > 512 {
        return Err(RecordingError::InvalidKey("empty or longer than 512 bytes"));
    }
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(RecordingError::InvalidKey("empty, '.' or '..' segment"));
        }
        if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return Err(RecordingError::InvalidKey("characters other than A-Z a-z 0-9 - _ . /"));
        }
    }
    Ok(())
}

fn signing_key(secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"cxb recording url v1\0");
    h.update(secret.as_bytes());
    h.finalize().into()
}

fn mac(secret: &str, key: &str, exp: i64) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&signing_key(secret)).expect("HMAC takes any key length");
    m.update(key.as_bytes());
    m.update(b"\0");
    m.update(exp.to_string().as_bytes());
    m
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The signature of `key` valid until `exp` (Unix seconds), hex.
pub fn sign(secret: &str, key: &str, exp: i64) -> String {
    hex(&mac(secret, key, exp).finalize().into_bytes())
}

/// The signed URL path for `key`, valid for [`URL_TTL_SECS`] from `now` (Unix seconds).
pub fn signed_path(secret: &str, key: &str, now: i64) -> String {
    let exp = now + URL_TTL_SECS;
    format!("{PATH_PREFIX}{key}?exp={exp}&sig={}", sign(secret, key, exp))
}

/// Whether `sig` signs `key` until `exp` and `exp` has not passed at `now` (constant-time check;
/// an `exp` further away than the TTL is refused too).
pub fn verify(secret: &str, key: &str, exp: i64, sig: &str, now: i64) -> bool {
    if exp < now || exp > now + URL_TTL_SECS + 5 {
        return false;
    }
    let Some(sig) = unhex(sig) else { return false };
    mac(secret, key, exp).verify_slice(&sig).is_ok()
}

/// Where recordings are read from.
#[derive(Debug, Clone)]
pub struct RecordingStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl RecordingStore {
    /// Opens `location`: `s3://bucket[/prefix]`, `file:///dir` or a directory path (created if
    /// missing).
    pub fn open(location: &str) -> Result<RecordingStore, RecordingError> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(RecordingError::InvalidLocation("s3:// URL without a bucket"));
            }
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()?;
            return Ok(RecordingStore {
                store: Arc::new(s3),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        let dir = match location.strip_prefix("file://") {
            Some(p) if p.starts_with('/') => p,
            Some(_) => return Err(RecordingError::InvalidLocation("file URLs must be absolute")),
            None if location.contains("://") => {
                return Err(RecordingError::InvalidLocation("scheme must be file:// or s3://"));
            }
            None => location,
        };
        if dir.is_empty() {
            return Err(RecordingError::InvalidLocation("empty path"));
        }
        std::fs::create_dir_all(dir)?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
        Ok(RecordingStore {
            store: Arc::new(fs),
            prefix: String::new(),
        })
    }

    /// The object name of `key`: `<prefix>/<key>.wav`.
    pub fn object_name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            format!("{key}.wav")
        } else {
            format!("{}/{key}.wav", self.prefix)
        }
    }

    /// The WAV of `key` as a stream of chunks, with its size.
    pub async fn open_wav(
        &self,
        key: &str,
    ) -> Result<
        (
            u64,
            futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
        ),
        RecordingError,
    > {
        validate_key(key)?;
        let path = ObjectPath::parse(self.object_name(key)).map_err(|_| RecordingError::InvalidKey("not a path"))?;
        match self.store.get(&path).await {
            Ok(r) => {
                let size = r.meta.size;
                Ok((size, r.into_stream()))
            }
            Err(object_store::Error::NotFound { .. }) => Err(RecordingError::NotFound),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn signatures_expire_and_bind_the_key() {
        let now = 1_700_000_000;
        let path = signed_path("s3cret", "2026/11/21/abc", now);
        let exp = now + URL_TTL_SECS;
        let sig = sign("s3cret", "2026/11/21/abc", exp);
        assert_eq!(path, format!("/api/v1/recordings/2026/11/21/abc?exp={exp}&sig={sig}"));
        assert!(verify("s3cret", "2026/11/21/abc", exp, &sig, now));
        assert!(verify("s3cret", "2026/11/21/abc", exp, &sig, exp));
        assert!(!verify("s3cret", "2026/11/21/abc", exp, &sig, exp + 1), "expired");
        assert!(!verify("s3cret", "2026/11/21/abd", exp, &sig, now), "other key");
        assert!(!verify("other", "2026/11/21/abc", exp, &sig, now), "other secret");
        assert!(!verify("s3cret", "2026/11/21/abc", exp + 1, &sig, now), "exp changed");
        assert!(!verify("s3cret", "2026/11/21/abc", exp, "zz", now), "not hex");
        let far = now + 3600;
        assert!(
            !verify("s3cret", "k", far, &sign("s3cret", "k", far), now),
            "too long-lived"
        );
    }

    #[test]
    fn keys_are_plain_paths() {
        assert!(validate_key("2026/11/21/abc-1_2.x").is_ok());
        for bad in ["", "/abs", "a//b", "a/../b", "a/./b", "a b", "a\\b", "c:x"] {
            assert!(validate_key(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn local_store_streams_the_wav() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("2026/11")).unwrap();
        std::fs::write(dir.path().join("2026/11/k1.wav"), b"RIFFdata").unwrap();
        let store = RecordingStore::open(&dir.path().display().to_string()).unwrap();
        let (size, mut s) = store.open_wav("2026/11/k1").await.unwrap();
        assert_eq!(size, 8);
        let mut got = Vec::new();
        while let Some(c) = s.next().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"RIFFdata");
        assert!(matches!(
            store.open_wav("2026/11/nope").await,
            Err(RecordingError::NotFound)
        ));
        assert!(matches!(
            store.open_wav("../x").await,
            Err(RecordingError::InvalidKey(_))
        ));
    }
}
