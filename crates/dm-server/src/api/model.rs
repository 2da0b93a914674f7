//! The JSON shapes of the REST API (the contract `dmctl` relies on; documented in docs/api.md).
//!
//! Times are Unix milliseconds (UTC). Secrets go in, never come out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a peer authenticates (`auth_type`, `server_auth_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// `syncml:auth-basic`.
    Basic,
    /// `syncml:auth-md5` (the default).
    Md5,
    /// `syncml:auth-MAC` (the `x-syncml-hmac` header).
    Hmac,
    /// No authentication (only valid for `server_auth_type`).
    None,
}

/// What a device is (`kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// An End Device (the default).
    #[default]
    Device,
    /// A DM gateway: it reports the devices behind it and carries their Proxy-mode jobs.
    Gateway,
}

impl From<dm_store::DeviceKind> for DeviceKind {
    fn from(k: dm_store::DeviceKind) -> Self {
        match k {
            dm_store::DeviceKind::Device => DeviceKind::Device,
            dm_store::DeviceKind::Gateway => DeviceKind::Gateway,
        }
    }
}

impl From<DeviceKind> for dm_store::DeviceKind {
    fn from(k: DeviceKind) -> Self {
        match k {
            DeviceKind::Device => dm_store::DeviceKind::Device,
            DeviceKind::Gateway => dm_store::DeviceKind::Gateway,
        }
    }
}

/// How a gateway manages a device behind it (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// Through the gateway's Fanout MO, in the gateway's sessions (GwMO-PMode-001).
    Proxy,
    /// The device has its own sessions; the gateway relays its notifications (GwMO-TMode-001).
    Transparent,
    /// The gateway speaks another protocol to it (routed like proxy).
    Adaptation,
}

impl From<dm_store::LinkMode> for LinkMode {
    fn from(m: dm_store::LinkMode) -> Self {
        match m {
            dm_store::LinkMode::Proxy => LinkMode::Proxy,
            dm_store::LinkMode::Transparent => LinkMode::Transparent,
            dm_store::LinkMode::Adaptation => LinkMode::Adaptation,
        }
    }
}

/// A device's link to a gateway (seed 001 X.3): current (`until` null) or past.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The gateway.
    pub gateway_id: String,
    /// How the gateway manages the device.
    pub mode: LinkMode,
    /// As last reported: attached or detached (GwMO-DI-003).
    pub attached: bool,
    /// When the link opened (the gateway first reported the device in this mode).
    pub since: i64,
    /// When it closed (the device moved to another gateway or mode); `null`: current.
    pub until: Option<i64>,
    /// Where the gateway reaches the device, as reported (`udp:HOST:PORT`, `http://...`).
    pub addresses: Vec<String>,
    /// Last report.
    pub updated_at: i64,
}

impl From<dm_store::DeviceLink> for Link {
    fn from(l: dm_store::DeviceLink) -> Self {
        Link {
            gateway_id: l.gateway_id,
            mode: l.mode.into(),
            attached: l.attached,
            since: l.since,
            until: l.until,
            addresses: l.addresses,
            updated_at: l.updated_at,
        }
    }
}

/// `GET /api/v1/devices/{id}/links`: the device's link history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkList {
    /// The links, oldest first.
    pub links: Vec<Link>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next_after: Option<i64>,
}

/// Counts over the devices currently behind a gateway, as the server knows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayCounts {
    /// Devices behind it.
    pub total: u64,
    /// Attached.
    pub attached: u64,
    /// Detached.
    pub detached: u64,
    /// In Proxy mode.
    pub proxy: u64,
    /// In Transparent mode.
    pub transparent: u64,
    /// In Adaptation mode.
    pub adaptation: u64,
    /// Gateways behind it (child gateways).
    pub gateways: u64,
}

impl From<dm_store::LinkCounts> for GatewayCounts {
    fn from(c: dm_store::LinkCounts) -> Self {
        GatewayCounts {
            total: c.total,
            attached: c.attached,
            detached: c.total.saturating_sub(c.attached),
            proxy: c.proxy,
            transparent: c.transparent,
            adaptation: c.adaptation,
            gateways: c.gateways,
        }
    }
}

