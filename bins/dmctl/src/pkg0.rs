//! `dmctl pkg0`: Package 0 notifications (`application/vnd.syncml.notification`).
//!
//! `pkg0 decode` prints one JSON object (a stable interface):
//!
//! ```json
//! {"version":11,"ui_mode":"background","initiator":"server","session_id":1,
//!  "session_id_hex":"1","server_id":"dmserver","vendor":"","digest":"7b5b...",
//!  "digest_valid":true}
//! ```
//!
//! - `ui_mode`: `"not-specified"` (00), `"background"` (01), `"informative"` (10),
//!   `"user-interaction"` (11).
//! - `initiator`: `"client"` (0) or `"server"` (1).
//! - `session_id`: the 16-bit number; `session_id_hex`: the SyncHdr/SessionID text.
//! - `vendor`, `digest`: lowercase hex.
//! - `digest_valid` only when `--server-password` and `--nonce-b64` are given; the server id
//!   used is the one in the message. An invalid digest is not an error (exit status 0).
//! - With `--wsp` the input is a WSP push PDU; `wsp_tid` and, if present, `gwmo_device` are
//!   added.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use syncml::auth;
use syncml::notification::{self, Initiator, Notification, UiMode, wsp};

/// `dmctl pkg0` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Decode a notification and print it as JSON (see the crate docs for the fields).
    Decode(DecodeArgs),
    /// Encode a notification and write the binary message to standard output.
    Encode(EncodeArgs),
}

/// Arguments of `dmctl pkg0 decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Input file (`-` or absent: standard input).
    input: Option<PathBuf>,
    /// Server password, to check the digest (needs --nonce-b64).
    #[arg(long, requires = "nonce_b64")]
    server_password: Option<String>,
    /// Nonce as Base64, to check the digest (needs --server-password).
    #[arg(long, requires = "server_password")]
    nonce_b64: Option<String>,
    /// The input is a connectionless WSP push PDU carrying the notification.
    #[arg(long)]
    wsp: bool,
}

/// Arguments of `dmctl pkg0 encode`.
#[derive(Debug, clap::Args)]
pub struct EncodeArgs {
    /// Server identifier (DMAcc ServerID), at most 255 bytes.
    #[arg(long)]
    server_id: String,
    /// Server password (DMAcc SRVCRED AAuthSecret).
    #[arg(long)]
    server_password: String,
    /// Nonce as Base64 (DMAcc SRVCRED AAuthData); its raw octets are hashed.
    #[arg(long)]
    nonce_b64: String,
    /// Session id: decimal, or hex with a 0x prefix.
    #[arg(long, value_parser = parse_u16)]
    session_id: u16,
    /// UI mode: not-specified, background, informative, user-interaction (or 0..3).
    #[arg(long, default_value = "not-specified", value_parser = parse_ui_mode)]
    ui_mode: UiMode,
    /// Initiator: server or client (or 1/0).
    #[arg(long, default_value = "server", value_parser = parse_initiator)]
    initiator: Initiator,
    /// Notification version: 11 (default) or 12.
    #[arg(long, default_value_t = notification::VERSION_DEFAULT, value_parser = parse_version)]
    version: u16,
    /// Vendor-specific bytes appended after the server id, as hex.
    #[arg(long)]
    vendor_hex: Option<String>,
    /// Wrap the notification in a connectionless WSP push PDU with this transaction id.
    #[arg(long)]
    wsp_tid: Option<u8>,
    /// With --wsp-tid: add the X-Oma-GwMO header naming the End Device to relay to.
    #[arg(long, requires = "wsp_tid")]
    gwmo_device: Option<String>,
}

fn parse_u16(s: &str) -> Result<u16, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("not a 16-bit number: {e}"))
}

fn parse_version(s: &str) -> Result<u16, String> {
    match s {
        "11" => Ok(notification::VERSION_11),
        "12" => Ok(notification::VERSION_12),
        _ => Err("expected 11 or 12".to_owned()),
    }
}

fn parse_ui_mode(s: &str) -> Result<UiMode, String> {
    UiMode::parse(s).ok_or_else(|| {
        "expected not-specified, background, informative, user-interaction or 0..3".to_owned()
    })
}

fn parse_initiator(s: &str) -> Result<Initiator, String> {
    Initiator::parse(s).ok_or_else(|| "expected server, client, 1 or 0".to_owned())
}

/// Runs a `dmctl pkg0` subcommand.
pub fn run(cmd: &Command) -> anyhow::Result<()> {
    match cmd {
        Command::Decode(args) => decode(args),
        Command::Encode(args) => encode(args),
    }
}

fn decode(args: &DecodeArgs) -> anyhow::Result<()> {
    let input = crate::input::read(args.input.as_deref())?;
    let mut extra = serde_json::Map::new();
    let bytes = if args.wsp {
        let push = wsp::decode_push(&input).context("cannot decode WSP push PDU")?;
        extra.insert("wsp_tid".into(), push.tid.into());
        if let Some(device) = push.gwmo_device() {
            extra.insert("gwmo_device".into(), device.into());
        }
        if !push.is_dm_notification() {
            bail!("WSP push PDU is not a SyncML DM notification (content type 0x44, app id 0x07)");
        }
        push.body
    } else {
        input
    };
    let (n, digest) = notification::decode(&bytes).context("cannot decode Package 0")?;
    let mut obj = serde_json::Map::new();
    obj.insert("version".into(), n.version.into());
    obj.insert("ui_mode".into(), n.ui_mode.name().into());
    obj.insert("initiator".into(), n.initiator.name().into());
    obj.insert("session_id".into(), n.session_id.into());
    obj.insert("session_id_hex".into(), n.session_id_hex().into());
    obj.insert("server_id".into(), n.server_id.clone().into());
    obj.insert("vendor".into(), hex::encode(&n.vendor).into());
    obj.insert("digest".into(), hex::encode(digest).into());
    if let (Some(password), Some(nonce_b64)) = (&args.server_password, &args.nonce_b64) {
        let nonce = auth::nonce_from_b64(nonce_b64).context("--nonce-b64")?;
        let valid = notification::verify(&bytes, &n.server_id, password, &nonce);
        obj.insert("digest_valid".into(), valid.into());
    }
    obj.extend(extra);
    println!("{}", serde_json::Value::Object(obj));
    Ok(())
}

fn encode(args: &EncodeArgs) -> anyhow::Result<()> {
    let nonce = auth::nonce_from_b64(&args.nonce_b64).context("--nonce-b64")?;
    let vendor = match &args.vendor_hex {
        Some(h) => hex::decode(h.trim()).context("--vendor-hex")?,
        None => Vec::new(),
    };
    let n = Notification {
        version: args.version,
        ui_mode: args.ui_mode,
        initiator: args.initiator,
        session_id: args.session_id,
        server_id: args.server_id.clone(),
        vendor,
    };
    let mut bytes = n
        .encode(&args.server_password, &nonce)
        .context("cannot encode Package 0")?;
    if let Some(tid) = args.wsp_tid {
        let headers: Vec<wsp::Header> = args
            .gwmo_device
            .iter()
            .map(|d| wsp::Header::GwMo(d.clone()))
            .collect();
        bytes = wsp::encode_push(tid, &bytes, &headers).context("cannot encode WSP push")?;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .context("cannot write standard output")
}
