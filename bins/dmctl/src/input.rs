//! Reading inputs and writing outputs: a file name, or `-` / nothing for stdin / stdout.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::Context as _;

/// Reads the whole input: the file at `path`, or standard input for `None` or `-`.
pub fn read(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match path {
        Some(p) if p != Path::new("-") => {
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read standard input")?;
            Ok(buf)
        }
    }
}

/// Reads at most `max` bytes of the input (the file at `path`, or standard input for `None` or
/// `-`): a larger input is cut after `max` bytes, so that a decoder given `max` as its size
/// limit reports it without the whole input in memory.
pub fn read_at_most(path: Option<&Path>, max: usize) -> anyhow::Result<Vec<u8>> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX);
    let mut buf = Vec::new();
    match path {
        Some(p) if p != Path::new("-") => std::fs::File::open(p)
            .and_then(|f| f.take(limit).read_to_end(&mut buf))
            .with_context(|| format!("cannot read {}", p.display()))?,
        _ => std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut buf)
            .context("cannot read standard input")?,
    };
    Ok(buf)
}

/// Writes `bytes` to the file at `path`, or to standard output for `None` or `-`.
pub fn write(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) if p != Path::new("-") => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
        }
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|()| out.flush())
                .context("cannot write standard output")
        }
    }
}