/// A gateway (`GET /api/v1/gateways`, `GET /api/v1/gateways/{id}`): the device view and the
/// counts of the devices behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    /// The gateway as a device.
    #[serde(flatten)]
    pub device: Device,
    /// The devices behind it, counted.
    pub behind: GatewayCounts,
}

/// `GET /api/v1/gateways`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayList {
    /// The gateways of this page, ordered by `device_id`.
    pub gateways: Vec<Gateway>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next_after: Option<String>,
}

/// `POST /api/v1/devices`: a new device account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// The device's `DevId` (`SyncHdr/Source/LocURI`), e.g. `IMEI:493005100592800`.
    pub device_id: String,
    /// How the device authenticates to the server (default `md5`).
    #[serde(default = "default_auth")]
    pub auth_type: AuthType,
    /// The name the device authenticates with (`LocName`); defaults to `device_id`.
    #[serde(default)]
    pub auth_name: Option<String>,
    /// The device's password.
    pub auth_secret: String,
    /// How the server authenticates to the device (default `md5`).
    #[serde(default = "default_auth")]
    pub server_auth_type: AuthType,
    /// The server's password toward this device; defaults to the configured server password,
    /// else to `auth_secret`.
    #[serde(default)]
    pub server_secret: Option<String>,
    /// Notification address: `udp:HOST[:PORT]` or `http(s)://...`.
    #[serde(default)]
    pub notify: Option<String>,
    /// `device` (default) or `gateway` (the server also learns it from the gateway's first
    /// inventory alert).
    #[serde(default)]
    pub kind: DeviceKind,
}

/// `PATCH /api/v1/devices/{id}`: changes to a device account; absent fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceUpdate {
    /// New auth type of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<AuthType>,
    /// New auth name (needs `auth_secret` too: the stored verifier covers the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_name: Option<String>,
    /// New device password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<String>,
    /// New auth type of the server toward the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_auth_type: Option<AuthType>,
    /// New server password toward the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_secret: Option<String>,
    /// New notification addresses, replacing the old ones (`[]` removes them all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Vec<String>>,
    /// Enables or disables the account (a disabled device is refused at authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `device` or `gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DeviceKind>,
}

fn default_auth() -> AuthType {
    AuthType::Md5
}

/// A device as the API shows it (`GET /api/v1/devices/{id}` and list items).
///
/// A *registry-only* device (`registry_only` true) is one the server learned from a gateway's
/// `deviceattached` report and holds no account for: `auth_type` is `none`, `auth_name` empty,
/// it cannot open a DM session with the server and is reached through its gateway (`link`).
/// `POST /api/v1/devices` with its id gives it an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The device's `DevId`.
    pub device_id: String,
    /// `device` or `gateway`.
    pub kind: DeviceKind,
    /// Known from a gateway's report only (no credentials).
    pub registry_only: bool,
    /// Its current link to a gateway; `null`: reached directly.
    pub link: Option<Link>,
    /// How the device authenticates.
    pub auth_type: AuthType,
    /// The name it authenticates with.
    pub auth_name: String,
    /// How the server authenticates to it.
    pub server_auth_type: AuthType,
    /// Notification addresses, tried in order.
    pub notify: Vec<String>,
    /// When the account was created.
    pub created_at: i64,
    /// Last DM session contact, if any.
    pub last_contact_at: Option<i64>,
    /// Peer address (`IP:PORT`) of the last contact.
    pub last_address: Option<String>,
    /// The DevInfo leaves the device sent in its last package 1 (URI -> value).
    pub devinfo: BTreeMap<String, String>,
}

/// `GET /api/v1/devices`: one page of devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// The devices of this page, ordered by `device_id`.
    pub devices: Vec<Device>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next_after: Option<String>,
}

/// One last known tree value (`GET /api/v1/devices/{id}/tree`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeValue {
    /// `path`, `format`, `type` and `data` (a string when UTF-8, else `{"b64": "..."}`).
    #[serde(flatten)]
    pub value: dm_store::ResultItem,
    /// When the value was received.
    pub updated_at: i64,
}

/// `GET /api/v1/devices/{id}/tree`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeValues {
    /// The values, ordered by path.
    pub values: Vec<TreeValue>,
}

