//! Compiled components on disk: one file per (component bytes, engine configuration), so a
//! restarted host skips Cranelift.
//!
//! A file holds a magic, the SHA-256 of its payload, and the payload `Component::serialize`
//! produced. It is written to a temporary name and renamed, and checked against its digest before
//! it is deserialized, so a torn or corrupted file is recompiled rather than loaded.

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

#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    /// Names this engine's configuration, so engines configured differently never share files.
    engine_tag: String,
}

impl DiskCache {
    pub(crate) fn new(dir: &Path, engine: &Engine) -> std::io::Result<DiskCache> {
        fs::create_dir_all(dir)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_tag = hex(&hasher.0.finalize()[..8]);
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            engine_tag,
        })
    }

    fn file(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", hex(digest), self.engine_tag))
    }

    /// The cached component for `digest`, if a sound file is there.
    pub(crate) fn load(&self, engine: &Engine, digest: &[u8; 32]) -> Option<Component> {
        let file = self.file(digest);
        let bytes = fs::read(&file).ok()?;
        let sound =
            bytes.len() >= 40 && &bytes[..8] == MAGIC && bytes[8..40] == sha256(&bytes[40..]);
        if !sound {
            tracing::warn!(file = %file.display(), "discarding a corrupt compiled-component cache file");
            let _ = fs::remove_file(&file);
            return None;
        }
        // SAFETY: `Component::deserialize` trusts its input to be the output of
        // `Component::serialize`, because it maps it as executable code. These bytes are exactly
        // what `store` below wrote: they carry the SHA-256 it recorded (so they are neither torn
        // nor corrupted), and the file lives in the host's private cache directory, named after
        // this engine's compatibility hash. Wasmtime itself still checks that the artifact was
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
            out.write_all(&sha256(&payload))?;
            out.write_all(&payload)?;
            out.sync_all()?;
            fs::rename(&temporary, &file)
        })();
        if let Err(error) = result {
            tracing::warn!(dir = %self.dir.display(), %error, "could not cache a compiled component");
        }
    }
}
