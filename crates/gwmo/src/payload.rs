//! The wire payloads of GwMO (docs/gateway.md §3, §5) and the Generic Alert items that carry
//! them.
//!
//! In: records, registrations, device responses, aggregates to send; received `Data` text,
//! [`syncml::Alert`]s and Exec status items with the [`Limits`] to enforce. Out: payload text
//! and [`syncml::Item`]s / [`syncml::Alert`]s; decoded, typed payloads.
//!
//! - [`DeviceReport`]: the Data of `deviceattached` / `devicedetached` (form-urlencoded `id`,
//!   `kind`, `mode`, `protocol`, `addr` (repeatable), `man`, `mod`, `dmv`, `lang`, `status`).
//! - [`RegistrationRequest`]: the Data of our Device Registration Alert (`mode`, `udp`, `http`,
//!   `server` (repeatable), `lease`).
//! - [`ImageReady`]: the Data of `imageready` (`id`, `sha256`, `size`, `uri`, `state`, `code`).
//! - command and response fragments ([`encode_fragment`], [`decode_commands`],
//!   [`decode_responses`]): on `syncml::xml`'s fragment codec.
//! - alert items: [`device_report_item`], [`registration_item`], [`response_item`],
//!   [`aggregation_item`], [`image_ready_item`], [`generic_alert`]; and back [`read_generic_alert`],
//!   [`read_response_item`].
//!
//! Form decoders read one pass under `limits.max_size` (bytes) and `limits.max_elements`
//! (fields), ignore fields they do not know (newer peers may send more) and reject a repeated
//! single field; every error is typed with its byte offset.

pub(crate) mod form;

use std::time::Duration;

use syncml::xml::{self, FragmentKind};
use syncml::{Alert, AlertCode, Command, Data, Item, Limits, Location, Meta};

use crate::Error;
use crate::alert::AlertType;
use crate::fanout::Aggregate;
use crate::image::{ImageState, Sha256Hex};
use crate::inventory::{
    Address, DevInfoSummary, DeviceRecord, Kind, MAX_ADDRESS_LEN, Presence, Protocol,
};
use crate::layout;
use crate::mode::Mode;
use form::{Fields, encode_pairs};

/// One device as reported to the DM servers (`deviceattached` / `devicedetached` Data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// `id`: the device id.
    pub id: String,
    /// `kind` (default `EndDevice` when absent).
    pub kind: Kind,
    /// `mode`.
    pub mode: Mode,
    /// `protocol` (default `OMA-DM` when absent).
    pub protocol: Protocol,
    /// `addr`, repeatable.
    pub addresses: Vec<Address>,
    /// `man`, `mod`, `dmv`, `lang` (empty when absent).
    pub dev_info: DevInfoSummary,
    /// `status`.
    pub presence: Presence,
}

impl DeviceReport {
    /// The report of a record.
    #[must_use]
    pub fn from_record(r: &DeviceRecord) -> DeviceReport {
        DeviceReport {
            id: r.id.clone(),
            kind: r.kind,
            mode: r.mode,
            protocol: r.protocol,
            addresses: r.addresses.clone(),
            dev_info: r.dev_info.clone(),
            presence: r.presence,
        }
    }

    /// The form-urlencoded text.
    #[must_use]
    pub fn encode(&self) -> String {
        let addrs: Vec<String> = self.addresses.iter().map(ToString::to_string).collect();
        let d = &self.dev_info;
        let mut pairs = vec![
            ("id", Some(self.id.as_str())),
            ("kind", Some(self.kind.as_str())),
            ("mode", Some(self.mode.as_str())),
            ("protocol", Some(self.protocol.as_str())),
        ];
        pairs.extend(addrs.iter().map(|a| ("addr", Some(a.as_str()))));
        pairs.extend([
            ("man", Some(d.man.as_str())),
            ("mod", Some(d.model.as_str())),
            ("dmv", Some(d.dm_v.as_str())),
            ("lang", Some(d.lang.as_str())),
            ("status", Some(self.presence.as_str())),
        ]);
        encode_pairs(pairs)
    }