/// `POST /api/v1/jobs`: queue commands for a device's next session.
///
/// Commands use the store's JSON shape ([`dm_store::JobCommand`]):
/// `{"kind":"get","items":[{"path":"./DevInfo/Mod"}]}`,
/// `{"kind":"replace","items":[{"path":"./X","value":"1","format":"int","type":"text/plain"}]}`,
/// `{"kind":"copy","items":[{"path":"./Src","target":"./Dst"}]}`,
/// `{"kind":"atomic","children":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// The target device.
    pub device_id: String,
    /// The commands, in order (at least one).
    pub commands: Vec<dm_store::JobCommand>,
}

/// Life cycle of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for the device's next session.
    Queued,
    /// Sent in a session; no answer yet (re-sent in the next session if that one dies).
    Sent,
    /// Every command has a status (some may be 4xx/5xx: see `results`).
    Done,
    /// The session failed in a way that ends the job.
    Failed,
    /// Cancelled by an operator before it was answered.
    Cancelled,
}

impl From<dm_store::JobState> for JobState {
    fn from(s: dm_store::JobState) -> Self {
        match s {
            dm_store::JobState::Queued => JobState::Queued,
            dm_store::JobState::Sent => JobState::Sent,
            dm_store::JobState::Done => JobState::Done,
            dm_store::JobState::Failed => JobState::Failed,
            dm_store::JobState::Cancelled => JobState::Cancelled,
        }
    }
}

impl From<JobState> for dm_store::JobState {
    fn from(s: JobState) -> Self {
        match s {
            JobState::Queued => dm_store::JobState::Queued,
            JobState::Sent => dm_store::JobState::Sent,
            JobState::Done => dm_store::JobState::Done,
            JobState::Failed => dm_store::JobState::Failed,
            JobState::Cancelled => dm_store::JobState::Cancelled,
        }
    }
}

/// The outcome of one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// Position of the command in the job, containers and their children counted in pre-order
    /// (the first top-level command is 0).
    pub index: u32,
    /// The `CmdID` it was sent with, if known.
    pub cmd_id: Option<u32>,
    /// The device's status code (e.g. 200, 404, 216); 0 when it sent none (see `error`).
    pub status: u16,
    /// The `Results` items (Get only). `data` is a string when UTF-8, else `{"b64": "..."}`.
    pub items: Vec<dm_store::ResultItem>,
    /// When the answer was recorded.
    pub completed_at: i64,
    /// Why there is no status: `no status from device` when the job was sent the allowed
    /// number of times (`max_job_attempts`) and the device never answered this command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A job (`GET /api/v1/jobs/{id}`, list items, `POST` answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Job id.
    pub id: i64,
    /// The target device.
    pub device_id: String,
    /// State.
    pub state: JobState,
    /// The commands as queued.
    pub commands: Vec<dm_store::JobCommand>,
    /// How many times it was sent.
    pub attempts: u32,
    /// The gateway that carried it as a Fanout operation (the device is behind it in Proxy
    /// mode); `null` when it went to the device itself.
    pub via_gateway: Option<String>,
    /// Set when that gateway accepted the operation and will report its outcome later (seed
    /// 001 Y'): the job stays `sent` until then.
    pub awaiting_since: Option<i64>,
    /// Per-command outcomes recorded so far, by index.
    pub results: Vec<CommandOutcome>,
    /// When it was queued.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// When it reached done, failed or cancelled.
    pub completed_at: Option<i64>,
}

/// `GET /api/v1/jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobList {
    /// The jobs, in id order.
    pub jobs: Vec<Job>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next_after: Option<i64>,
}

/// A stored event: a Generic Alert (1226) or another client alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Event id (increasing).
    pub id: i64,
    /// The device.
    pub device_id: String,
    /// When it was received.
    pub at: i64,
    /// The alert code (1226 for a Generic Alert).
    pub alert_code: u16,
    /// `Meta/Type` (the alert type, e.g. `urn:oma:at:gwmo:1.0:deviceattached`).
    pub alert_type: Option<String>,
    /// `Meta/Format`.
    pub format: Option<String>,
    /// `Meta/Mark` (severity).
    pub mark: Option<String>,
    /// `Source/LocURI`.
    pub source: Option<String>,
    /// `Correlator`.
    pub correlator: Option<String>,
    /// The data as text.
    pub data: Option<String>,
}

