//! Signed certificates: ed25519 key files (`xpucert keygen`), the signature
//! of a bundle (`certify --sign`) and its check (`verify --pubkey`).
//!
//! What is signed is the exact bytes of `certificate.json`, with plain
//! ed25519 (RFC 8032, no prehash, no context), so any ed25519
//! implementation can check it. The certificate lists the sha256 of every
//! other file of the bundle, so its signature covers them all; the
//! signature itself lives beside it in `certificate.sig`, which the
//! certificate cannot list.
//!
//! Key files are text, one value a line:
//!
//! ```text
//! xpucert ed25519 secret key          xpucert ed25519 public key
//! <32-byte seed, 64 hex digits>       <32-byte public key, 64 hex digits>
//! ```
//!
//! A key's id is the first 8 bytes of the sha256 of its 32 public key
//! bytes, in hex: what `certificate.sig` records and what messages name.
//! Not minisign-compatible.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::{CertError, io};

/// First line of a secret key file.
pub const SECRET_HEADER: &str = "xpucert ed25519 secret key";
/// First line of a public key file.
pub const PUBLIC_HEADER: &str = "xpucert ed25519 public key";
/// The signature's file name inside a bundle.
pub const SIG_FILE: &str = "certificate.sig";
/// The signature file's schema name.
pub const SIG_SCHEMA: &str = "xpucert.signature";
/// Largest key or signature file read: they are a few hundred bytes.
const MAX_SMALL_FILE: u64 = 64 << 10;

/// A secret signing key. Its `Debug` shows the key id only.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl SecretKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, CertError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            CertError::Other(format!(
                "the operating system's random number generator failed: {e}"
            ))
        })?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(SecretKey(key))
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

/// A public key, to check signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key id: the first 8 bytes of the sha256 of the public key, hex.
    pub fn id(&self) -> String {
        key_id(self.0.as_bytes())
    }
}

fn key_id(public: &[u8; 32]) -> String {
    crate::digest::sha256_hex(public)[..16].to_string()
}

fn key_error(path: &Path, msg: impl Into<String>) -> CertError {
    CertError::Key {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

/// `KEYFILE.pub`: where keygen puts the public half of `KEYFILE`.
pub fn public_path(secret: &Path) -> PathBuf {
    let mut p = secret.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Writes a new key pair: the secret key to `path` (mode 0600) and the
/// public key to `path.pub`. Refuses to overwrite either file.
pub fn keygen(path: &Path) -> Result<PublicKey, CertError> {
    let pub_path = public_path(path);
    for p in [path, pub_path.as_path()] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(key_error(
                p,
                "already exists; keygen does not overwrite a key (remove it or choose another --out)",
            ));
        }
    }
    let key = SecretKey::generate()?;
    let public = key.public();
    let secret_text = format!(
        "{SECRET_HEADER}\n{}\n",
        crate::digest::hex(&key.0.to_bytes())
    );
    create_new(path, secret_text.as_bytes(), 0o600)?;
    let public_text = format!(
        "{PUBLIC_HEADER}\n{}\n",
        crate::digest::hex(public.0.as_bytes())
    );
    if let Err(e) = create_new(&pub_path, public_text.as_bytes(), 0o644) {
        // Half a key pair is of no use, and the secret alone would be
        // refused next time.
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(public)
}

/// Creates `path` (never an existing file) with `mode` and writes `bytes`.
fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(path))
}

/// The 32 bytes of a key file whose first line is `header`. Messages name
/// the file and never show its content.
fn read_key_bytes(
    path: &Path,
    header: &str,
    other: &str,
    hint: &str,
) -> Result<[u8; 32], CertError> {
    let text = crate::files::read_text(path, MAX_SMALL_FILE, "a key file")
        .map_err(|e| key_error(path, format!("cannot read: {}", e.into_io())))?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    match lines.next() {
        Some(h) if h == header => {}
        Some(h) if h == other => return Err(key_error(path, hint.to_string())),
        _ => {
            return Err(key_error(
                path,
                format!("not an xpucert key file (its first line must be `{header}`)"),
            ));
        }
    }
    let bytes = lines
        .next()
        .and_then(unhex32)
        .ok_or_else(|| key_error(path, "the key is not 64 hex digits on the second line"))?;
    if lines.next().is_some() {
        return Err(key_error(path, "unexpected lines after the key"));
    }
    Ok(bytes)
}

