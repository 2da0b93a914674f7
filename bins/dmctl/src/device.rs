//! Device accounts and what the server knows of each device: `dmctl devices`,
//! `dmctl device add|remove|list|show`, `dmctl notify`, `dmctl tree`. A device behind a
//! gateway shows its gateway and mode; a registry-only one (learned from a gateway's report,
//! no account) shows auth `none`.

use serde_json::{Map, Value, json};

use crate::api::{Client, Error};
use crate::output;

/// Filters of `dmctl devices` / `dmctl device list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only device ids starting with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only devices whose DevInfo/Man is this.
    #[arg(long)]
    pub manufacturer: Option<String>,
    /// Only devices whose DevInfo/Mod is this.
    #[arg(long)]
    pub model: Option<String>,
    /// Only devices of this kind.
    #[arg(long, value_parser = ["device", "gateway"])]
    pub kind: Option<String>,
    /// Only devices currently behind this gateway.
    #[arg(long, value_name = "GATEWAY")]
    pub gateway: Option<String>,
}

/// How a peer authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthType {
    /// `syncml:auth-basic`.
    Basic,
    /// `syncml:auth-md5`.
    Md5,
    /// `syncml:auth-MAC` (HMAC-MD5).
    Hmac,
    /// No authentication (server side only).
    None,
}

impl AuthType {
    fn as_str(self) -> &'static str {
        match self {
            AuthType::Basic => "basic",
            AuthType::Md5 => "md5",
            AuthType::Hmac => "hmac",
            AuthType::None => "none",
        }
    }
}

/// Arguments of `dmctl device add`.
#[derive(Debug, Clone, clap::Args)]
pub struct AddArgs {
    /// The device's DevId (SyncHdr/Source/LocURI), e.g. IMEI:493005100592800.
    pub device_id: String,
    /// How the device authenticates to the server.
    #[arg(long, value_enum, default_value = "md5")]
    pub auth_type: DeviceAuthType,
    /// The name the device authenticates with (default: the device id).
    #[arg(long)]
    pub auth_name: Option<String>,
    /// The device's password.
    #[arg(long)]
    pub auth_secret: String,
    /// How the server authenticates to the device.
    #[arg(long, value_enum, default_value = "md5")]
    pub server_auth_type: AuthType,
    /// The server's password toward this device (default: the server's configured password,
    /// else the device's).
    #[arg(long)]
    pub server_secret: Option<String>,
    /// Package 0 address: udp:HOST[:PORT] or http(s)://...
    #[arg(long, value_name = "ADDRESS")]
    pub notify: Option<String>,
    /// What it is (the server also learns that a device is a gateway from its first
    /// inventory alert).
    #[arg(long, value_parser = ["device", "gateway"])]
    pub kind: Option<String>,
}

/// How a device may authenticate (no `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceAuthType {
    /// `syncml:auth-basic`.
    Basic,
    /// `syncml:auth-md5`.
    Md5,
    /// `syncml:auth-MAC` (HMAC-MD5).
    Hmac,
}

impl DeviceAuthType {
    fn as_str(self) -> &'static str {
        match self {
            DeviceAuthType::Basic => "basic",
            DeviceAuthType::Md5 => "md5",
            DeviceAuthType::Hmac => "hmac",
        }
    }
}

/// `dmctl device` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Provision a device account.
    Add(AddArgs),
    /// Delete a device account with its registry entry, tree values, jobs and events.
    Remove {
        /// Device id.
        device_id: String,
    },
    /// List devices (as `dmctl devices`).
    List(ListArgs),
    /// Show one device: account, gateway link and its history, last contact, DevInfo.
    Show {
        /// Device id.
        device_id: String,
    },
}