/// `GET /api/v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventList {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next_after: Option<i64>,
}

/// `POST /api/v1/devices/{id}/notify` request body (optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyRequest {
    /// `background` (default), `informative`, `user-interaction` or `not-specified`.
    #[serde(default)]
    pub ui_mode: Option<String>,
}

/// `POST /api/v1/devices/{id}/notify` answer (202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyResponse {
    /// The SessionID the notified party will use (uppercase hex, no leading zeros): the
    /// device's, or its gateway's for a Proxy-mode device.
    pub session_id: String,
    /// Where it was sent: a notification address, or `long-poll`.
    pub address: String,
    /// `direct`, `proxy` (the gateway was notified: the job goes in its session),
    /// `transparent` (the gateway relays the device's own notification) or
    /// `transparent-direct` (a public address the gateway reported).
    pub route: String,
    /// The gateway it went through, if any.
    pub gateway: Option<String>,
}

/// Every error answer: `{"error": "..."}` with a 4xx/5xx HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong.
    pub error: String,
}

/// Longest `device_id` accepted (bytes of UTF-8). Device ids are printable: no control
/// characters (C0, DEL, C1), not empty.
pub const MAX_DEVICE_ID_BYTES: usize = 256;
/// Longest `auth_name` accepted (bytes); printable like a device id.
pub const MAX_AUTH_NAME_BYTES: usize = 256;
/// Longest `auth_secret` / `server_secret` accepted (bytes).
pub const MAX_SECRET_BYTES: usize = 1024;
/// Longest notification address accepted (bytes).
pub const MAX_NOTIFY_ADDRESS_BYTES: usize = 1024;
/// Most notification addresses one device may have.
pub const MAX_NOTIFY_ADDRESSES: usize = 8;
/// Longest node path (`path`, `target`, tree `prefix`) accepted (bytes); printable.
pub const MAX_NODE_PATH_BYTES: usize = 1024;
/// Longest `format` / `type` of a job item, and of the text filters of list queries
/// (`prefix`, `manufacturer`, `model`, `alert_type`, `after`), in bytes; printable.
pub const MAX_SHORT_TEXT_BYTES: usize = 256;

// ----- groups and fanouts (docs/gateway.md §8, §9) -----

/// Membership by match (`Groups/<g>/Match`): key → accepted values. Keys: `man`, `mod`,
/// `mode`, `protocol`, `kind`, `status`, `id_prefix`; different keys must all hold, a key holds
/// if any of its values does; `{}` matches every device.
pub type GroupMatch = BTreeMap<String, Vec<String>>;

/// `POST /api/v1/gateways/{id}/groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// The group's name (letters, digits, `.`, `_`, `-`; at most 64 bytes).
    pub name: String,
    /// Explicit members (device ids).
    #[serde(default)]
    pub members: Vec<String>,
    /// Membership by match.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_rule: Option<GroupMatch>,
}

/// `PATCH /api/v1/gateways/{id}/groups/{name}`: absent fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    /// Members to add.
    #[serde(default)]
    pub add: Vec<String>,
    /// Members to remove.
    #[serde(default)]
    pub remove: Vec<String>,
    /// A new match (`{}`: every device).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_rule: Option<GroupMatch>,
    /// True: no membership by match any more.
    #[serde(default)]
    pub clear_match: bool,
}

/// A group as the server defined it on its gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The gateway.
    pub gateway_id: String,
    /// Its name.
    pub name: String,
    /// Explicit members.
    pub members: Vec<String>,
    /// Membership by match (null: none).
    #[serde(rename = "match")]
    pub match_rule: Option<GroupMatch>,
    /// The job that pushed the last change to the gateway.
    pub job_id: Option<i64>,
    /// That job's state (`done`: the gateway has the change).
    pub job_state: Option<JobState>,
    /// Last change.
    pub updated_at: i64,
}

/// `GET /api/v1/gateways/{id}/groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupList {
    /// By name.
    pub groups: Vec<Group>,
}