    /// Reads a report.
    ///
    /// # Errors
    /// The form errors; [`Error::FormMissingKey`] for `id`, `mode` or `status`;
    /// [`Error::FormInvalidValue`] for a bad device id, name or address.
    pub fn decode(text: &str, limits: &Limits) -> Result<DeviceReport, Error> {
        let mut id = None;
        let mut kind = None;
        let mut mode = None;
        let mut protocol = None;
        let mut presence = None;
        let mut addresses = Vec::new();
        let mut man = None;
        let mut model = None;
        let mut dm_v = None;
        let mut lang = None;
        let mut fields = Fields::new(text, limits)?;
        while let Some(f) = fields.next_field()? {
            match f.key.as_str() {
                "id" => f.once("id", &mut id, device_id)?,
                "kind" => f.once("kind", &mut kind, |v| Kind::parse(&v))?,
                "mode" => f.once("mode", &mut mode, |v| Mode::parse(&v))?,
                "protocol" => f.once("protocol", &mut protocol, |v| Protocol::parse(&v))?,
                "status" => f.once("status", &mut presence, |v| Presence::parse(&v))?,
                "addr" => addresses.push(f.parse("addr", |v| Address::parse(&v))?),
                "man" => f.once("man", &mut man, Ok)?,
                "mod" => f.once("mod", &mut model, Ok)?,
                "dmv" => f.once("dmv", &mut dm_v, Ok)?,
                "lang" => f.once("lang", &mut lang, Ok)?,
                _ => {}
            }
        }
        Ok(DeviceReport {
            id: id.ok_or(Error::FormMissingKey { key: "id" })?,
            kind: kind.unwrap_or(Kind::EndDevice),
            mode: mode.ok_or(Error::FormMissingKey { key: "mode" })?,
            protocol: protocol.unwrap_or(Protocol::OmaDm),
            addresses,
            dev_info: DevInfoSummary {
                man: man.unwrap_or_default(),
                model: model.unwrap_or_default(),
                dm_v: dm_v.unwrap_or_default(),
                lang: lang.unwrap_or_default(),
            },
            presence: presence.ok_or(Error::FormMissingKey { key: "status" })?,
        })
    }
}

/// Longest device id a payload may carry (the inventory's default bound).
const MAX_DEVICE_ID: usize = 256;

fn device_id(v: String) -> Result<String, Error> {
    crate::inventory::check_device_id(&v, MAX_DEVICE_ID)?;
    Ok(v)
}

/// Our Device Registration Alert's Data (docs/gateway.md §3; Transparent mode, X.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistrationRequest {
    /// `mode`: the mode asked for (the gateway's rules decide).
    pub mode: Option<Mode>,
    /// `udp=HOST:PORT` / `http=URL`: where the device takes Package 0.
    pub addresses: Vec<Address>,
    /// `server=ID`, repeatable: the DM servers it is bootstrapped to.
    pub servers: Vec<String>,
    /// `lease=SECONDS`.
    pub lease: Option<Duration>,
}

impl RegistrationRequest {
    /// The form-urlencoded text.
    #[must_use]
    pub fn encode(&self) -> String {
        let lease = self.lease.map(|l| l.as_secs().to_string());
        let mut pairs = vec![("mode", self.mode.map(Mode::as_str))];
        pairs.extend(self.addresses.iter().map(|a| match a {
            Address::Udp(x) => ("udp", Some(x.as_str())),
            Address::Http(x) => ("http", Some(x.as_str())),
        }));
        pairs.extend(self.servers.iter().map(|s| ("server", Some(s.as_str()))));
        pairs.push(("lease", lease.as_deref()));
        encode_pairs(pairs)
    }

    /// Reads a registration.
    ///
    /// # Errors
    /// The form errors; [`Error::FormInvalidValue`] for a bad mode, address, lease or an empty
    /// or overlong server id.
    pub fn decode(text: &str, limits: &Limits) -> Result<RegistrationRequest, Error> {
        let mut r = RegistrationRequest::default();
        let mut lease = None;
        let mut fields = Fields::new(text, limits)?;
        while let Some(f) = fields.next_field()? {
            match f.key.as_str() {
                "mode" => f.once("mode", &mut r.mode, |v| Mode::parse(&v))?,
                "udp" => r
                    .addresses
                    .push(f.parse("udp", |v| Address::parse(&format!("udp:{v}")))?),
                "http" => r
                    .addresses
                    .push(f.parse("http", |v| Address::parse(&format!("http:{v}")))?),
                "server" => r.servers.push(f.parse("server", server_id)?),
                "lease" => f.once("lease", &mut lease, |v| {
                    v.parse::<u32>().map_err(|_| Error::FormInvalidValue {
                        key: "lease",
                        offset: f.offset,
                        reason: "not a number of seconds",
                    })
                })?,
                _ => {}
            }
        }
        r.lease = lease.map(|s| Duration::from_secs(u64::from(s)));
        Ok(r)
    }
}

