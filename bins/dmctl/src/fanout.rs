//! Fanouts (docs/gateway.md §9, GwMO-FORA-001/002, B.7): `dmctl fanout --gateway G --group
//! NAME get PATH` (and `replace`, `exec`, `submit`) queues the fanout, shows a live progress
//! bar (a progress line per change when standard error is not a terminal) and then the
//! consolidated response: per command the devices per status code and per result value,
//! and the exceptions. `show`, `list` and `cancel` read and stop fanouts.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Client, Error};
use crate::job::{MetaArgs, item};
use crate::{input, output};

/// What to fan out, or which fanout to read.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// Get node values on every target.
    Get {
        /// Node URIs in the End Devices' trees, e.g. ./DevInfo/Mod.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Replace a node's value on every target.
    Replace {
        /// Node URI.
        path: String,
        /// The new value.
        value: String,
        #[command(flatten)]
        meta: MetaArgs,
    },
    /// Execute a node on every target, optionally with data.
    Exec {
        /// Node URI.
        path: String,
        /// Data passed to the executable node.
        data: Option<String>,
    },
    /// Fan out commands given as API JSON (an array of commands, as `dmctl submit` takes).
    Submit {
        /// The JSON file (`-` or absent: standard input).
        file: Option<PathBuf>,
    },
    /// Show a fanout.
    Show {
        /// Fanout id.
        id: i64,
    },
    /// The gateway's fanouts.
    List,
    /// Cancel a fanout.
    Cancel {
        /// Fanout id.
        id: i64,
    },
}

/// `dmctl fanout` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The gateway's device id.
    #[arg(long, global = true, default_value = "")]
    gateway: String,
    /// A group of the gateway as the targets.
    #[arg(long, global = true)]
    group: Option<String>,
    /// Explicit targets (device ids), with the group's members if both are given.
    #[arg(long = "target", value_name = "DEVICE", global = true)]
    targets: Vec<String>,
    /// The fanout's deadline.
    #[arg(long, value_name = "SECS", default_value_t = 300, global = true)]
    timeout: u64,
    /// Devices in flight at once on the gateway.
    #[arg(long, global = true)]
    window: Option<u32>,
    /// Do not wait: print the fanout's id.
    #[arg(long, global = true)]
    no_wait: bool,
    #[command(subcommand)]
    action: Action,
}

fn commands(action: &Action) -> Result<Option<Vec<Value>>, Error> {
    Ok(Some(match action {
        Action::Get { paths } => vec![json!({"kind": "get",
            "items": paths.iter().map(|p| item(p, None, None)).collect::<Vec<_>>()})],
        Action::Replace { path, value, meta } => {
            vec![json!({"kind": "replace", "items": [item(path, Some(value), Some(meta))]})]
        }
        Action::Exec { path, data } => {
            vec![json!({"kind": "exec", "items": [item(path, data.as_deref(), None)]})]
        }
        Action::Submit { file } => {
            let bytes = input::read(file.as_deref()).map_err(|e| Error::usage(format!("{e:#}")))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Array(a)) => a,
                Ok(one @ Value::Object(_)) => vec![one],
                _ => {
                    return Err(Error::usage(
                        "the commands must be a JSON array of command objects".to_owned(),
                    ));
                }
            }
        }
        Action::Show { .. } | Action::List | Action::Cancel { .. } => return Ok(None),
    }))
}

fn u(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Runs `dmctl fanout`.
///
/// # Errors
/// [`Error`] from the API, a usage error, [`Error::JobEnded`] when the fanout failed or was
/// cancelled.
pub fn run(client: &Client, args: &Args, json: bool) -> Result<(), Error> {
    match &args.action {
        Action::Show { id } => {
            let f: Value = client.get(&["fanouts", &id.to_string()], &[])?;
            return print(&f, json);
        }
        Action::Cancel { id } => {
            let f: Value = client.post(&["fanouts", &id.to_string(), "cancel"], &json!({}))?;
            if json {
                output::json(&f);
            } else {
                println!("fanout {id}: cancelling");
            }
            return Ok(());
        }
        Action::List => {
            let gw = gateway(args)?;
            let all = client.get_all(&["gateways", gw, "fanouts"], &[], "fanouts")?;
            if json {
                output::json(&Value::Array(all));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|f| {
                    let p = f.get("progress").cloned().unwrap_or(Value::Null);
                    vec![
                        output::field(f, "id"),
                        output::field(f, "state"),
                        output::field(f, "group"),
                        format!("{}/{}", u(&p, "finished"), u(&p, "total")),
                        output::time(f.get("created_at").and_then(Value::as_i64)),
                    ]
                })
                .collect();
            output::table(&["FANOUT", "STATE", "GROUP", "PROGRESS", "CREATED"], &rows);
            return Ok(());
        }
        _ => {}
    }
    let gw = gateway(args)?;
    let Some(commands) = commands(&args.action)? else {
        return Ok(());
    };
    if args.group.is_none() && args.targets.is_empty() {
        return Err(Error::usage(
            "--group NAME or --target DEVICE is required".to_owned(),
        ));
    }
    let body = json!({"targets": args.targets, "commands": commands,
                      "timeout_secs": args.timeout, "group": args.group, "window": args.window});
    let f: Value = client.post(&["gateways", gw, "fanouts"], &body)?;
    let id = f
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Decode {
            what: "POST fanouts".into(),
            reason: "no id".into(),
        })?;
    if args.no_wait {
        if json {
            output::json(&f);
        } else {
            println!("{id}");
        }
        return Ok(());
    }
    let f = follow(client, id, Duration::from_secs(args.timeout + 30))?;
    print(&f, json)
}

