//! `dmctl`: the OMA DM command-line tool.
//!
//! In: command-line arguments, files or standard input. Out: converted messages, Package 0
//! notifications, JSON descriptions and digests on standard output.
//!
//! Offline tools (no network):
//! - `dmctl convert --to xml|wbxml [INPUT|-] [-o OUTPUT]`: re-encode a SyncML DM message.
//! - `dmctl pkg0 decode|encode ...`: Package 0 notifications.
//! - `dmctl auth md5 ...`: the `syncml:auth-md5` digest.
//!
//! Each subcommand lives in its own module with an `Args` type and a `run` function; operator
//! commands talking to the server's REST API go beside them the same way.
//!
//! Exit status: 0 on success; 2 on bad input or usage (one line on stderr saying what is wrong
//! and, for malformed data, at which byte offset); never a panic.

mod auth;
mod convert;
mod input;
mod pkg0;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// OMA DM 1.2 / GwMO command-line tool.
#[derive(Debug, Parser)]
#[command(name = "dmctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert a SyncML DM message between XML and WBXML (input encoding auto-detected).
    Convert(convert::Args),
    /// Decode or encode a Package 0 notification.
    #[command(subcommand)]
    Pkg0(pkg0::Command),
    /// Compute authentication digests.
    #[command(subcommand)]
    Auth(auth::Command),
}

/// Exit status for bad input or usage (as clap uses for usage errors).
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert(args) => convert::run(&args),
        Command::Pkg0(cmd) => pkg0::run(&cmd),
        Command::Auth(cmd) => auth::run(&cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain joined with ": ".
            let line = e
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            eprintln!("dmctl: {}", line.replace('\n', " "));
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
