//! [`Spool`]: call records on disk, one `<session_id>.json` file each, written atomically
//! before any delivery attempt.
//!
//! File names encode the session id: `A-Z a-z 0-9 _ -` stay, every other byte becomes `%XX`, so
//! a name never contains a path separator or starts with a dot. Writes go to a hidden
//! `.<name>.json.tmp`, are fsynced, renamed into place, and the directory is fsynced. A file
//! that does not parse is renamed to `*.bad` and reported, never deleted. An exclusive lock on
//! `<dir>/.lock` keeps a second process from sharing the spool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use cxb_model::CallRecord;

/// Longest encoded file stem accepted (file systems allow 255 bytes per name).
const MAX_STEM: usize = 200;
const EXT: &str = ".json";
const TMP_EXT: &str = ".json.tmp";

/// Errors of the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Another process (or another sink in this one) holds the spool.
    #[error("spool {dir} is in use by another process")]
    Locked {
        /// The spool directory.
        dir: PathBuf,
    },
    /// A session id that cannot name a file (empty or too long once encoded).
    #[error("session id of {len} bytes cannot name a spool file")]
    BadSessionId {
        /// Its length.
        len: usize,
    },
    /// The record could not be serialised.
    #[error("serialising record {session_id}: {source}")]
    Serialize {
        /// The record's session id.
        session_id: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// A spooled file did not hold a valid record; it was moved to `moved_to`.
    #[error("corrupt spool file moved to {moved_to}: {reason}")]
    Corrupt {
        /// Where the file is now.
        moved_to: PathBuf,
        /// Why it was refused.
        reason: String,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SpoolError + 'a {
    move |source| SpoolError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A directory of spooled call records. Methods take `&self` and may be called from several
/// threads; one `Spool` per directory per host (enforced with a lock file).
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    _lock: File,
}

impl Spool {
    /// The default spool directory, `./data/spool/records`.
    pub fn default_dir() -> PathBuf {
        PathBuf::from("./data/spool/records")
    }

    /// Creates `dir` if needed, takes its lock, and recovers temporary files left by a crash
    /// (complete ones are renamed into place, partial ones moved to `*.bad`).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Spool, SpoolError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let lock_path = dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked { dir }),
            Err(fs::TryLockError::Error(source)) => {
                return Err(SpoolError::Io {
                    op: "lock",
                    path: lock_path,
                    source,
                });
            }
        }
        let spool = Spool { dir, _lock: lock };
        spool.recover_tmp()?;
        Ok(spool)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, session_id: &str) -> Result<PathBuf, SpoolError> {
        let stem = encode(session_id).ok_or(SpoolError::BadSessionId { len: session_id.len() })?;
        Ok(self.dir.join(stem + EXT))
    }

    /// Writes `record` as `<session_id>.json` durably (tmp, fsync, rename, fsync dir),
    /// replacing an earlier version.
    pub fn put(&self, record: &CallRecord) -> Result<(), SpoolError> {
        let path = self.path_of(&record.session_id)?;
        let stem = encode(&record.session_id).ok_or(SpoolError::BadSessionId {
            len: record.session_id.len(),
        })?;
        let tmp = self.dir.join(format!(".{stem}{TMP_EXT}"));
        let body = serde_json::to_vec(record).map_err(|source| SpoolError::Serialize {
            session_id: record.session_id.clone(),
            source,
        })?;
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(&body).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_err("rename", &path))?;
        self.sync_dir()
    }

    fn sync_dir(&self) -> Result<(), SpoolError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync", &self.dir))
    }

    /// Session ids of the spooled records, oldest file first. Files whose names are not ours
    /// are moved to `*.bad`.
    pub fn list(&self) -> Result<Vec<String>, SpoolError> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))? {
            let entry = entry.map_err(io_err("list", &self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_suffix(EXT) else { continue };
            if stem.starts_with('.') {
                continue;
            }
            let Some(id) = decode(stem) else {
                let moved = self.move_aside(&entry.path())?;
                tracing::warn!(file = %moved.display(), "spool file with a foreign name moved aside");
                continue;
            };
            let mtime = entry.metadata().and_then(|m| m.modified()).ok();
            found.push((mtime, id));
        }
        found.sort();
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }

    /// Reads a spooled record: `Ok(None)` if it is not there, `Err(Corrupt)` (file moved to
    /// `*.bad`) if it does not parse or holds another session id.
    pub fn get(&self, session_id: &str) -> Result<Option<CallRecord>, SpoolError> {
        let path = self.path_of(session_id)?;
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SpoolError::Io {
                    op: "read",
                    path,
                    source,
                });
            }
        };
        let reason = match serde_json::from_slice::<CallRecord>(&bytes) {
            Ok(r) if r.session_id == session_id => return Ok(Some(r)),
            Ok(r) => format!("holds session {:?}, not {session_id:?}", r.session_id),
            Err(e) => e.to_string(),
        };
        let moved_to = self.move_aside(&path)?;
        Err(SpoolError::Corrupt { moved_to, reason })
    }

    /// Removes a record (absent is fine) and fsyncs the directory.
    pub fn remove(&self, session_id: &str) -> Result<(), SpoolError> {
        let path = self.path_of(session_id)?;
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SpoolError::Io {
                op: "remove",
                path,
                source,
            }),
        }
    }

    /// Files moved aside as `*.bad`.
    pub fn bad_files(&self) -> Result<Vec<PathBuf>, SpoolError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))? {
            let entry = entry.map_err(io_err("list", &self.dir))?;
            if entry.file_name().to_str().is_some_and(|n| n.ends_with(".bad")) {
                out.push(entry.path());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Renames `path` to `<path>.bad` (or `<path>.<n>.bad` if taken); returns the new path.
    fn move_aside(&self, path: &Path) -> Result<PathBuf, SpoolError> {
        let base = path.as_os_str().to_owned();
        for n in 0u32..10_000 {
            let mut target = base.clone();
            if n == 0 {
                target.push(".bad");
            } else {
                target.push(format!(".{n}.bad"));
            }
            let target = PathBuf::from(target);
            if !target.exists() {
                fs::rename(path, &target).map_err(io_err("rename", path))?;
                self.sync_dir()?;
                return Ok(target);
            }
        }
        let source = io::Error::new(io::ErrorKind::AlreadyExists, "too many .bad copies");
        Err(SpoolError::Io {
            op: "move aside",
            path: path.to_owned(),
            source,
        })
    }

    fn recover_tmp(&self) -> Result<(), SpoolError> {
        for entry in fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))? {
            let entry = entry.map_err(io_err("list", &self.dir))?;
            let name = entry.file_name();
            let Some(stem) = name
                .to_str()
                .and_then(|n| n.strip_prefix('.'))
                .and_then(|n| n.strip_suffix(TMP_EXT))
            else {
                continue;
            };
            let tmp = entry.path();
            let complete = fs::read(&tmp)
                .ok()
                .and_then(|b| serde_json::from_slice::<CallRecord>(&b).ok())
                .is_some_and(|r| encode(&r.session_id).as_deref() == Some(stem));
            if complete {
                let path = self.dir.join(format!("{stem}{EXT}"));
                fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
                self.sync_dir()?;
                tracing::info!(file = %path.display(), "recovered spooled record from a temporary file");
            } else {
                let moved = self.move_aside(&tmp)?;
                tracing::warn!(file = %moved.display(), "partial spool file moved aside");
            }
        }
        Ok(())
    }
}

/// File stem for a session id; `None` if empty or too long.
pub(super) fn encode(id: &str) -> Option<String> {
    if id.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(id.len());
    for &b in id.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    (out.len() <= MAX_STEM).then_some(out)
}

/// Session id from a file stem made by [`encode`]; `None` if the stem is not one.
pub(super) fn decode(stem: &str) -> Option<String> {
    let bytes = stem.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = stem.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    let id = String::from_utf8(out).ok()?;
    // Only canonical encodings, so one id has exactly one file name.
    (encode(&id).as_deref() == Some(stem)).then_some(id)
}