fn server_id(v: String) -> Result<String, Error> {
    if v.is_empty() || v.len() > MAX_ADDRESS_LEN || v.chars().any(char::is_control) {
        return Err(Error::FormInvalidValue {
            key: "server",
            offset: 0,
            reason: "empty, too long or control characters",
        });
    }
    Ok(v)
}

/// Longest local URI an `imageready` payload may carry, bytes.
pub const MAX_IMAGE_URI: usize = 2048;

/// The Data of an `imageready` item (docs/gateway.md §10, GwMO-DCIS-001, B.8): the image entry
/// `id` is stored (`state=ready`) and served at `uri`, or its download failed (`state=failed`,
/// `code` the SyncML status, e.g. 420 when it did not fit the quota).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReady {
    /// `id`: the entry's node name (`Images/<x>`).
    pub id: String,
    /// `sha256`: the verified digest.
    pub sha256: Sha256Hex,
    /// `size`: bytes stored (0 when failed before any).
    pub size: u64,
    /// `uri`: where End Devices fetch it (empty when failed).
    pub uri: String,
    /// `state`: `ready` (the default when absent) or `failed`.
    pub state: ImageState,
    /// `code`: the failure's SyncML status (failed only).
    pub code: Option<u16>,
}

impl ImageReady {
    /// The form-urlencoded text.
    #[must_use]
    pub fn encode(&self) -> String {
        let size = self.size.to_string();
        let code = self.code.map(|c| c.to_string());
        encode_pairs([
            ("id", Some(self.id.as_str())),
            ("sha256", Some(self.sha256.as_str())),
            ("size", Some(size.as_str())),
            ("uri", Some(self.uri.as_str())),
            ("state", Some(self.state.as_str())),
            ("code", code.as_deref()),
        ])
    }

    /// Reads an `imageready` Data.
    ///
    /// # Errors
    /// The form errors; [`Error::FormMissingKey`] for `id` or `sha256`;
    /// [`Error::FormInvalidValue`] for a bad entry name, digest, size, state, code or a URI
    /// longer than [`MAX_IMAGE_URI`].
    pub fn decode(text: &str, limits: &Limits) -> Result<ImageReady, Error> {
        let mut id = None;
        let mut sha = None;
        let mut size = None;
        let mut uri = None;
        let mut state = None;
        let mut code = None;
        let mut fields = Fields::new(text, limits)?;
        while let Some(f) = fields.next_field()? {
            let offset = f.offset;
            let invalid = move |key: &'static str, reason: &'static str| Error::FormInvalidValue {
                key,
                offset,
                reason,
            };
            match f.key.as_str() {
                "id" => f.once("id", &mut id, |v| {
                    if crate::image::valid_entry_name(&v) {
                        Ok(v)
                    } else {
                        Err(invalid("id", "not an image entry name"))
                    }
                })?,
                "sha256" => f.once("sha256", &mut sha, |v| Sha256Hex::parse(&v))?,
                "size" => f.once("size", &mut size, |v| {
                    v.parse::<u64>()
                        .map_err(|_| invalid("size", "not a number of bytes"))
                })?,
                "uri" => f.once("uri", &mut uri, |v| {
                    if v.len() > MAX_IMAGE_URI || v.chars().any(char::is_control) {
                        Err(invalid("uri", "too long or control characters"))
                    } else {
                        Ok(v)
                    }
                })?,
                "state" => f.once("state", &mut state, |v| ImageState::parse(&v))?,
                "code" => f.once("code", &mut code, |v| {
                    v.parse::<u16>()
                        .ok()
                        .filter(|c| (100..1000).contains(c))
                        .ok_or_else(|| invalid("code", "not a status code"))
                })?,
                _ => {}
            }
        }
        Ok(ImageReady {
            id: id.ok_or(Error::FormMissingKey { key: "id" })?,
            sha256: sha.ok_or(Error::FormMissingKey { key: "sha256" })?,
            size: size.unwrap_or(0),
            uri: uri.unwrap_or_default(),
            state: state.unwrap_or(ImageState::Ready),
            code,
        })
    }
}

// ----- fragments -------------------------------------------------------------------------

