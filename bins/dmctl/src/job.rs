//! Jobs: management commands queued for a device's next session.
//!
//! `dmctl get|replace|add|delete|exec|copy DEVICE ...` create a job of one command and print
//! its id; with `--wait` they then notify the device (Package 0 through the server), poll the
//! job with backoff (a spinner on a terminal) until it is `done`, `failed` or `cancelled`, and
//! print each command's SyncML status and result items. `dmctl submit DEVICE FILE` queues any
//! command list given as API JSON (Atomic, Sequence, several commands). `dmctl job`,
//! `dmctl jobs` and `dmctl cancel` read and cancel jobs.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use crate::api::{Client, Error};
use crate::{device, input, output};

/// The `Meta/Format` values of OMA DM 1.2.
const FORMATS: [&str; 11] = [
    "b64", "bin", "bool", "chr", "int", "node", "null", "xml", "date", "time", "float",
];

/// First delay between two polls of `--wait`; it doubles up to [`POLL_MAX`].
const POLL_START: Duration = Duration::from_millis(50);
/// Longest delay between two polls of `--wait`.
const POLL_MAX: Duration = Duration::from_secs(1);

/// `--wait` and `--timeout`.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// Notify the device, wait until it has answered and print the results.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit status 1; the job stays queued).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

/// `Meta/Format` and `Meta/Type` of a written value.
#[derive(Debug, Clone, clap::Args)]
pub struct MetaArgs {
    /// Meta/Format of the value (b64: VALUE is Base64 text).
    #[arg(long, value_parser = FORMATS)]
    pub format: Option<String>,
    /// Meta/Type of the value (a MIME type), e.g. text/plain.
    #[arg(long = "type", value_name = "MIME")]
    pub mime_type: Option<String>,
}

