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
//! Operator commands (the REST API of `dm-server`, see `docs/api.md`; global flags `--server`
//! / `DMCTL_SERVER`, `--token` / `DMCTL_TOKEN`, `--json`):
//! - `dmctl devices`, `dmctl device add|remove|list|show` ([`device`]);
//! - `dmctl gateway list|inventory G [--live]` ([`gateway`]);
//! - `dmctl get|replace|add|delete|exec|copy DEVICE ... [--wait]`, `dmctl submit DEVICE FILE`,
//!   `dmctl job|jobs|cancel` ([`job`]);
//! - `dmctl notify DEVICE`, `dmctl tree DEVICE` ([`device`]), `dmctl events` ([`event`]).
//!
//! Each subcommand lives in its own module with an `Args` type and a `run` function.
//!
//! Exit status: 0 on success; 1 when the server refuses or fails (one line on stderr with the
//! server's `error` text and the HTTP status), cannot be reached, or a waited-for job times out
//! or ends failed/cancelled; 2 on bad input or usage (one line on stderr saying what is wrong
//! and, for malformed data, at which byte offset); never a panic. The API token is never
//! printed.

mod api;
mod auth;
mod convert;
mod device;
mod event;
mod fanout;
mod gateway;
mod group;
mod input;
mod job;
mod output;
mod pkg0;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// OMA DM 1.2 / GwMO command-line tool.
#[derive(Debug, Parser)]
#[command(name = "dmctl", version, about)]
struct Cli {
    #[command(flatten)]
    connection: api::Connection,
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
    /// List devices (filters: --prefix, --manufacturer, --model).
    Devices(device::ListArgs),
    /// Device accounts: add, remove, list, show.
    #[command(subcommand)]
    Device(device::Command),
    /// Gateways and the devices behind them: list, inventory.
    #[command(subcommand)]
    Gateway(gateway::Command),
    /// Device groups on a gateway: create, add, remove, match, delete, list, show.
    Group(group::Args),
    /// Fan commands out to a group behind a gateway (get, replace, exec, submit; show, list,
    /// cancel), with a live progress bar and the consolidated response.
    Fanout(fanout::Args),
    /// Queue management commands for a device (one job each; --wait for the answer).
    #[command(flatten)]
    Job(job::Command),
    /// Queue a job of commands given as API JSON (Atomic, Sequence, several commands).
    Submit(job::SubmitArgs),
    /// Show a job: state and, per command, the device's status and results.
    #[command(name = "job")]
    ShowJob(job::ShowArgs),
    /// List jobs.
    Jobs(job::ListArgs),
    /// Cancel a queued or sent job.
    Cancel {
        /// Job id.
        id: i64,
    },
    /// Send a Package 0 notification so that the device calls the server.
    Notify(device::NotifyArgs),
    /// List the alerts devices sent (Generic Alerts and others).
    Events(event::ListArgs),
    /// The last known values of a device's nodes.
    Tree(device::TreeArgs),
}

/// Exit status when the server refuses, fails or cannot be reached.
const EXIT_FAILED: u8 = 1;
/// Exit status for bad input or usage (as clap uses for usage errors).
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert(args) => convert::run(&args),
        Command::Pkg0(cmd) => pkg0::run(&cmd),
        Command::Auth(cmd) => auth::run(&cmd),
        operator => run_operator(&cli.connection, &operator),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let status = match e.downcast_ref::<api::Error>() {
                Some(api) if !api.is_usage() => EXIT_FAILED,
                _ => EXIT_BAD_INPUT,
            };
            // One line: the context chain joined with ": ".
            let line = e
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            eprintln!("dmctl: {}", line.replace('\n', " "));
            ExitCode::from(status)
        }
    }
}

/// Runs a command that talks to the server.
fn run_operator(connection: &api::Connection, command: &Command) -> anyhow::Result<()> {
    let client = api::Client::new(connection)?;
    let json = connection.json;
    match command {
        Command::Devices(args) => device::list(&client, args, json)?,
        Command::Device(cmd) => device::run(&client, cmd, json)?,
        Command::Gateway(cmd) => gateway::run(&client, cmd, json)?,
        Command::Group(args) => group::run(&client, args, json)?,
        Command::Fanout(args) => fanout::run(&client, args, json)?,
        Command::Job(cmd) => job::run(&client, cmd, json)?,
        Command::Submit(args) => job::run_submit(&client, args, json)?,
        Command::ShowJob(args) => job::show(&client, args, json)?,
        Command::Jobs(args) => job::list(&client, args, json)?,
        Command::Cancel { id } => job::cancel(&client, *id, json)?,
        Command::Notify(args) => device::run_notify(&client, args, json)?,
        Command::Events(args) => event::list(&client, args, json)?,
        Command::Tree(args) => device::tree(&client, args, json)?,
        Command::Convert(_) | Command::Pkg0(_) | Command::Auth(_) => {}
    }
    Ok(())
}
