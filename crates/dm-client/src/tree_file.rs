//! The tree file: the persisted dm-tree snapshot of the agent.
//!
//! In: snapshot bytes (from `dm_tree`). Out: a file replaced atomically (write to a temporary file
//! in the same directory, `fsync`, rename over the old file), so a crash never leaves a torn tree.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// Reads the tree file; `Ok(None)` when it does not exist yet.
///
/// # Errors
/// [`Error::Io`] for any other read failure.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Replaces the tree file with `bytes` atomically (temp file + fsync + rename).
///
/// # Errors
/// [`Error::Io`] when the directory is not writable or the rename fails; the old file is then
/// left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Io {
            path: path.to_owned(),
            source,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_reads_none_then_roundtrips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/tree.bin");
        assert_eq!(read(&p).unwrap(), None);
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(read(&p).unwrap().as_deref(), Some(&b"two"[..]));
        // no temporary file left behind
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn unwritable_target_is_an_error_and_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // the target is a directory: rename fails
        let p = dir.path().join("d");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("x"), b"keep").unwrap();
        assert!(matches!(write_atomic(&p, b"new"), Err(Error::Io { .. })));
        assert_eq!(std::fs::read(p.join("x")).unwrap(), b"keep");
    }
}