/// The job-creating commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Get node values (one Get with an item per path).
    Get {
        /// Device id.
        device_id: String,
        /// Node URIs, e.g. ./DevInfo/Mod.
        #[arg(required = true)]
        paths: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Replace a node's value.
    Replace {
        /// Device id.
        device_id: String,
        /// Node URI.
        path: String,
        /// The new value (text; Base64 text with --format b64).
        value: String,
        #[command(flatten)]
        meta: MetaArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Add a node: a leaf with VALUE, or an interior node (format node) without.
    Add {
        /// Device id.
        device_id: String,
        /// Node URI.
        path: String,
        /// The value of a new leaf.
        value: Option<String>,
        #[command(flatten)]
        meta: MetaArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete nodes (one Delete with an item per path).
    Delete {
        /// Device id.
        device_id: String,
        /// Node URIs.
        #[arg(required = true)]
        paths: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Execute a node, optionally with data.
    Exec {
        /// Device id.
        device_id: String,
        /// Node URI.
        path: String,
        /// Data passed to the executable node.
        data: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Copy a node's value to another node.
    Copy {
        /// Device id.
        device_id: String,
        /// Source node URI.
        from: String,
        /// Target node URI.
        to: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// One API item: `path`, and `value`, `format`, `type` when given.
pub fn item(path: &str, value: Option<&str>, meta: Option<&MetaArgs>) -> Value {
    let mut item = Map::new();
    item.insert("path".into(), json!(path));
    if let Some(v) = value {
        item.insert("value".into(), json!(v));
    }
    if let Some(m) = meta {
        if let Some(f) = &m.format {
            item.insert("format".into(), json!(f));
        }
        if let Some(t) = &m.mime_type {
            item.insert("type".into(), json!(t));
        }
    }
    Value::Object(item)
}

impl Command {
    /// The target device, the API command (`{"kind": ..., "items": [...]}`) and the wait flags.
    fn to_api(&self) -> (&str, Value, &WaitArgs) {
        match self {
            Command::Get {
                device_id,
                paths,
                wait,
            } => (
                device_id,
                json!({"kind": "get", "items": paths.iter().map(|p| item(p, None, None)).collect::<Vec<_>>()}),
                wait,
            ),
            Command::Replace {
                device_id,
                path,
                value,
                meta,
                wait,
            } => (
                device_id,
                json!({"kind": "replace", "items": [item(path, Some(value), Some(meta))]}),
                wait,
            ),
            Command::Add {
                device_id,
                path,
                value,
                meta,
                wait,
            } => {
                let mut meta = meta.clone();
                if value.is_none() && meta.format.is_none() {
                    meta.format = Some("node".into());
                }
                (
                    device_id,
                    json!({"kind": "add", "items": [item(path, value.as_deref(), Some(&meta))]}),
                    wait,
                )
            }
            Command::Delete {
                device_id,
                paths,
                wait,
            } => (
                device_id,
                json!({"kind": "delete", "items": paths.iter().map(|p| item(p, None, None)).collect::<Vec<_>>()}),
                wait,
            ),
            Command::Exec {
                device_id,
                path,
                data,
                wait,
            } => (
                device_id,
                json!({"kind": "exec", "items": [item(path, data.as_deref(), None)]}),
                wait,
            ),
            Command::Copy {
                device_id,
                from,
                to,
                wait,
            } => (
                device_id,
                json!({"kind": "copy", "items": [{"path": from, "target": to}]}),
                wait,
            ),
        }
    }
}

/// Creates the job; with `--wait` notifies the device, waits and prints the results, else
/// prints the job id.
///
/// # Errors
/// [`Error`] from the API, [`Error::Timeout`], [`Error::JobEnded`].
pub fn run(client: &Client, cmd: &Command, json: bool) -> Result<(), Error> {
    let (device_id, command, wait) = cmd.to_api();
    submit(client, device_id, vec![command], wait, json)
}

/// Arguments of `dmctl submit`.
#[derive(Debug, Clone, clap::Args)]
pub struct SubmitArgs {
    /// Device id.
    pub device_id: String,
    /// JSON file with the commands: an array of API commands (or one command), e.g.
    /// [{"kind":"atomic","children":[...]}] (`-` or absent: standard input).
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `dmctl submit`: a job of any commands (Atomic, Sequence, several commands) from JSON.
///
/// # Errors
/// Unreadable or non-JSON input (exit status 2); otherwise as [`run`].
pub fn run_submit(client: &Client, args: &SubmitArgs, json: bool) -> anyhow::Result<()> {
    let bytes = input::read(args.file.as_deref())?;
    let value: Value = serde_json::from_slice(&bytes).context("the commands are not JSON")?;
    let commands = match value {
        Value::Array(a) => a,
        one @ Value::Object(_) => vec![one],
        _ => anyhow::bail!("the commands must be a JSON array of command objects"),
    };
    Ok(submit(client, &args.device_id, commands, &args.wait, json)?)
}

/// Queues a job of `commands` for `device_id`; with `--wait` notifies the device (by its
/// route: directly or through its gateway), waits and prints the results, else prints the id.
///
/// # Errors
/// As [`run`].
pub fn submit(
    client: &Client,
    device_id: &str,
    commands: Vec<Value>,
    wait: &WaitArgs,
    json: bool,
) -> Result<(), Error> {
    let job: Value = client.post(
        &["jobs"],
        &json!({"device_id": device_id, "commands": commands}),
    )?;
    let id = job_id(&job)?;
    if !wait.wait {
        if json {
            output::json(&job);
        } else {
            println!("{id}");
        }
        return Ok(());
    }
    if let Err(e) = device::notify(client, device_id, None) {
        // The job stays queued: the device may still come by (timer, its own initiative).
        eprintln!("dmctl: warning: job {id} queued but the device was not notified: {e}");
    }
    let job = wait_for(client, id, Duration::from_secs(wait.timeout))?;
    finish(&job, json)
}

/// Prints a finished job (results, or the JSON) and turns `failed`/`cancelled` into
/// [`Error::JobEnded`].
fn finish(job: &Value, json: bool) -> Result<(), Error> {
    if json {
        output::json(job);
    } else {
        print_results(job);
    }
    let state = output::field(job, "state");
    if state == "done" {
        Ok(())
    } else {
        Err(Error::JobEnded {
            id: job.get("id").and_then(Value::as_i64).unwrap_or_default(),
            state,
        })
    }
}

fn job_id(job: &Value) -> Result<i64, Error> {
    job.get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Decode {
            what: "POST /api/v1/jobs".into(),
            reason: "no job id".into(),
        })
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "done" | "failed" | "cancelled")
}

/// Polls `GET /api/v1/jobs/{id}` (50 ms, doubling to 1 s) until the job is `done`, `failed` or
/// `cancelled`; a spinner on standard error when it is a terminal.
///
/// # Errors
/// [`Error`] from the API; [`Error::Timeout`] after `timeout`.
pub fn wait_for(client: &Client, id: i64, timeout: Duration) -> Result<Value, Error> {
    let started = Instant::now();
    let deadline = started + timeout;
    let spinner = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("job {id}: waiting for the device"));
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let mut delay = POLL_START;
    let id_text = id.to_string();
    let result = loop {
        let job: Value = match client.get(&["jobs", &id_text], &[]) {
            Ok(j) => j,
            Err(e) => break Err(e),
        };
        let state = output::field(&job, "state");
        if is_terminal(&state) {
            break Ok(job);
        }
        let now = Instant::now();
        if now >= deadline {
            break Err(Error::Timeout {
                id,
                secs: timeout.as_secs(),
                state,
            });
        }
        if let Some(bar) = &spinner {
            bar.set_message(format!(
                "job {id}: {state}, waiting for the device ({}s)",
                started.elapsed().as_secs()
            ));
        }
        std::thread::sleep(delay.min(deadline - now));
        delay = (delay * 2).min(POLL_MAX);
    };
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    result
}

/// The job's commands in pre-order (containers before their children), as results index
/// them.
fn flatten(commands: &[Value], out: &mut Vec<Value>) {
    for c in commands {
        out.push(c.clone());
        if let Some(children) = c.get("children").and_then(Value::as_array) {
            flatten(children, out);
        }
    }
}

/// `get ./A ./B`, `copy ./X -> ./Y`, `atomic`.
fn describe(command: &Value) -> String {
    let kind = output::field(command, "kind");
    let items = command
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut text = kind;
    for i in &items {
        text.push(' ');
        text.push_str(&output::field(i, "path"));
        if let Some(t) = i.get("target").and_then(Value::as_str) {
            text.push_str(" -> ");
            text.push_str(t);
        }
    }
    text
}

/// Per command: `#INDEX KIND PATHS: STATUS TEXT`, then one indented line per result item:
/// `PATH (FORMAT): DATA`.
fn print_results(job: &Value) {
    let mut commands = Vec::new();
    if let Some(c) = job.get("commands").and_then(Value::as_array) {
        flatten(c, &mut commands);
    }
    let results = job
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (index, command) in commands.iter().enumerate() {
        let result = results
            .iter()
            .find(|r| r.get("index").and_then(Value::as_u64) == Some(index as u64));
        let error = result.and_then(|r| r.get("error")).and_then(Value::as_str);
        let status = match result.and_then(|r| r.get("status")).and_then(Value::as_u64) {
            _ if error.is_some() => error.unwrap_or_default().to_owned(),
            Some(code) => format!("{code} {}", output::status_text(code))
                .trim_end()
                .to_owned(),
            None => "no status".to_owned(),
        };
        println!("#{index} {}: {status}", describe(command));
        let items = result
            .and_then(|r| r.get("items"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for i in &items {
            let path = output::field(i, "path");
            let data = output::data(i.get("data"));
            match i.get("format").and_then(Value::as_str) {
                Some(f) => println!("  {path} ({f}): {data}"),
                None => println!("  {path}: {data}"),
            }
        }
    }
}

/// Arguments of `dmctl job`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// Job id.
    pub id: i64,
    /// Wait until the job is finished (without notifying the device).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

/// `dmctl job ID`: state, times and results.
///
/// # Errors
/// [`Error`] from the API; with `--wait` also [`Error::Timeout`] and [`Error::JobEnded`].
pub fn show(client: &Client, args: &ShowArgs, json: bool) -> Result<(), Error> {
    if args.wait {
        let job = wait_for(client, args.id, Duration::from_secs(args.timeout))?;
        return finish(&job, json);
    }
    let job: Value = client.get(&["jobs", &args.id.to_string()], &[])?;
    if json {
        output::json(&job);
        return Ok(());
    }
    println!(
        "job {} for {}: {} (attempts {}, created {}, updated {}, completed {})",
        output::field(&job, "id"),
        output::field(&job, "device_id"),
        output::field(&job, "state"),
        output::field(&job, "attempts"),
        output::time(job.get("created_at").and_then(Value::as_i64)),
        output::time(job.get("updated_at").and_then(Value::as_i64)),
        output::time(job.get("completed_at").and_then(Value::as_i64)),
    );
    print_results(&job);
    Ok(())
}

/// Arguments of `dmctl jobs`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only this device's jobs.
    #[arg(long = "device", value_name = "DEVICE")]
    pub device_id: Option<String>,
    /// Only jobs in this state.
    #[arg(long, value_parser = ["queued", "sent", "done", "failed", "cancelled"])]
    pub state: Option<String>,
}

/// `dmctl jobs`.
///
/// # Errors
/// [`Error`] from the API.
pub fn list(client: &Client, args: &ListArgs, json: bool) -> Result<(), Error> {
    let mut query = Vec::new();
    if let Some(d) = &args.device_id {
        query.push(("device_id", d.clone()));
    }
    if let Some(s) = &args.state {
        query.push(("state", s.clone()));
    }
    let jobs = client.get_all(&["jobs"], &query, "jobs")?;
    if json {
        output::json(&Value::Array(jobs));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let commands = j
                .get("commands")
                .and_then(Value::as_array)
                .map(|c| c.iter().map(describe).collect::<Vec<_>>().join("; "))
                .unwrap_or_default();
            vec![
                output::field(j, "id"),
                output::field(j, "device_id"),
                output::field(j, "state"),
                output::time(j.get("created_at").and_then(Value::as_i64)),
                commands,
            ]
        })
        .collect();
    output::table(&["ID", "DEVICE", "STATE", "CREATED", "COMMANDS"], &rows);
    Ok(())
}

/// `dmctl cancel ID`.
///
/// # Errors
/// [`Error`] from the API (409 when the job is already finished).
pub fn cancel(client: &Client, id: i64, json: bool) -> Result<(), Error> {
    let job: Value = client.post(&["jobs", &id.to_string(), "cancel"], &json!({}))?;
    if json {
        output::json(&job);
    } else {
        println!("job {id} {}", output::field(&job, "state"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_follow_preorder_indexes() {
        let commands = vec![
            json!({"kind": "atomic", "children": [
                {"kind": "replace", "items": [{"path": "./A", "value": "1"}]},
                {"kind": "copy", "items": [{"path": "./A", "target": "./B"}]}]}),
            json!({"kind": "get", "items": [{"path": "./A"}, {"path": "./B"}]}),
        ];
        let mut flat = Vec::new();
        flatten(&commands, &mut flat);
        let described: Vec<String> = flat.iter().map(describe).collect();
        assert_eq!(
            described,
            ["atomic", "replace ./A", "copy ./A -> ./B", "get ./A ./B"]
        );
    }

    #[test]
    fn add_without_value_makes_an_interior_node() {
        let cmd = Command::Add {
            device_id: "D".into(),
            path: "./Vendor/Dir".into(),
            value: None,
            meta: MetaArgs {
                format: None,
                mime_type: None,
            },
            wait: WaitArgs {
                wait: false,
                timeout: 60,
            },
        };
        let (device, api, _) = cmd.to_api();
        assert_eq!(device, "D");
        assert_eq!(
            api,
            json!({"kind": "add", "items": [{"path": "./Vendor/Dir", "format": "node"}]})
        );
    }
}