fn gateway(args: &Args) -> Result<&str, Error> {
    if args.gateway.is_empty() {
        Err(Error::usage("--gateway G is required".to_owned()))
    } else {
        Ok(&args.gateway)
    }
}

/// Polls the fanout (every 250 ms) until it ends, drawing its progress.
fn follow(client: &Client, id: i64, timeout: Duration) -> Result<Value, Error> {
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "fanout {msg} [{bar:40}] {pos}/{len} devices ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(id.to_string());
        bar
    });
    let mut last = (u64::MAX, u64::MAX, String::new());
    let path = id.to_string();
    let result = loop {
        let f: Value = match client.get(&["fanouts", &path], &[]) {
            Ok(f) => f,
            Err(e) => break Err(e),
        };
        let state = output::field(&f, "state");
        let p = f.get("progress").cloned().unwrap_or(Value::Null);
        let (finished, total) = (u(&p, "finished"), u(&p, "total"));
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(finished);
        } else if (finished, total, state.clone()) != last {
            eprintln!(
                "fanout {id}: {state}, {finished}/{total} devices ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
        last = (finished, total, state.clone());
        if matches!(state.as_str(), "done" | "failed" | "cancelled") {
            break Ok(f);
        }
        if started.elapsed() >= timeout {
            break Err(Error::Timeout {
                id,
                secs: timeout.as_secs(),
                state,
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

fn print(f: &Value, json: bool) -> Result<(), Error> {
    let state = output::field(f, "state");
    if json {
        output::json(f);
    } else {
        print_table(f);
    }
    if matches!(state.as_str(), "failed" | "cancelled") {
        return Err(Error::JobEnded {
            id: f.get("id").and_then(Value::as_i64).unwrap_or_default(),
            state: format!("{state} (fanout)"),
        });
    }
    Ok(())
}

fn print_table(f: &Value) {
    let took = match (
        f.get("created_at").and_then(Value::as_i64),
        f.get("completed_at").and_then(Value::as_i64),
    ) {
        (Some(a), Some(b)) => format!(" in {} ms", b - a),
        _ => String::new(),
    };
    println!(
        "fanout {} on {} ({}): {}{took}",
        output::field(f, "id"),
        output::field(f, "gateway_id"),
        f.get("group")
            .and_then(Value::as_str)
            .map_or_else(|| "targets".to_owned(), |g| format!("group {g}")),
        output::field(f, "state"),
    );
    if let Some(e) = f.get("error").and_then(Value::as_str) {
        println!("error: {e}");
    }
    let Some(r) = f.get("result").filter(|r| r.is_object()) else {
        return;
    };
    println!(
        "{} targets: {} answered, {} timed out, {} failed, {} unknown, {} cancelled",
        u(r, "targets"),
        u(r, "answered"),
        u(r, "timed_out"),
        u(r, "failed"),
        u(r, "unknown"),
        u(r, "cancelled")
    );
    let mut rows = Vec::new();
    for c in r
        .get("commands")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let statuses: Vec<String> = c
            .get("statuses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(code, n)| {
                let text = code
                    .parse::<u64>()
                    .map(output::status_text)
                    .unwrap_or_default();
                format!("{code} {text} x{}", n.as_u64().unwrap_or(0))
            })
            .collect();
        let mut values: Vec<String> = c
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|v| format!("{:?} x{}", output::field(v, "value"), u(v, "count")))
            .collect();
        if u(c, "other_values") > 0 {
            values.push(format!("other x{}", u(c, "other_values")));
        }
        rows.push(vec![
            output::field(c, "cmd_id"),
            output::field(c, "kind"),
            output::field(c, "path"),
            statuses.join(", "),
            values.join(", "),
        ]);
    }
    output::table(&["CMD", "KIND", "PATH", "STATUS", "VALUES"], &rows);
    let exceptions: Vec<Vec<String>> = r
        .get("exceptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let codes: Vec<String> = e
                .get("codes")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(cmd, code)| format!("cmd {cmd}: {code}"))
                .collect();
            vec![
                output::field(e, "device_id"),
                output::field(e, "outcome"),
                codes.join(", "),
            ]
        })
        .collect();
    if !exceptions.is_empty() {
        println!("exceptions:");
        output::table(&["DEVICE", "OUTCOME", "CODES"], &exceptions);
        if u(r, "exceptions_omitted") > 0 {
            println!("(+{} more not listed)", u(r, "exceptions_omitted"));
        }
    }
    let transparent = f
        .get("transparent")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if transparent > 0 {
        println!("{transparent} Transparent-mode targets were run by the server directly");
    }
}
