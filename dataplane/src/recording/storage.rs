//! Where recordings go: local files, or an S3-compatible bucket with a local staging directory.

use std::fmt;
use std::path::{Path, PathBuf};

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, RetryConfig};

use super::{RecordingError, validate_key};

/// Where finished recordings go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Files under a root directory: `root/<key>.wav`.
    Local {
        /// The root directory.
        root: PathBuf,
    },
    /// An S3-compatible bucket: `s3://<bucket>/<prefix>/<key>.wav`, staged locally first.
    S3(S3Target),
}

/// An S3-compatible bucket recordings are uploaded to.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Target {
    /// Local directory WAVs are written to and kept in until their upload is confirmed.
    pub staging: PathBuf,
    /// The bucket (it must exist).
    pub bucket: String,
    /// Object name prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Read endpoint, region and credentials from the `AWS_*` environment variables
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_ALLOW_HTTP`, …).
    pub from_env: bool,
    /// Settings applied over the environment (tests, explicit configuration).
    pub settings: Vec<(AmazonS3ConfigKey, String)>,
}

impl fmt::Debug for S3Target {
    /// Names the settings but never prints their values (they include credentials).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.settings.iter().map(|(k, _)| k.as_ref()).collect();
        f.debug_struct("S3Target")
            .field("staging", &self.staging)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("from_env", &self.from_env)
            .field("settings", &keys)
            .finish()
    }
}

impl S3Target {
    /// The object name of a recording: `<prefix>/<key>.wav`.
    pub fn object_name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            format!("{key}.wav")
        } else {
            format!("{}/{key}.wav", self.prefix)
        }
    }

    /// The S3 client: the environment (when `from_env`), then `settings`, then the bucket.
    /// Its own retries are short: the uploader retries with its own capped backoff.
    pub fn build(&self) -> Result<AmazonS3, RecordingError> {
        let mut b = if self.from_env {
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new()
        };
        for (k, v) in &self.settings {
            b = b.with_config(*k, v);
        }
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: std::time::Duration::from_millis(100),
                max_backoff: std::time::Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: std::time::Duration::from_secs(30),
        };
        Ok(b.with_bucket_name(&self.bucket).with_retry(retry).build()?)
    }
}

impl Storage {
    /// Parses a `--recordings` value. `file:///path` or a plain path: local files there;
    /// `s3://bucket/prefix`: the bucket (endpoint, region and credentials from the `AWS_*`
    /// environment), staged in `staging`.
    pub fn from_url(url: &str, staging: &Path) -> Result<Storage, RecordingError> {
        let bad = |reason| Err(RecordingError::InvalidUrl { reason });
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            if !bucket_ok {
                return bad("bucket must be 3-63 characters of a-z 0-9 - .");
            }
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() && validate_key(prefix).is_err() {
                return bad("prefix must be plain path segments of A-Z a-z 0-9 - _ .");
            }
            return Ok(Storage::S3(S3Target {
                staging: staging.to_path_buf(),
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                from_env: true,
                settings: Vec::new(),
            }));
        }
        let path = match url.strip_prefix("file://") {
            Some(p) if p.starts_with('/') => p,
            Some(_) => return bad("file URLs must be absolute (file:///path)"),
            None if url.contains("://") => return bad("scheme must be file:// or s3://"),
            None => url,
        };
        if path.is_empty() {
            return bad("empty path");
        }
        Ok(Storage::Local {
            root: PathBuf::from(path),
        })
    }

    /// The local directory recordings are written to (the root, or the S3 staging directory).
    pub fn local_root(&self) -> &Path {
        match self {
            Storage::Local { root } => root,
            Storage::S3(t) => &t.staging,
        }
    }

    /// The local file a recording is finalized to.
    pub fn local_path(&self, key: &str) -> PathBuf {
        self.local_root().join(format!("{key}.wav"))
    }

    /// The file a recording is written to until it is finalized (renamed to
    /// [`local_path`](Self::local_path)), so that a crash never leaves a half-written `.wav`.
    pub fn partial_path(&self, key: &str) -> PathBuf {
        self.local_root().join(format!("{key}.wav.part"))
    }
}

impl fmt::Display for Storage {
    /// The root directory, or `s3://bucket/prefix (staged in DIR)`; never credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Local { root } => write!(f, "{}", root.display()),
            Storage::S3(t) => write!(f, "s3://{}/{} (staged in {})", t.bucket, t.prefix, t.staging.display()),
        }
    }
}

/// Where a finished recording ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingLocation {
    /// A local file.
    Local(PathBuf),
    /// An object in an S3-compatible bucket.
    S3 {
        /// The bucket.
        bucket: String,
        /// The object name (`<prefix>/<key>.wav`).
        object: String,
    },
}

impl fmt::Display for RecordingLocation {
    /// A local path, or `s3://bucket/object`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordingLocation::Local(p) => write!(f, "{}", p.display()),
            RecordingLocation::S3 { bucket, object } => write!(f, "s3://{bucket}/{object}"),
        }
    }
}

/// Finalized WAVs under `root` (recursively) with their keys, for re-upload after a restart.
pub(super) fn staged(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                dirs.push(path);
                continue;
            }
            let Some(rel) = path.strip_prefix(root).ok().and_then(Path::to_str) else {
                continue;
            };
            if let Some(key) = rel.strip_suffix(".wav")
                && ft.is_file()
                && validate_key(key).is_ok()
            {
                out.push((key.to_owned(), path.clone()));
            }
        }
    }
    out.sort();
    out
}
