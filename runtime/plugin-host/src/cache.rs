//! Compiled components on disk: one file per (component bytes, engine configuration), so a
//! restarted host skips Cranelift.
//!
//! A file holds a magic, an HMAC-SHA256 of its payload, and the payload `Component::serialize`
//! produced. It is written to a temporary name and renamed, and checked against its MAC before it
//! is deserialized, so a torn, corrupted or planted file is recompiled rather than loaded.
//!
//! Deserializing maps the payload as native code, so the cache must prove that this host wrote
//! each file, not merely that the file is whole: a digest stored in the file it checks proves
//! nothing against someone who writes both. The MAC's key is a random secret kept in the cache
//! directory (`cache.key`, mode 0600), and the directory must belong to this process's user and be
//! writable by nobody else (it is created mode 0700); otherwise the disk cache is not used.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"POLISCW1";

/// The SHA-256 of some bytes.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds a `Hash` into SHA-256, for a digest of the engine's compatibility hash that is stable
/// across processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The name of the MAC key's file inside the cache directory.
const KEY_FILE_NAME: &str = "cache.key";
const KEY_LEN: usize = 32;
/// SHA-256's block size, for HMAC.
const BLOCK_LEN: usize = 64;

/// HMAC-SHA256 (RFC 2104) of `message` under `key` (at most one block long).
fn hmac(key: &[u8; KEY_LEN], message: &[u8]) -> [u8; 32] {
    let mut padded = [0u8; BLOCK_LEN];
    padded[..KEY_LEN].copy_from_slice(key);
    let inner_pad: Vec<u8> = padded.iter().map(|byte| byte ^ 0x36).collect();
    let outer_pad: Vec<u8> = padded.iter().map(|byte| byte ^ 0x5c).collect();
    let inner: [u8; 32] = Sha256::new()
        .chain_update(&inner_pad)
        .chain_update(message)
        .finalize()
        .into();
    Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    /// Names this engine's configuration, so engines configured differently never share files.
    engine_tag: String,
    key: [u8; KEY_LEN],
}

impl DiskCache {
    /// The cache in `dir`, or `None` (with a warning) if `dir` is not private to this user.
    pub(crate) fn new(dir: &Path, engine: &Engine) -> std::io::Result<Option<DiskCache>> {
        fs::create_dir_all(dir)?;
        if !private_directory(dir)? {
            tracing::warn!(
                dir = %dir.display(),
                "the compiled-component cache directory is not private to this user (owned by \
                 another or writable by group or others); compiled components are not cached"
            );
            return Ok(None);
        }
        let key = load_or_create_key(&dir.join(KEY_FILE_NAME))?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_tag = hex(&hasher.0.finalize()[..8]);
        Ok(Some(DiskCache {
            dir: dir.to_path_buf(),
            engine_tag,
            key,
        }))
    }

    fn file(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", hex(digest), self.engine_tag))
    }

    /// The cached component for `digest`, if a sound file is there.
    pub(crate) fn load(&self, engine: &Engine, digest: &[u8; 32]) -> Option<Component> {
        let file = self.file(digest);
        let bytes = fs::read(&file).ok()?;
        let sound = bytes.len() >= 40
            && &bytes[..8] == MAGIC
            && bytes[8..40] == hmac(&self.key, &bytes[40..]);
        if !sound {
            tracing::warn!(file = %file.display(), "discarding a corrupt or foreign compiled-component cache file");
            let _ = fs::remove_file(&file);
            return None;
        }
        // SAFETY: `Component::deserialize` trusts its input to be the output of
        // `Component::serialize`, because it maps it as executable code. These bytes are exactly
        // what `store` below wrote: they carry the MAC it recorded under this cache's secret key
        // (so they are neither torn, corrupted nor written by anyone without the key), in a
        // directory private to this user, named after this engine's compatibility hash. Wasmtime itself still checks that the artifact was
        // built by a compatible engine and version, and errors otherwise (then we recompile).
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &bytes[40..]) };
        match component {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "discarding an incompatible compiled component");
                let _ = fs::remove_file(&file);
                None
            }
        }
    }

    /// Stores a compiled component; failures only cost a recompilation later, so they are logged.
    pub(crate) fn store(&self, digest: &[u8; 32], component: &Component) {
        let result = (|| -> std::io::Result<()> {
            let payload = component
                .serialize()
                .map_err(|error| std::io::Error::other(error.to_string()))?;
            let file = self.file(digest);
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let unique = NEXT.fetch_add(1, Ordering::Relaxed);
            let temporary = file.with_extension(format!("tmp-{}-{unique}", std::process::id()));
            let mut out = fs::File::create(&temporary)?;
            out.write_all(MAGIC)?;
            out.write_all(&hmac(&self.key, &payload))?;
            out.write_all(&payload)?;
            out.sync_all()?;
            fs::rename(&temporary, &file)
        })();
        if let Err(error) = result {
            tracing::warn!(dir = %self.dir.display(), %error, "could not cache a compiled component");
        }
    }
}

/// True if `dir` belongs to this process's user and nobody else may write in it. Made so if this
/// user owns it.
#[cfg(unix)]
fn private_directory(dir: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // The owner of a file this process creates is this process's user.
    let probe = dir.join(format!(".owner-{}", std::process::id()));
    fs::write(&probe, b"")?;
    let own_uid = fs::metadata(&probe)?.uid();
    fs::remove_file(&probe)?;
    let metadata = fs::metadata(dir)?;
    if metadata.uid() != own_uid {
        return Ok(false);
    }
    if metadata.permissions().mode() & 0o022 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(fs::metadata(dir)?.permissions().mode() & 0o022 == 0)
}

#[cfg(not(unix))]
fn private_directory(_dir: &Path) -> std::io::Result<bool> {
    Ok(true)
}

/// The cache's MAC key: read from `file`, or made from the system's randomness and written there
/// (mode 0600) on first use.
fn load_or_create_key(file: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    if let Ok(bytes) = fs::read(file)
        && let Ok(key) = <[u8; KEY_LEN]>::try_from(bytes.as_slice())
    {
        return Ok(key);
    }
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|error| std::io::Error::other(error.to_string()))?;
    let temporary = file.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut out = options.open(&temporary)?;
        out.write_all(&key)?;
        out.sync_all()?;
    }
    fs::rename(&temporary, file)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2 has a key shorter than a block; this checks the construction against
    /// a known answer computed with a 32-byte key of "Jefe" padded with zeros, which HMAC treats
    /// exactly as "Jefe" itself.
    #[test]
    fn hmac_matches_the_rfc_4231_answer() {
        let mut key = [0u8; KEY_LEN];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex(&hmac(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_file_with_a_plain_digest_is_not_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::default();
        let cache = DiskCache::new(dir.path(), &engine)
            .expect("cache")
            .expect("a private directory");
        let digest = sha256(b"component");
        let payload = b"not a compiled component".to_vec();
        // What a planter could write: the old format's self-checking digest.
        let mut planted = MAGIC.to_vec();
        planted.extend_from_slice(&sha256(&payload));
        planted.extend_from_slice(&payload);
        fs::write(cache.file(&digest), &planted).expect("plant");
        assert!(cache.load(&engine, &digest).is_none());
        assert!(!cache.file(&digest).exists(), "the foreign file is removed");
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_may_write_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
        let cache = DiskCache::new(dir.path(), &Engine::default()).expect("cache");
        assert!(cache.is_some());
        let mode = fs::metadata(dir.path())
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        let key_mode = fs::metadata(dir.path().join(KEY_FILE_NAME))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o077, 0, "{key_mode:o}");
    }
}