/// `dmctl devices` / `dmctl device list`.
///
/// # Errors
/// [`Error`] from the API.
pub fn list(client: &Client, args: &ListArgs, json: bool) -> Result<(), Error> {
    let mut query = Vec::new();
    for (k, v) in [
        ("prefix", &args.prefix),
        ("manufacturer", &args.manufacturer),
        ("model", &args.model),
        ("kind", &args.kind),
        ("gateway", &args.gateway),
    ] {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    let devices = client.get_all(&["devices"], &query, "devices")?;
    if json {
        output::json(&Value::Array(devices));
        return Ok(());
    }
    print_devices(&devices);
    Ok(())
}

/// The mode column: `proxy`, `transparent (detached)`, ... ; `-` for a device reached directly.
fn mode(link: &Value) -> String {
    match link.get("mode").and_then(Value::as_str) {
        None => "-".to_owned(),
        Some(m) if link.get("attached") == Some(&Value::Bool(false)) => format!("{m} (detached)"),
        Some(m) => m.to_owned(),
    }
}

/// The device table of `dmctl devices` (also `dmctl gateway inventory`): a registry-only
/// device (known from its gateway's report, no account) shows auth `none` and no auth name.
pub fn print_devices(devices: &[Value]) {
    let rows: Vec<Vec<String>> = devices
        .iter()
        .map(|d| {
            let devinfo = d.get("devinfo").cloned().unwrap_or(Value::Null);
            let link = d.get("link").cloned().unwrap_or(Value::Null);
            let auth_name = match output::field(d, "auth_name") {
                n if n.is_empty() => "-".to_owned(),
                n => n,
            };
            vec![
                output::field(d, "device_id"),
                output::field(d, "kind"),
                output::field(&link, "gateway_id"),
                mode(&link),
                output::field(d, "auth_type"),
                auth_name,
                output::field(&devinfo, "Man"),
                output::field(&devinfo, "Mod"),
                output::time(d.get("last_contact_at").and_then(Value::as_i64)),
                output::field(d, "last_address"),
            ]
        })
        .collect();
    output::table(
        &[
            "DEVICE",
            "KIND",
            "GATEWAY",
            "MODE",
            "AUTH",
            "AUTH NAME",
            "MAN",
            "MOD",
            "LAST CONTACT",
            "ADDRESS",
        ],
        &rows,
    );
}

/// Runs a `dmctl device` subcommand.
///
/// # Errors
/// [`Error`] from the API.
pub fn run(client: &Client, cmd: &Command, json: bool) -> Result<(), Error> {
    match cmd {
        Command::Add(args) => add(client, args, json),
        Command::Remove { device_id } => {
            client.delete(&["devices", device_id])?;
            if json {
                output::json(&json!({"device_id": device_id, "removed": true}));
            } else {
                println!("device {device_id} removed");
            }
            Ok(())
        }
        Command::List(args) => list(client, args, json),
        Command::Show { device_id } => {
            let d: Value = client.get(&["devices", device_id], &[])?;
            if json {
                output::json(&d);
            } else {
                let links = client.get_all(&["devices", device_id, "links"], &[], "links")?;
                show(&d, &links);
            }
            Ok(())
        }
    }
}

fn add(client: &Client, args: &AddArgs, json: bool) -> Result<(), Error> {
    let mut body = Map::new();
    body.insert("device_id".into(), json!(args.device_id));
    body.insert("auth_type".into(), json!(args.auth_type.as_str()));
    if let Some(n) = &args.auth_name {
        body.insert("auth_name".into(), json!(n));
    }
    body.insert("auth_secret".into(), json!(args.auth_secret));
    body.insert(
        "server_auth_type".into(),
        json!(args.server_auth_type.as_str()),
    );
    if let Some(s) = &args.server_secret {
        body.insert("server_secret".into(), json!(s));
    }
    if let Some(n) = &args.notify {
        body.insert("notify".into(), json!(n));
    }
    if let Some(k) = &args.kind {
        body.insert("kind".into(), json!(k));
    }
    let d: Value = client.post(&["devices"], &Value::Object(body))?;
    if json {
        output::json(&d);
    } else {
        println!(
            "device {} added (auth {} as {})",
            output::field(&d, "device_id"),
            output::field(&d, "auth_type"),
            output::field(&d, "auth_name")
        );
    }
    Ok(())
}

/// One link as a line: `GW:1 proxy attached since ... [until ...]`.
fn link_line(l: &Value) -> String {
    let mut text = format!(
        "{} {} {} since {}",
        output::field(l, "gateway_id"),
        output::field(l, "mode"),
        if l.get("attached") == Some(&Value::Bool(false)) {
            "detached"
        } else {
            "attached"
        },
        output::time(l.get("since").and_then(Value::as_i64))
    );
    if let Some(until) = l.get("until").and_then(Value::as_i64) {
        text.push_str(&format!(" until {}", output::time(Some(until))));
    }
    if let Some(a) = l.get("addresses").and_then(Value::as_array)
        && !a.is_empty()
    {
        let addrs: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
        text.push_str(&format!(" at {}", addrs.join(", ")));
    }
    text
}

fn show(d: &Value, links: &[Value]) {
    let notify = d
        .get("notify")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into());
    let auth = if d.get("registry_only") == Some(&Value::Bool(true)) {
        "none (registry-only: known from its gateway's report, reached through it)".to_owned()
    } else {
        format!(
            "{} as {}",
            output::field(d, "auth_type"),
            output::field(d, "auth_name")
        )
    };
    let link = match d.get("link") {
        Some(l) if l.is_object() => link_line(l),
        _ => "- (reached directly)".to_owned(),
    };
    let mut rows = vec![
        ("device", output::field(d, "device_id")),
        ("kind", output::field(d, "kind")),
        ("auth", auth),
        ("gateway", link),
        ("server auth", output::field(d, "server_auth_type")),
        ("notify", notify),
        (
            "created",
            output::time(d.get("created_at").and_then(Value::as_i64)),
        ),
        (
            "last contact",
            output::time(d.get("last_contact_at").and_then(Value::as_i64)),
        ),
        ("last address", output::field(d, "last_address")),
    ];
    let devinfo: Vec<(String, String)> = d
        .get("devinfo")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (format!("DevInfo/{k}"), output::data(Some(v))))
                .collect()
        })
        .unwrap_or_default();
    let width = rows
        .iter()
        .map(|(k, _)| k.len())
        .chain(devinfo.iter().map(|(k, _)| k.len()))
        .max()
        .unwrap_or(0);
    for (k, v) in rows.drain(..) {
        println!("{k:<width$}  {v}");
    }
    for (k, v) in devinfo {
        println!("{k:<width$}  {v}");
    }
    if !links.is_empty() {
        println!("link history:");
        for l in links {
            println!("  {}", link_line(l));
        }
    }
}

