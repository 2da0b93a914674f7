//! Gateways: `dmctl gateway list` and `dmctl gateway inventory G [--live]`.
//!
//! `inventory` prints what the server stores of gateway G (seed 001 X.3): the counts of the
//! devices behind it (a summary in the shape of GwMO-DI-002) and those devices with their
//! mode and attached state. With `--live` it also queues a job on G reading its own inventory,
//! `Get ./GwMO/DeviceInventory/Summary?list=StructData` and
//! `Get ./GwMO/DeviceInventory/Devices?list=StructData` (GwMO-DI-001/002), notifies G, waits
//! and prints G's answer.

use serde_json::{Value, json};

use crate::api::{Client, Error};
use crate::job::{self, WaitArgs};
use crate::{device, output};

/// `dmctl gateway` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// List the gateways with counts of the devices behind each.
    List,
    /// A gateway's inventory as the server knows it (and, with --live, as the gateway has it).
    Inventory {
        /// The gateway's device id.
        gateway_id: String,
        /// Also read the gateway's own DeviceInventory (a job on the gateway: it is notified
        /// and the answer is waited for).
        #[arg(long)]
        live: bool,
        /// With --live: give up after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        timeout: u64,
    },
}

const COUNTS: [&str; 7] = [
    "total",
    "attached",
    "detached",
    "proxy",
    "transparent",
    "adaptation",
    "gateways",
];

fn count(behind: &Value, key: &str) -> String {
    behind
        .get(key)
        .and_then(Value::as_u64)
        .map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// Runs a `dmctl gateway` subcommand.
///
/// # Errors
/// [`Error`] from the API; with `--live` also [`Error::Timeout`] and [`Error::JobEnded`].
pub fn run(client: &Client, cmd: &Command, json: bool) -> Result<(), Error> {
    match cmd {
        Command::List => {
            let gateways = client.get_all(&["gateways"], &[], "gateways")?;
            if json {
                output::json(&Value::Array(gateways));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = gateways
                .iter()
                .map(|g| {
                    let behind = g.get("behind").cloned().unwrap_or(Value::Null);
                    let mut row = vec![
                        output::field(g, "device_id"),
                        output::time(g.get("last_contact_at").and_then(Value::as_i64)),
                    ];
                    row.extend(COUNTS.iter().map(|k| count(&behind, k)));
                    row
                })
                .collect();
            let mut header = vec!["GATEWAY", "LAST CONTACT"];
            header.extend(["DEVICES", "ATTACHED", "DETACHED", "PROXY", "TRANSPARENT"]);
            header.extend(["ADAPTATION", "GATEWAYS"]);
            output::table(&header, &rows);
            Ok(())
        }
        Command::Inventory {
            gateway_id,
            live,
            timeout,
        } => inventory(client, gateway_id, *live, *timeout, json),
    }
}

fn inventory(
    client: &Client,
    gateway_id: &str,
    live: bool,
    timeout: u64,
    json: bool,
) -> Result<(), Error> {
    let gateway: Value = client.get(&["gateways", gateway_id], &[])?;
    let devices = client.get_all(&["gateways", gateway_id, "devices"], &[], "devices")?;
    if json && !live {
        output::json(&json!({"gateway": gateway, "devices": devices}));
        return Ok(());
    }
    if !json {
        let behind = gateway.get("behind").cloned().unwrap_or(Value::Null);
        println!(
            "gateway {} (last contact {})",
            output::field(&gateway, "device_id"),
            output::time(gateway.get("last_contact_at").and_then(Value::as_i64))
        );
        let summary: Vec<String> = COUNTS
            .iter()
            .map(|k| format!("{k} {}", count(&behind, k)))
            .collect();
        println!("summary (as the server knows it): {}", summary.join(", "));
        device::print_devices(&devices);
    }
    if live {
        if !json {
            println!("live inventory (the gateway's DeviceInventory):");
        }
        let commands = vec![json!({"kind": "get", "items": [
            {"path": "./GwMO/DeviceInventory/Summary?list=StructData"},
            {"path": "./GwMO/DeviceInventory/Devices?list=StructData"}
        ]})];
        let wait = WaitArgs {
            wait: true,
            timeout,
        };
        job::submit(client, gateway_id, commands, &wait, json)?;
    }
    Ok(())
}