/// `POST /api/v1/gateways/{id}/fanouts`: the group or targets, and the commands (URIs in the
/// End Devices' own trees).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFanout {
    /// A group of the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Explicit targets (with the group's members if both are given).
    #[serde(default)]
    pub targets: Vec<String>,
    /// The commands, as a job's.
    pub commands: Vec<dm_store::JobCommand>,
    /// The fanout's deadline from its start (default 300 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Devices in flight at once on the gateway (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// Per-device timeout of one attempt (default 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_secs: Option<u64>,
    /// Attempts per device (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

/// Life cycle of a fanout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FanoutState {
    /// Its job waits for the gateway's session.
    Queued,
    /// The gateway runs it.
    Running,
    /// Every target has its outcome: see `result`.
    Done,
    /// The gateway refused it: see `error`.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
}

impl From<dm_store::FanoutState> for FanoutState {
    fn from(s: dm_store::FanoutState) -> Self {
        match s {
            dm_store::FanoutState::Queued => FanoutState::Queued,
            dm_store::FanoutState::Running => FanoutState::Running,
            dm_store::FanoutState::Done => FanoutState::Done,
            dm_store::FanoutState::Failed => FanoutState::Failed,
            dm_store::FanoutState::Cancelled => FanoutState::Cancelled,
        }
    }
}

/// Targets by phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FanoutProgress {
    /// Targets (0 until the gateway reported).
    pub total: u64,
    /// Targets with an outcome.
    pub finished: u64,
}

/// One result value and how many devices returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueCount {
    /// The value (text).
    pub value: String,
    /// Devices.
    pub count: u64,
}

/// The counts of one command of the fanout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandCounts {
    /// Its `CmdID` in the fanout's command fragment (1.. in pre-order).
    pub cmd_id: String,
    /// Its kind (`get`, `replace`, ...), when known.
    pub kind: Option<String>,
    /// Its first path, when known.
    pub path: Option<String>,
    /// Status code → devices.
    pub statuses: BTreeMap<String, u64>,
    /// Distinct result values, most frequent first.
    pub values: Vec<ValueCount>,
    /// Result values not counted by value (too many distinct ones, too long, binary).
    pub other_values: u64,
}

/// A device whose answer is not the common one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutException {
    /// The device.
    pub device_id: String,
    /// `done`, `timeout`, `failed`, `unknown`, `cancelled`.
    pub outcome: String,
    /// Its non-2xx statuses: `CmdID` → code.
    pub codes: BTreeMap<String, u16>,
}

/// The consolidated response (GwMO-FORA-002).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutResult {
    /// Targets.
    pub targets: u64,
    /// Answered.
    pub answered: u64,
    /// Timed out (504).
    pub timed_out: u64,
    /// Failed after every attempt (502).
    pub failed: u64,
    /// Not in the gateway's inventory (404).
    pub unknown: u64,
    /// Cancelled (214).
    pub cancelled: u64,
    /// Per command.
    pub commands: Vec<CommandCounts>,
    /// The exceptions (at most 20 per part).
    pub exceptions: Vec<FanoutException>,
    /// Exceptions beyond those listed.
    pub exceptions_omitted: u64,
}

/// A fanout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fanout {
    /// Its id.
    pub id: i64,
    /// The gateway that runs it.
    pub gateway_id: String,
    /// The gateway's operation (`./GwMO/Fanout/Operations/<operation>`).
    pub operation: String,
    /// Where it is.
    pub state: FanoutState,
    /// The job that carries it to the gateway.
    pub job_id: Option<i64>,
    /// The group, if any.
    pub group: Option<String>,
    /// Explicit targets.
    pub targets: Vec<String>,
    /// The commands.
    pub commands: Vec<dm_store::JobCommand>,
    /// Progress.
    pub progress: FanoutProgress,
    /// The consolidated response: partial while running, final once done.
    pub result: Option<FanoutResult>,
    /// Targets in Transparent mode, run by the server itself.
    pub transparent: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// When it ended.
    pub completed_at: Option<i64>,
}

/// `GET /api/v1/gateways/{id}/fanouts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutList {
    /// By id.
    pub fanouts: Vec<Fanout>,
    /// The last id, when more may follow.
    pub next_after: Option<i64>,
}
