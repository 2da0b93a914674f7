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

/// Runs `dmctl convert`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let bytes = crate::input::read(args.input.as_deref())?;
    let from = Encoding::detect(&bytes);
    let msg = from.decode(&bytes, &Limits::default()).with_context(|| {
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