/// Reads a secret key file written by [`keygen`].
pub fn read_secret(path: &Path) -> Result<SecretKey, CertError> {
    let seed = read_key_bytes(
        path,
        SECRET_HEADER,
        PUBLIC_HEADER,
        "is a public key; signing needs the secret key (the file without .pub)",
    )?;
    Ok(SecretKey(SigningKey::from_bytes(&seed)))
}

/// Reads a public key file written by [`keygen`].
pub fn read_public(path: &Path) -> Result<PublicKey, CertError> {
    let bytes = read_key_bytes(
        path,
        PUBLIC_HEADER,
        SECRET_HEADER,
        "is a secret key; give the public key (KEYFILE.pub), and keep the secret key private",
    )?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| key_error(path, "not a valid ed25519 public key"))?;
    if key.is_weak() {
        return Err(key_error(path, "a weak (small-order) ed25519 public key"));
    }
    Ok(PublicKey(key))
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let v = unhex(s)?;
    v.try_into().ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// `certificate.sig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// Always [`SIG_SCHEMA`].
    pub schema: String,
    /// 1.
    pub schema_version: u32,
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signing key's id.
    pub key_id: String,
    /// What is signed: always `certificate.json`, its exact bytes.
    pub signed_file: String,
    /// sha256 of the signed bytes: lets a rejection say whether the
    /// certificate changed after signing (not itself trusted).
    pub signed_sha256: String,
    /// The 64-byte signature, hex.
    pub signature: String,
}

/// Signs the bundle in `dir`: writes `certificate.sig` over the exact
/// bytes of its `certificate.json`.
pub fn sign_bundle(dir: &Path, key: &SecretKey) -> Result<SignatureFile, CertError> {
    let cpath = dir.join("certificate.json");
    let bytes =
        crate::files::read_regular(&cpath, crate::files::MAX_RESULTS_BYTES, "a certificate")
            .map_err(|e| io(&cpath)(e.into_io()))?;
    let sig = key.0.sign(&bytes);
    let file = SignatureFile {
        schema: SIG_SCHEMA.into(),
        schema_version: 1,
        algorithm: "ed25519".into(),
        key_id: key.public().id(),
        signed_file: "certificate.json".into(),
        signed_sha256: crate::digest::sha256_hex(&bytes),
        signature: crate::digest::hex(&sig.to_bytes()),
    };
    let path = dir.join(SIG_FILE);
    let text = crate::text::to_json_pretty(&file).map_err(|e| CertError::Other(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(io(&path))?;
    Ok(file)
}

/// What is known about a bundle's signature after [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Checked: `certificate.json` is signed by this key id.
    Verified {
        /// The key id.
        key_id: String,
    },
    /// A signature is there but no public key was given: not checked.
    NotChecked {
        /// The key id the signature file names (not checked either).
        key_id: String,
    },
    /// No signature file, and no public key was given.
    Unsigned,
}

/// Checks `certificate.sig` in `dir` against `cert_bytes` (the bytes of
/// `certificate.json` the caller read and will go on to trust) with
/// `public`. Without a key, only says whether there is a signature. `Err`
/// is the reason for the rejection.
pub fn check(
    dir: &Path,
    cert_bytes: &[u8],
    public: Option<&PublicKey>,
) -> Result<SignatureCheck, String> {
    let path = dir.join(SIG_FILE);
    let present = std::fs::symlink_metadata(&path).is_ok();
    let Some(public) = public else {
        if !present {
            return Ok(SignatureCheck::Unsigned);
        }
        let key_id = read_sig(&path)
            .map(|s| s.key_id)
            .unwrap_or_else(|e| format!("unknown ({e})"));
        return Ok(SignatureCheck::NotChecked { key_id });
    };
    let expected = public.id();
    if !present {
        return Err(format!(
            "the bundle is unsigned (no {SIG_FILE}); a signature by key {expected} was required"
        ));
    }
    let sig = read_sig(&path)?;
    if sig.schema != SIG_SCHEMA || sig.schema_version != 1 || sig.algorithm != "ed25519" {
        return Err(format!(
            "{SIG_FILE}: unknown signature format {} v{} ({})",
            sig.schema, sig.schema_version, sig.algorithm
        ));
    }
    if sig.signed_file != "certificate.json" {
        return Err(format!(
            "{SIG_FILE} signs `{}`, not certificate.json",
            sig.signed_file
        ));
    }
    if sig.key_id != expected {
        return Err(format!(
            "{SIG_FILE} is signed by key {}, not by the expected key {expected}",
            sig.key_id
        ));
    }
    let bytes: [u8; 64] = unhex(&sig.signature)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| format!("{SIG_FILE}: the signature is not 128 hex digits"))?;
    let signature = Signature::from_bytes(&bytes);
    if public.0.verify_strict(cert_bytes, &signature).is_ok() {
        return Ok(SignatureCheck::Verified { key_id: expected });
    }
    let now = crate::digest::sha256_hex(cert_bytes);
    Err(if now != sig.signed_sha256 {
        format!(
            "the signature of key {expected} does not match certificate.json: it was changed after signing (sha256 {now} now, {} when signed)",
            sig.signed_sha256
        )
    } else {
        format!(
            "the signature in {SIG_FILE} is not a valid signature of certificate.json by key {expected}"
        )
    })
}