/// `commands` as an XML fragment, the `Data` of `Operations/<op>/Commands` (`Format` `xml`) or
/// of a device's `Response`.
#[must_use]
pub fn encode_fragment(commands: &[Command]) -> Data {
    Data::Xml(xml::encode_fragment(commands))
}

/// The commands of a command fragment (`Operations/<op>/Commands`): `Get`, `Add`, `Replace`,
/// `Delete`, `Exec`, `Copy`, `Atomic`, `Sequence`. Any `Data` form is read as its text.
///
/// # Errors
/// [`Error::Fragment`] with the codec's error (offsets into the fragment).
pub fn decode_commands(data: &Data, limits: &Limits) -> Result<Vec<Command>, Error> {
    xml::decode_fragment(data.as_bytes(), FragmentKind::Commands, limits).map_err(Error::Fragment)
}

/// The `Status` and `Results` of a response fragment.
///
/// # Errors
/// [`Error::Fragment`].
pub fn decode_responses(data: &Data, limits: &Limits) -> Result<Vec<Command>, Error> {
    xml::decode_fragment(data.as_bytes(), FragmentKind::Responses, limits).map_err(Error::Fragment)
}

// ----- Generic Alert items ---------------------------------------------------------------

fn meta(alert_type: Option<AlertType>, format: &str) -> Option<Meta> {
    Some(Meta {
        r#type: alert_type.map(|t| t.as_str().to_owned()),
        format: Some(format.to_owned()),
        ..Meta::default()
    })
}

/// A Generic Alert (1226) with these items.
#[must_use]
pub fn generic_alert(
    cmd_id: impl Into<String>,
    correlator: Option<String>,
    items: Vec<Item>,
) -> Alert {
    Alert {
        cmd_id: cmd_id.into(),
        no_resp: false,
        cred: None,
        code: AlertCode::GENERIC_ALERT,
        correlator,
        items,
    }
}

/// The item of one device for `deviceattached` (attached) or `devicedetached` (detached):
/// `Source` its inventory node, `Format` `chr`, `Data` the report (GwMO-DI-004, B.9).
#[must_use]
pub fn device_report_item(report: &DeviceReport) -> Item {
    let t = match report.presence {
        Presence::Attached => AlertType::DeviceAttached,
        Presence::Detached => AlertType::DeviceDetached,
    };
    Item {
        source: Some(Location::uri(layout::device_uri(&report.id))),
        meta: meta(Some(t), "chr"),
        data: Some(Data::Text(report.encode())),
        ..Item::default()
    }
}

/// The item of a Device Registration Alert.
#[must_use]
pub fn registration_item(request: &RegistrationRequest) -> Item {
    Item {
        meta: meta(Some(AlertType::DeviceRegistration), "chr"),
        data: Some(Data::Text(request.encode())),
        ..Item::default()
    }
}

/// The item of one target's response: `Source`
/// `./GwMO/Fanout/Operations/<op>/Devices/<id>/Response`, `Format` `xml`, `Data` the response
/// fragment. Used in the `Start` Exec's Status (Y) and in the `completionstatus` alert (Y').
#[must_use]
pub fn response_item(op: &str, device: &str, response: &[Command]) -> Item {
    Item {
        source: Some(Location::uri(layout::response_uri(op, device))),
        meta: meta(Some(AlertType::CompletionStatus), "xml"),
        data: Some(encode_fragment(response)),
        ..Item::default()
    }
}

/// The item of a `resultaggregation` alert: `Source` the operation node, `Format` `chr`,
/// `Data` [`Aggregate::encode`] (GwMO-FORA-002).
#[must_use]
pub fn aggregation_item(aggregate: &Aggregate) -> Item {
    Item {
        source: Some(Location::uri(layout::operation_uri(&aggregate.op))),
        meta: meta(Some(AlertType::ResultAggregation), "chr"),
        data: Some(Data::Text(aggregate.encode())),
        ..Item::default()
    }
}

/// Most bytes of `Data` in one Transparent item (docs/gateway.md §9).
pub const TRANSPARENT_ITEM_MAX: usize = 4096;

