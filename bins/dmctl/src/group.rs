//! Device groups on a gateway (docs/gateway.md §8, GwMO-Group-001): `dmctl group create|add|
//! remove|match|delete|list|show --gateway G`. Each change is pushed to the gateway as a job;
//! `SYNC` shows whether the gateway has it (`done`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::{Client, Error};
use crate::output;

/// `dmctl group` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Define a group: explicit members and/or membership by match.
    Create {
        /// The group's name.
        name: String,
        /// Explicit members (device ids).
        members: Vec<String>,
        /// Membership by match, KEY=VALUE (man, mod, mode, protocol, kind, status, id_prefix);
        /// repeatable; `--match all` matches every device.
        #[arg(long = "match", value_name = "KEY=VALUE")]
        matches: Vec<String>,
    },
    /// Add members.
    Add {
        /// The group.
        name: String,
        /// Device ids.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Remove members.
    Remove {
        /// The group.
        name: String,
        /// Device ids.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Replace the group's match (`--match all`: every device; no --match: none).
    Match {
        /// The group.
        name: String,
        /// KEY=VALUE, repeatable.
        #[arg(long = "match", value_name = "KEY=VALUE")]
        matches: Vec<String>,
    },
    /// Delete the group (not its devices).
    Delete {
        /// The group.
        name: String,
    },
    /// The gateway's groups.
    List,
    /// One group.
    Show {
        /// The group.
        name: String,
    },
}

/// `dmctl group` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The gateway's device id.
    #[arg(long, global = true, default_value = "")]
    gateway: String,
    #[command(subcommand)]
    command: Command,
}

fn parse_match(pairs: &[String]) -> Result<Option<BTreeMap<String, Vec<String>>>, Error> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in pairs {
        if p == "all" {
            continue;
        }
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Error::usage(format!("--match {p:?}: expected KEY=VALUE or all")))?;
        m.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    Ok(Some(m))
}

fn match_text(g: &Value) -> String {
    match g.get("match") {
        Some(Value::Object(m)) if m.is_empty() => "all".to_owned(),
        Some(Value::Object(m)) => m
            .iter()
            .flat_map(|(k, vs)| {
                vs.as_array()
                    .into_iter()
                    .flatten()
                    .map(move |v| format!("{k}={}", v.as_str().unwrap_or("")))
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => "-".to_owned(),
    }
}

fn members(g: &Value) -> Vec<String> {
    g.get("members")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn print(groups: &[Value]) {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let m = members(g);
            let shown = if m.len() > 4 {
                format!(
                    "{} (+{} more)",
                    m.iter().take(4).cloned().collect::<Vec<_>>().join(","),
                    m.len() - 4
                )
            } else {
                m.join(",")
            };
            vec![
                output::field(g, "name"),
                m.len().to_string(),
                if shown.is_empty() { "-".into() } else { shown },
                match_text(g),
                output::field(g, "job_state"),
            ]
        })
        .collect();
    output::table(&["GROUP", "EXPLICIT", "IDS", "MATCH", "SYNC"], &rows);
}

/// Runs a `dmctl group` subcommand.
///
/// # Errors
/// [`Error`] from the API; a usage error without `--gateway` or with a bad `--match`.
pub fn run(client: &Client, args: &Args, json: bool) -> Result<(), Error> {
    let gw = args.gateway.as_str();
    if gw.is_empty() {
        return Err(Error::usage("--gateway G is required".to_owned()));
    }
    let one: Value = match &args.command {
        Command::Create {
            name,
            members,
            matches,
        } => {
            let body = json!({"name": name, "members": members, "match": parse_match(matches)?});
            client.post(&["gateways", gw, "groups"], &body)?
        }
        Command::Add { name, members } => {
            client.patch(&["gateways", gw, "groups", name], &json!({"add": members}))?
        }
        Command::Remove { name, members } => client.patch(
            &["gateways", gw, "groups", name],
            &json!({"remove": members}),
        )?,
        Command::Match { name, matches } => {
            let body = match parse_match(matches)? {
                Some(m) => json!({"match": m}),
                None => json!({"clear_match": true}),
            };
            client.patch(&["gateways", gw, "groups", name], &body)?
        }
        Command::Delete { name } => {
            client.delete(&["gateways", gw, "groups", name])?;
            if json {
                output::json(&json!({"deleted": name}));
            } else {
                println!("group {name} deleted on {gw}");
            }
            return Ok(());
        }
        Command::List => {
            let list: Value = client.get(&["gateways", gw, "groups"], &[])?;
            if json {
                output::json(&list);
            } else {
                let groups = list
                    .get("groups")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                print(&groups);
            }
            return Ok(());
        }
        Command::Show { name } => client.get(&["gateways", gw, "groups", name], &[])?,
    };
    if json {
        output::json(&one);
    } else {
        print(std::slice::from_ref(&one));
        if matches!(args.command, Command::Show { .. }) {
            println!("members: {}", members(&one).join(","));
        }
    }
    Ok(())
}
