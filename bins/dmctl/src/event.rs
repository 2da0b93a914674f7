//! `dmctl events`: the alerts devices sent (Generic Alerts 1226 and other client alerts).

use serde_json::Value;

use crate::api::{Client, Error};
use crate::output;

/// Arguments of `dmctl events`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only this device's events (404 if the device is unknown).
    #[arg(long = "device", value_name = "DEVICE")]
    pub device_id: Option<String>,
    /// Only this alert code (e.g. 1226).
    #[arg(long)]
    pub alert_code: Option<u16>,
    /// Only this alert type (Meta/Type), e.g. urn:oma:at:gwmo:1.0:deviceattached.
    #[arg(long)]
    pub alert_type: Option<String>,
    /// Only events received at or after this time (Unix milliseconds).
    #[arg(long, value_name = "MS")]
    pub since: Option<i64>,
}

/// `dmctl events`.
///
/// # Errors
/// [`Error`] from the API.
pub fn list(client: &Client, args: &ListArgs, json: bool) -> Result<(), Error> {
    let mut query = Vec::new();
    if let Some(c) = args.alert_code {
        query.push(("alert_code", c.to_string()));
    }
    if let Some(t) = &args.alert_type {
        query.push(("alert_type", t.clone()));
    }
    if let Some(s) = args.since {
        query.push(("since", s.to_string()));
    }
    let events = match &args.device_id {
        Some(d) => client.get_all(&["devices", d, "events"], &query, "events")?,
        None => client.get_all(&["events"], &query, "events")?,
    };
    if json {
        output::json(&Value::Array(events));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                output::field(e, "id"),
                output::time(e.get("at").and_then(Value::as_i64)),
                output::field(e, "device_id"),
                output::field(e, "alert_code"),
                output::field(e, "alert_type"),
                output::field(e, "mark"),
                output::field(e, "source"),
                output::data(e.get("data")).replace('\n', " "),
            ]
        })
        .collect();
    output::table(
        &[
            "ID", "AT", "DEVICE", "ALERT", "TYPE", "MARK", "SOURCE", "DATA",
        ],
        &rows,
    );
    Ok(())
}