/// The items listing the targets of `op` in Transparent mode, for the `Start` Exec's Status:
/// `Source` `./GwMO/Fanout/Operations/<op>/Transparent`, `Format` `chr`, `Data` comma-separated
/// ids, at most `max` bytes each (an id longer than `max` gets an item of its own). No ids, no
/// items.
#[must_use]
pub fn transparent_items(op: &str, ids: &[String], max: usize) -> Vec<Item> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for id in ids {
        if !current.is_empty() && current.len() + 1 + id.len() > max {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(',');
        }
        current.push_str(id);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    let source = format!("{}/Transparent", layout::operation_uri(op));
    chunks
        .into_iter()
        .map(|data| Item {
            source: Some(Location::uri(source.clone())),
            meta: meta(None, "chr"),
            data: Some(Data::Text(data)),
            ..Item::default()
        })
        .collect()
}

/// The operation and the ids of a Transparent item (see [`transparent_items`]); `None` for
/// another item.
#[must_use]
pub fn read_transparent_item(item: &Item) -> Option<(String, Vec<String>)> {
    let uri = item.source.as_ref()?.loc_uri.as_str();
    let rest = uri.strip_prefix("./GwMO/Fanout/Operations/")?;
    let op = rest.strip_suffix("/Transparent")?;
    if op.is_empty() || op.contains('/') {
        return None;
    }
    let text = item.data.as_ref()?.as_str()?;
    let ids = text
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    Some((op.to_owned(), ids))
}

/// The item of an `imageready` alert: `Source` the image entry
/// (`./GwMO/ImageInventory/Images/<x>`), `Format` `chr`, `Data` [`ImageReady::encode`].
#[must_use]
pub fn image_ready_item(ready: &ImageReady) -> Item {
    Item {
        source: Some(Location::uri(crate::image::image_uri(&ready.id))),
        meta: meta(Some(AlertType::ImageReady), "chr"),
        data: Some(Data::Text(ready.encode())),
        ..Item::default()
    }
}

/// One target's response read from an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceResponse {
    /// The operation id.
    pub op: String,
    /// The device id.
    pub device: String,
    /// Its `Status` and `Results`.
    pub commands: Vec<Command>,
}

/// What one item of a GwMO Generic Alert carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertPayload {
    /// `deviceattached` / `devicedetached`.
    Device(DeviceReport),
    /// Our Device Registration Alert.
    Registration(RegistrationRequest),
    /// `completionstatus`: one target's response.
    Response(DeviceResponse),
    /// `resultaggregation`.
    Aggregate(Box<Aggregate>),
    /// `imageready`.
    ImageReady(ImageReady),
    /// Another GwMO type (`BootstrappedDMSList`, `AssociatedGateway`): the
    /// item as it came.
    Other(AlertType, Box<Item>),
}

/// The text of an item's Data.
fn item_text(index: usize, item: &Item) -> Result<&str, Error> {
    item.data
        .as_ref()
        .ok_or(Error::AlertItem {
            index,
            reason: "no Data",
        })?
        .as_str()
        .ok_or(Error::AlertItem {
            index,
            reason: "Data is not UTF-8",
        })
}

fn payload_error(index: usize) -> impl Fn(Error) -> Error {
    move |e| Error::AlertPayload {
        index,
        source: Box::new(e),
    }
}

/// Reads one target's response item (see [`response_item`]).
///
/// # Errors
/// [`Error::AlertItem`] when `Source` is not a `Response` node of our layout or `Data` is
/// missing; [`Error::AlertPayload`] when the fragment does not decode.
pub fn read_response_item(
    index: usize,
    item: &Item,
    limits: &Limits,
) -> Result<DeviceResponse, Error> {
    let bad = Error::AlertItem {
        index,
        reason: "Source is not ./GwMO/Fanout/Operations/<op>/Devices/<id>/Response",
    };
    let source = item.source.as_ref().ok_or_else(|| bad.clone())?;
    let uri = dm_tree::Uri::parse(&source.loc_uri, &dm_tree::UriLimits::default())
        .map_err(|_| bad.clone())?;
    let [gwmo, fanout, ops, op, devices, name, response] = uri.segments() else {
        return Err(bad);
    };
    if (
        gwmo.as_str(),
        fanout.as_str(),
        ops.as_str(),
        devices.as_str(),
        response.as_str(),
    ) != ("GwMO", "Fanout", "Operations", "Devices", "Response")
        || !uri.is_absolute()
    {
        return Err(bad);
    }
    let device = layout::unescape_device_id(name)
        .map_err(payload_error(index))?
        .into_owned();
    let data = item.data.as_ref().ok_or(Error::AlertItem {
        index,
        reason: "no Data",
    })?;
    Ok(DeviceResponse {
        op: op.clone(),
        device,
        commands: decode_responses(data, limits).map_err(payload_error(index))?,
    })
}

