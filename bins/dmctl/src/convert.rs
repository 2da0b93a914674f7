//! `dmctl convert`: decode a SyncML DM message in either encoding and encode it in the other
//! (or the same) one.

use std::path::PathBuf;

use anyhow::Context as _;
use syncml::{Encoding, Limits};

/// Target encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// XML (`application/vnd.syncml.dm+xml`).
    Xml,
    /// WBXML (`application/vnd.syncml.dm+wbxml`).
    Wbxml,
}

/// Arguments of `dmctl convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Encoding to produce.
    #[arg(long, value_enum)]
    to: Target,
    /// Input file (`-` or absent: standard input). Its encoding is detected.
    input: Option<PathBuf>,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Runs `dmctl convert`. The input is decoded under the default [`Limits`] (4 MiB, at most 32
/// times that much decoded output and 16 MiB, ...); one past `max_size` bytes of it are read, so an input
/// over the limit is reported as such (`input size (max_size) limit of 4194304 exceeded`).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let limits = Limits::default();
    let bytes =
        crate::input::read_at_most(args.input.as_deref(), limits.max_size.saturating_add(1))?;
    let from = Encoding::detect(&bytes);
    let msg = from.decode(&bytes, &limits).with_context(|| {
        let name = match from {
            Encoding::Xml => "XML",
            Encoding::Wbxml => "WBXML",
        };
        format!("cannot decode input as {name}")
    })?;
    let to = match args.to {
        Target::Xml => Encoding::Xml,
        Target::Wbxml => Encoding::Wbxml,
    };
    crate::input::write(args.output.as_deref(), &to.encode(&msg))
}