fn read_sig(path: &Path) -> Result<SignatureFile, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{SIG_FILE}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{SIG_FILE} is not a regular file"));
    }
    let bytes = crate::files::read_regular(path, MAX_SMALL_FILE, "a signature file")
        .map_err(|e| format!("{SIG_FILE}: {}", e.into_io()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{SIG_FILE} is not a signature file: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "xpucert-sign-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn keygen_writes_a_private_pair_that_reads_back_and_never_overwrites() {
        use std::os::unix::fs::PermissionsExt;
        let d = temp("keygen");
        let k = d.join("key");
        let public = keygen(&k).unwrap();
        let mode = std::fs::metadata(&k).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_public(&public_path(&k)).unwrap(), public);
        assert_eq!(read_secret(&k).unwrap().public(), public);
        assert_eq!(public.id().len(), 16);
        let before = std::fs::read(&k).unwrap();
        let e = keygen(&k).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(std::fs::read(&k).unwrap(), before);
        // a .pub in the way stops keygen before the secret is written
        let k2 = d.join("other");
        std::fs::write(public_path(&k2), "x").unwrap();
        assert!(keygen(&k2).is_err());
        assert!(!k2.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn malformed_keys_are_refused_without_showing_their_content() {
        let d = temp("malformed");
        let k = d.join("key");
        keygen(&k).unwrap();
        let secret_hex = std::fs::read_to_string(&k)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_string();
        let e = read_public(&k).unwrap_err().to_string();
        assert!(
            e.contains("is a secret key") && e.contains("key file"),
            "{e}"
        );
        assert!(!e.contains(&secret_hex), "{e}");
        let e = read_secret(&public_path(&k)).unwrap_err().to_string();
        assert!(e.contains("is a public key"), "{e}");
        for (text, why) in [
            ("hello\n", "first line"),
            (&format!("{PUBLIC_HEADER}\nabc\n"), "64 hex digits"),
            (
                &format!("{PUBLIC_HEADER}\n{}\nmore\n", "00".repeat(32)),
                "unexpected lines",
            ),
        ] {
            let p = d.join("bad.pub");
            std::fs::write(&p, text).unwrap();
            let e = read_public(&p).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("bad.pub"), "{e}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_signature_checks_with_its_key_only_and_over_the_exact_bytes() {
        let d = temp("check");
        std::fs::write(d.join("certificate.json"), b"{\"level\": 2}\n").unwrap();
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        assert_eq!(check(&d, b"x", None), Ok(SignatureCheck::Unsigned));
        let e = check(&d, b"x", Some(&key.public())).unwrap_err();
        assert!(e.contains("unsigned"), "{e}");
        sign_bundle(&d, &key).unwrap();
        let bytes = std::fs::read(d.join("certificate.json")).unwrap();
        assert_eq!(
            check(&d, &bytes, Some(&key.public())),
            Ok(SignatureCheck::Verified {
                key_id: key.public().id()
            })
        );
        assert_eq!(
            check(&d, &bytes, None),
            Ok(SignatureCheck::NotChecked {
                key_id: key.public().id()
            })
        );
        let e = check(&d, &bytes, Some(&other.public())).unwrap_err();
        assert!(
            e.contains(&key.public().id()) && e.contains(&other.public().id()),
            "{e}"
        );
        let e = check(&d, b"{\"level\": 3}\n", Some(&key.public())).unwrap_err();
        assert!(e.contains("changed after signing"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