/// Reads every item of a GwMO Generic Alert. Items of a type that is not GwMO's are an error
/// (the caller dispatches on [`AlertType::parse`] of the first item's type if it mixes
/// alerts).
///
/// # Errors
/// [`Error::NotGenericAlert`]; [`Error::AlertItem`] for an item without `Meta/Type` or `Data`,
/// or of a type that is not a GwMO type; [`Error::AlertPayload`] when its payload does not
/// decode.
pub fn read_generic_alert(alert: &Alert, limits: &Limits) -> Result<Vec<AlertPayload>, Error> {
    if alert.code != AlertCode::GENERIC_ALERT {
        return Err(Error::NotGenericAlert { code: alert.code.0 });
    }
    let mut out = Vec::with_capacity(alert.items.len());
    for (index, item) in alert.items.iter().enumerate() {
        let t = item
            .meta
            .as_ref()
            .and_then(|m| m.r#type.as_deref())
            .ok_or(Error::AlertItem {
                index,
                reason: "no Meta/Type",
            })?;
        let t = AlertType::parse(t).map_err(|_| Error::AlertItem {
            index,
            reason: "not a GwMO alert type",
        })?;
        let e = payload_error(index);
        out.push(match t {
            AlertType::DeviceAttached | AlertType::DeviceDetached => AlertPayload::Device(
                DeviceReport::decode(item_text(index, item)?, limits).map_err(e)?,
            ),
            AlertType::DeviceRegistration => AlertPayload::Registration(
                RegistrationRequest::decode(item_text(index, item)?, limits).map_err(e)?,
            ),
            AlertType::CompletionStatus => {
                AlertPayload::Response(read_response_item(index, item, limits)?)
            }
            AlertType::ResultAggregation => AlertPayload::Aggregate(Box::new(
                Aggregate::decode(item_text(index, item)?, limits).map_err(e)?,
            )),
            AlertType::ImageReady => AlertPayload::ImageReady(
                ImageReady::decode(item_text(index, item)?, limits).map_err(e)?,
            ),
            other => AlertPayload::Other(other, Box::new(item.clone())),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncml::ItemCmd;

    fn report() -> DeviceReport {
        DeviceReport {
            id: "IMEI:490154203237518".into(),
            kind: Kind::EndDevice,
            mode: Mode::Transparent,
            protocol: Protocol::OmaDm,
            addresses: vec![
                Address::Udp("10.0.0.2:2948".into()),
                Address::Http("http://10.0.0.2/p0".into()),
            ],
            dev_info: DevInfoSummary {
                man: "Acme & Co".into(),
                model: "X1".into(),
                dm_v: "1.2".into(),
                lang: "en".into(),
            },
            presence: Presence::Attached,
        }
    }

    /// GwMO-FORA-001 (docs/gateway.md §9): Transparent ids travel in items of at most 4 KB,
    /// every id once, in order.
    #[test]
    fn gwmo_fora_001_transparent_items_are_bounded() {
        assert!(transparent_items("f1", &[], TRANSPARENT_ITEM_MAX).is_empty());
        let ids: Vec<String> = (0..1000).map(|i| format!("IMEI:{i:010}")).collect();
        let items = transparent_items("f1", &ids, TRANSPARENT_ITEM_MAX);
        assert!(items.len() > 1);
        let mut back = Vec::new();
        for item in &items {
            let text = item.data.as_ref().and_then(Data::as_str).unwrap();
            assert!(text.len() <= TRANSPARENT_ITEM_MAX);
            let (op, part) = read_transparent_item(item).unwrap();
            assert_eq!(op, "f1");
            back.extend(part);
        }
        assert_eq!(back, ids);
        assert_eq!(
            items[0].source.as_ref().unwrap().loc_uri,
            "./GwMO/Fanout/Operations/f1/Transparent"
        );
        assert!(read_transparent_item(&response_item("f1", "d", &[])).is_none());
    }

    /// GwMO-DI-004: the deviceattached Data names the device, its mode and where it is.
    #[test]
    fn gwmo_di_004_device_report_form() {
        let r = report();
        let text = r.encode();
        assert_eq!(
            text,
            "id=IMEI%3A490154203237518&kind=EndDevice&mode=Transparent&protocol=OMA-DM\
             &addr=udp%3A10.0.0.2%3A2948&addr=http%3Ahttp%3A%2F%2F10.0.0.2%2Fp0\
             &man=Acme+%26+Co&mod=X1&dmv=1.2&lang=en&status=attached"
        );
        assert_eq!(DeviceReport::decode(&text, &Limits::default()), Ok(r));
        let minimal =
            DeviceReport::decode("id=a&mode=proxy&status=detached&x=1", &Limits::default())
                .unwrap();
        assert_eq!(
            (minimal.kind, minimal.protocol, minimal.presence),
            (Kind::EndDevice, Protocol::OmaDm, Presence::Detached)
        );
    }

    #[test]
    fn device_report_errors() {
        let l = Limits::default();
        assert_eq!(
            DeviceReport::decode("mode=Proxy&status=attached", &l),
            Err(Error::FormMissingKey { key: "id" })
        );
        assert!(matches!(
            DeviceReport::decode("id=a&id=b", &l),
            Err(Error::FormDuplicateKey {
                key: "id",
                offset: 5
            })
        ));
        assert!(matches!(
            DeviceReport::decode("id=..&mode=Proxy&status=attached", &l),
            Err(Error::FormInvalidValue {
                key: "id",
                offset: 0,
                reason: "not a node name"
            })
        ));
        assert!(matches!(
            DeviceReport::decode("id=a&addr=tcp:x", &l),
            Err(Error::FormInvalidValue {
                key: "addr",
                offset: 5,
                ..
            })
        ));
    }

    #[test]
    fn registration_form() {
        let r = RegistrationRequest {
            mode: Some(Mode::Transparent),
            addresses: vec![Address::Udp("192.168.1.20:2948".into())],
            servers: vec!["dms1".into(), "dms 2".into()],
            lease: Some(Duration::from_secs(600)),
        };
        let text = r.encode();
        assert_eq!(
            text,
            "mode=Transparent&udp=192.168.1.20%3A2948&server=dms1&server=dms+2&lease=600"
        );
        assert_eq!(
            RegistrationRequest::decode(&text, &Limits::default()),
            Ok(r)
        );
        // The doc's example spelling.
        let d = RegistrationRequest::decode(
            "mode=transparent&http=http://h/p&lease=60",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(d.mode, Some(Mode::Transparent));
        assert_eq!(d.addresses, [Address::Http("http://h/p".into())]);
        assert!(matches!(
            RegistrationRequest::decode("lease=-1", &Limits::default()),
            Err(Error::FormInvalidValue { key: "lease", .. })
        ));
        assert!(matches!(
            RegistrationRequest::decode("server=", &Limits::default()),
            Err(Error::FormInvalidValue { key: "server", .. })
        ));
    }

    fn response() -> Vec<Command> {
        crate::fanout::tests::answer("2", 200, Some("X1"))
    }

    /// GwMO-FORA-002 / Y': completionstatus items carry each target's response fragment and
    /// read back with the correlator.
    #[test]
    fn completion_alert_round_trip() {
        let l = Limits::default();
        let items = vec![
            response_item("j7", "a/b", &response()),
            device_report_item(&report()),
        ];
        let alert = generic_alert("5", Some("j7".into()), items);
        assert_eq!(alert.code, AlertCode::GENERIC_ALERT);
        assert_eq!(
            alert.items[0].source.as_ref().unwrap().loc_uri,
            "./GwMO/Fanout/Operations/j7/Devices/a%252Fb/Response"
        );
        let read = read_generic_alert(&alert, &l).unwrap();
        assert_eq!(
            read[0],
            AlertPayload::Response(DeviceResponse {
                op: "j7".into(),
                device: "a/b".into(),
                commands: response()
            })
        );
        assert_eq!(read[1], AlertPayload::Device(report()));
        // Through the XML codec of a whole message: the fragment travels as Data::Xml.
        let msg = syncml::SyncMl {
            body: syncml::SyncBody {
                commands: vec![Command::Alert(alert.clone())],
                is_final: true,
            },
            hdr: syncml::SyncHdr {
                ver_dtd: "1.2".into(),
                ver_proto: "DM/1.2".into(),
                session_id: "1".into(),
                msg_id: "1".into(),
                ..Default::default()
            },
            version: syncml::Version::V1_2,
        };
        let back = xml::decode(&xml::encode(&msg), &l).unwrap();
        let Command::Alert(a) = &back.body.commands[0] else {
            panic!()
        };
        assert_eq!(read_generic_alert(a, &l).unwrap(), read);
    }

    /// GwMO-DCIS-001 / B.8: the imageready item names the entry and carries where the image
    /// is served; a failed download carries its status.
    #[test]
    fn gwmo_dcis_001_image_ready_round_trip() {
        let l = Limits::default();
        let sha = Sha256Hex::parse(&"ab".repeat(32)).unwrap();
        let ready = ImageReady {
            id: "fw-2".into(),
            sha256: sha.clone(),
            size: 10_485_760,
            uri: "http://10.0.0.1:8090/images/abab?t=x&y".into(),
            state: ImageState::Ready,
            code: None,
        };
        let text = ready.encode();
        assert!(text.starts_with("id=fw-2&sha256=abab"), "{text}");
        assert_eq!(ImageReady::decode(&text, &l), Ok(ready.clone()));
        let item = image_ready_item(&ready);
        assert_eq!(
            item.source.as_ref().unwrap().loc_uri,
            "./GwMO/ImageInventory/Images/fw-2"
        );
        let alert = generic_alert("1", Some("d7".into()), vec![item]);
        assert_eq!(
            read_generic_alert(&alert, &l).unwrap(),
            vec![AlertPayload::ImageReady(ready)]
        );
        let failed = ImageReady::decode(
            &format!("id=a&sha256={sha}&state=failed&code=420&extra=1"),
            &l,
        )
        .unwrap();
        assert_eq!(
            (failed.state, failed.code, failed.size),
            (ImageState::Failed, Some(420), 0)
        );
        for bad in [
            "sha256=00",
            "id=a",
            "id=a/b&sha256=".to_owned().as_str(),
            &format!("id=a&sha256={sha}&size=-1"),
            &format!("id=a&sha256={sha}&code=99"),
            &format!("id=a&sha256={sha}&state=gone"),
            &format!("id=a&id=b&sha256={sha}"),
        ] {
            assert!(ImageReady::decode(bad, &l).is_err(), "{bad}");
        }
    }

    #[test]
    fn alert_reader_errors() {
        let l = Limits::default();
        let mut alert = generic_alert("1", None, vec![Item::default()]);
        assert_eq!(
            read_generic_alert(&alert, &l),
            Err(Error::AlertItem {
                index: 0,
                reason: "no Meta/Type"
            })
        );
        alert.items[0].meta = meta(Some(AlertType::DeviceAttached), "chr");
        assert_eq!(
            read_generic_alert(&alert, &l),
            Err(Error::AlertItem {
                index: 0,
                reason: "no Data"
            })
        );
        alert.items[0].data = Some(Data::Text("id=a".into()));
        assert!(matches!(
            read_generic_alert(&alert, &l),
            Err(Error::AlertPayload { index: 0, .. })
        ));
        alert.code = AlertCode(1200);
        assert_eq!(
            read_generic_alert(&alert, &l),
            Err(Error::NotGenericAlert { code: 1200 })
        );
        let mut bad = response_item("j1", "d", &response());
        bad.source = Some(Location::uri(
            "./GwMO/Fanout/Operations/j1/Devices/d/Status",
        ));
        assert!(matches!(
            read_response_item(0, &bad, &l),
            Err(Error::AlertItem { .. })
        ));
        bad.source = Some(Location::uri(
            "./GwMO/Fanout/Operations/j1/Devices/d/Response",
        ));
        bad.data = Some(Data::Xml("<Get><CmdID>1</CmdID></Get>".into()));
        assert!(matches!(
            read_response_item(0, &bad, &l),
            Err(Error::AlertPayload { .. })
        ));
    }

    #[test]
    fn command_fragment_data() {
        let get = Command::Get(ItemCmd {
            cmd_id: "2".into(),
            items: vec![Item {
                target: Some(Location::uri("./DevInfo/Mod")),
                ..Item::default()
            }],
            ..ItemCmd::default()
        });
        let data = encode_fragment(std::slice::from_ref(&get));
        assert_eq!(decode_commands(&data, &Limits::default()), Ok(vec![get]));
        // Escaped text (a peer that sent Format xml as text) decodes too.
        let text = Data::Text(data.as_str().unwrap().to_owned());
        assert!(decode_commands(&text, &Limits::default()).is_ok());
        assert!(matches!(
            decode_responses(&data, &Limits::default()),
            Err(Error::Fragment(_))
        ));
    }
}