/// Arguments of `dmctl notify`.
#[derive(Debug, Clone, clap::Args)]
pub struct NotifyArgs {
    /// Device id.
    pub device_id: String,
    /// UI mode of the notification.
    #[arg(long, value_parser = ["not-specified", "background", "informative", "user-interaction"])]
    pub ui_mode: Option<String>,
}

/// Sends a Package 0 to the device; the server's answer (`session_id`, `address`).
///
/// # Errors
/// [`Error`] from the API (409 without a notification address, 502 delivery failed).
pub fn notify(client: &Client, device_id: &str, ui_mode: Option<&str>) -> Result<Value, Error> {
    let body = match ui_mode {
        Some(m) => json!({ "ui_mode": m }),
        None => json!({}),
    };
    client.post(&["devices", device_id, "notify"], &body)
}

/// `dmctl notify`.
///
/// # Errors
/// As [`notify`].
pub fn run_notify(client: &Client, args: &NotifyArgs, json: bool) -> Result<(), Error> {
    let answer = notify(client, &args.device_id, args.ui_mode.as_deref())?;
    if json {
        output::json(&answer);
    } else {
        let via = match answer.get("gateway").and_then(Value::as_str) {
            Some(g) => format!(" via gateway {g}"),
            None => String::new(),
        };
        println!(
            "notified {} at {}{via} ({}, session {})",
            args.device_id,
            output::field(&answer, "address"),
            output::field(&answer, "route"),
            output::field(&answer, "session_id")
        );
    }
    Ok(())
}

/// Arguments of `dmctl tree`.
#[derive(Debug, Clone, clap::Args)]
pub struct TreeArgs {
    /// Device id.
    pub device_id: String,
    /// Only nodes at and below this path, e.g. ./DevInfo.
    #[arg(long)]
    pub prefix: Option<String>,
}

/// `dmctl tree`: the last known values of the device's nodes.
///
/// # Errors
/// [`Error`] from the API.
pub fn tree(client: &Client, args: &TreeArgs, json: bool) -> Result<(), Error> {
    let query: Vec<(&str, String)> = args.prefix.iter().map(|p| ("prefix", p.clone())).collect();
    let answer: Value = client.get(&["devices", &args.device_id, "tree"], &query)?;
    let values = answer
        .get("values")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if json {
        output::json(&Value::Array(values));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = values
        .iter()
        .map(|v| {
            vec![
                output::field(v, "path"),
                output::field(v, "format"),
                output::time(v.get("updated_at").and_then(Value::as_i64)),
                output::data(v.get("data")),
            ]
        })
        .collect();
    output::table(&["PATH", "FORMAT", "UPDATED", "DATA"], &rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MODE column of `dmctl devices` and the gateway line of `dmctl device show`
    /// (seed 001 X.3: the gateway and mode the server stores per device).
    #[test]
    fn gateway_columns_and_link_lines() {
        assert_eq!(mode(&Value::Null), "-");
        assert_eq!(mode(&json!({"mode": "proxy", "attached": true})), "proxy");
        assert_eq!(
            mode(&json!({"mode": "transparent", "attached": false})),
            "transparent (detached)"
        );
        let line = link_line(&json!({
            "gateway_id": "GW:1", "mode": "proxy", "attached": false, "since": 0,
            "until": 86_400_000, "addresses": ["udp:10.0.0.2:2948"]
        }));
        assert_eq!(
            line,
            "GW:1 proxy detached since 1970-01-01T00:00:00Z until 1970-01-02T00:00:00Z at udp:10.0.0.2:2948"
        );
    }
}
