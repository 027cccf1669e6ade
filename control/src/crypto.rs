//! [`Sealer`]: encrypts secrets at rest (provider API keys, trunk passwords) with
//! ChaCha20-Poly1305. The key comes from `CXB_SECRET_KEY` (base64 of 32 bytes) or is generated
//! once into `data_dir/secret.key` (mode 0600).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// Prefix of a sealed value (format version).
const PREFIX: &str = "v1:";

/// Why a key could not be loaded or a value not opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key is not base64 of 32 bytes.
    #[error("secret key must be base64 of 32 bytes")]
    BadKey,
    /// Reading or writing the key file failed.
    #[error("secret key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sealed text is malformed or was not sealed with this key.
    #[error("sealed value cannot be opened (wrong key or corrupt)")]
    Open,
}

/// Seals and opens secrets with one key.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key>)")
    }
}

impl Sealer {
    /// A sealer with this 32-byte key.
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// The key from `CXB_SECRET_KEY`, else from `data_dir/secret.key`, else a new one written there (0600).
    pub fn load_or_create(data_dir: &Path) -> Result<Sealer, CryptoError> {
        if let Ok(k) = std::env::var("CXB_SECRET_KEY")
            && !k.trim().is_empty()
        {
            return Ok(Sealer::new(&decode_key(&k)?));
        }
        let path = data_dir.join("secret.key");
        let io = |source| CryptoError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Sealer::new(&decode_key(&text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let key: [u8; 32] = crate::db::random_bytes(32)
                    .try_into()
                    .map_err(|_| CryptoError::BadKey)?;
                write_private(&path, &STANDARD.encode(key)).map_err(io)?;
                Ok(Sealer::new(&key))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// `v1:` + base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &str) -> String {
        let nonce_bytes = crate::db::random_bytes(12);
        let nonce = Nonce::from_slice(&nonce_bytes);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let ct = self.cipher.encrypt(nonce, plaintext.as_bytes()).unwrap_or_default();
        let mut out = nonce_bytes;
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext of a value made by [`Sealer::seal`] with the same key.
    pub fn open(&self, sealed: &str) -> Result<String, CryptoError> {
        let b64 = sealed.strip_prefix(PREFIX).ok_or(CryptoError::Open)?;
        let raw = URL_SAFE_NO_PAD.decode(b64).map_err(|_| CryptoError::Open)?;
        if raw.len() < 12 + 16 {
            return Err(CryptoError::Open);
        }
        let (nonce, ct) = raw.split_at(12);
        let pt = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| CryptoError::Open)?;
        String::from_utf8(pt).map_err(|_| CryptoError::Open)
    }
}

/// `****` + the last 4 characters of a secret (all stars when it is short), for display.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    if n <= 8 {
        return "****".to_owned();
    }
    let tail: String = secret.chars().skip(n - 4).collect();
    format!("****{tail}")
}

fn decode_key(text: &str) -> Result<[u8; 32], CryptoError> {
    let t = text.trim();
    let raw = STANDARD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
        .map_err(|_| CryptoError::BadKey)?;
    raw.try_into().map_err(|_| CryptoError::BadKey)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_wrong_key_fails() {
        let s = Sealer::new(&[7; 32]);
        let sealed = s.seal("sk-secret");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("sk-secret"));
        assert_ne!(sealed, s.seal("sk-secret"), "fresh nonce each time");
        assert_eq!(s.open(&sealed).unwrap(), "sk-secret");
        assert!(Sealer::new(&[8; 32]).open(&sealed).is_err());
        assert!(s.open("v1:AAAA").is_err());
        assert!(s.open("garbage").is_err());
    }

    #[test]
    fn key_file_is_created_once_with_0600() {
        let dir = std::env::temp_dir().join(crate::db::new_id("cxb-sealer-"));
        let a = Sealer::load_or_create(&dir).unwrap();
        let b = Sealer::load_or_create(&dir).unwrap();
        assert_eq!(b.open(&a.seal("x")).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
