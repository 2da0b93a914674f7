//! The content-addressed image files (docs/gateway.md §10): `<dir>/sha256/<hex>` holds one
//! verified image, whatever number of entries name it; `<dir>/partial/<hex>` a download in
//! progress (kept across a cut-off, resumed with a Range request); `<dir>/tmp/` files being
//! written from a `Data` value. A file reaches `sha256/` only by a rename after its digest was
//! verified, so a crash never leaves a wrong or half file there.
//!
//! The quota counts the stored files plus what running downloads reserve.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use gwmo::image::Sha256Hex;
use sha2::Digest as _;

use crate::Error;

/// The files and the reservations of running downloads.
#[derive(Debug)]
pub(crate) struct Blobs {
    dir: PathBuf,
    /// Stored files and their sizes.
    files: HashMap<Sha256Hex, u64>,
    /// Bytes reserved by running downloads, per digest.
    reserved: HashMap<Sha256Hex, u64>,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

impl Blobs {
    /// Opens (creating) the directory and lists the stored files (names that are not digests
    /// are ignored; partial files stay for a resume).
    ///
    /// # Errors
    /// [`Error::Io`] when the directories cannot be made or read.
    pub(crate) fn open(dir: &Path) -> Result<Blobs, Error> {
        for sub in ["sha256", "partial", "tmp"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(io(format!("creating {}", d.display())))?;
        }
        let mut files = HashMap::new();
        let stored = dir.join("sha256");
        let entries =
            std::fs::read_dir(&stored).map_err(io(format!("reading {}", stored.display())))?;
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(sha) = name.to_str().and_then(|n| Sha256Hex::parse(n).ok()) else {
                continue;
            };
            if let Ok(meta) = e.metadata() {
                files.insert(sha, meta.len());
            }
        }
        Ok(Blobs {
            dir: dir.to_owned(),
            files,
            reserved: HashMap::new(),
        })
    }

    /// The path of a stored image.
    pub(crate) fn path(&self, sha: &Sha256Hex) -> PathBuf {
        self.dir.join("sha256").join(sha.as_str())
    }

    /// The path of a partial download.
    pub(crate) fn partial_path(&self, sha: &Sha256Hex) -> PathBuf {
        self.dir.join("partial").join(sha.as_str())
    }

    /// The size of a stored image, if stored.
    pub(crate) fn stored(&self, sha: &Sha256Hex) -> Option<u64> {
        self.files.get(sha).copied()
    }

    /// Bytes in use: stored files plus reservations of digests not stored yet.
    pub(crate) fn used(&self) -> u64 {
        let files: u64 = self.files.values().sum();
        let reserved: u64 = self
            .reserved
            .iter()
            .filter(|(s, _)| !self.files.contains_key(*s))
            .map(|(_, n)| *n)
            .sum();
        files.saturating_add(reserved)
    }

    /// True while a download of `sha` runs.
    pub(crate) fn downloading(&self, sha: &Sha256Hex) -> bool {
        self.reserved.contains_key(sha)
    }

    /// Reserves `bytes` for the download of `sha` (growing its reservation) if they fit
    /// `quota`. False: they do not fit (nothing changes).
    pub(crate) fn reserve(&mut self, sha: &Sha256Hex, bytes: u64, quota: u64) -> bool {
        let mine = self.reserved.get(sha).copied().unwrap_or(0);
        let others = self.used().saturating_sub(mine);
        if others.saturating_add(bytes.max(mine)) > quota {
            return false;
        }
        self.reserved.insert(sha.clone(), bytes.max(mine));
        true
    }

    /// Ends the download of `sha` (stored or not).
    pub(crate) fn release(&mut self, sha: &Sha256Hex) {
        self.reserved.remove(sha);
    }

    /// Records a file renamed into `sha256/`.
    pub(crate) fn stored_now(&mut self, sha: &Sha256Hex, size: u64) {
        self.files.insert(sha.clone(), size);
    }

    /// Removes a stored image (its last entry went).
    pub(crate) fn remove(&mut self, sha: &Sha256Hex) {
        if self.files.remove(sha).is_some()
            && let Err(e) = std::fs::remove_file(self.path(sha))
        {
            tracing::warn!(%sha, error = %e, "image file not removed");
        }
        let _ = std::fs::remove_file(self.partial_path(sha));
    }

    /// Stores `bytes` (a `Data` value) as the image `sha`: written to a temporary file,
    /// verified, synced and renamed. Returns the size.
    ///
    /// # Errors
    /// [`StoreRefusal::Digest`] when the bytes do not have this digest,
    /// [`StoreRefusal::Quota`] when they do not fit, [`StoreRefusal::Io`] on a file error.
    pub(crate) fn put_bytes(
        &mut self,
        sha: &Sha256Hex,
        bytes: &[u8],
        quota: u64,
    ) -> Result<u64, StoreRefusal> {
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if self.files.contains_key(sha) {
            return if Sha256Hex::from_bytes(&sha2::Sha256::digest(bytes).into()) == *sha {
                Ok(size)
            } else {
                Err(StoreRefusal::Digest)
            };
        }
        if Sha256Hex::from_bytes(&sha2::Sha256::digest(bytes).into()) != *sha {
            return Err(StoreRefusal::Digest);
        }
        if self.used().saturating_add(size) > quota {
            return Err(StoreRefusal::Quota);
        }
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{sha}.{}", rand::random::<u64>()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.path(sha))
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreRefusal::Io(e));
        }
        self.files.insert(sha.clone(), size);
        Ok(size)
    }
}

/// Why an image was not stored.
#[derive(Debug)]
pub(crate) enum StoreRefusal {
    /// The bytes do not have the declared digest.
    Digest,
    /// They do not fit the quota.
    Quota,
    /// A file operation failed.
    Io(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> Sha256Hex {
        Sha256Hex::from_bytes(&sha2::Sha256::digest(b).into())
    }

    /// GwMO-DCIS-002: one file per digest; the quota counts it once and refuses what does not
    /// fit without touching what is stored.
    #[test]
    fn gwmo_dcis_002_one_file_per_digest_within_quota() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Blobs::open(dir.path()).unwrap();
        let s = sha(b"hello");
        assert_eq!(b.put_bytes(&s, b"hello", 10).unwrap(), 5);
        assert_eq!(b.put_bytes(&s, b"hello", 10).unwrap(), 5);
        assert_eq!(b.used(), 5);
        assert!(matches!(
            b.put_bytes(&sha(b"world!"), b"world!", 10),
            Err(StoreRefusal::Quota)
        ));
        assert!(matches!(
            b.put_bytes(&sha(b"x"), b"y", 10),
            Err(StoreRefusal::Digest)
        ));
        assert_eq!(std::fs::read(b.path(&s)).unwrap(), b"hello");
        assert!(b.reserve(&sha(b"z"), 5, 10));
        assert!(!b.reserve(&sha(b"w"), 1, 10));
        b.release(&sha(b"z"));
        let again = Blobs::open(dir.path()).unwrap();
        assert_eq!(again.stored(&s), Some(5));
        b.remove(&s);
        assert!(!b.path(&s).exists());
    }
}
