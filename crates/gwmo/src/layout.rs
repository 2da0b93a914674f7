//! Our GwMO node layout (non-normative; docs/gwmo-objects.md) as one table, and the builders
//! of the static part of the gateway's tree.
//!
//! In: a node path relative to `./GwMO` (for [`lookup`]), the gateway's DM server ids and the
//! time (for [`install`]), a device id (for [`escape_device_id`]). Out: the node's
//! [`NodeSpec`] (format, access types, default, meaning, MO `Type` of a root), the installed
//! `GwConfig`, `EDTrigger` and `Fanout` subtrees, node names.
//!
//! The official DDFs are not public (digest §1.1); [`NODES`] is the only place the layout is
//! written, and a test checks that docs/gwmo-objects.md lists exactly its nodes, so that it can
//! follow the DDFs when they are available. Placeholder segments are `<x>` (a name the server
//! chooses), `<id>` (an escaped device id), `<op>` (an operation id) and `<n>` (a page number).
//!
//! `DeviceInventory` and `ImageInventory` are not installed here: the gateway mounts them on
//! its inventory and its image store (nothing is copied into the tree); [`lookup`] gives their
//! nodes' properties.

use std::borrow::Cow;

use dm_tree::{AccessType, Acl, AclCommand, Format, NewNode, Tree};

use crate::Error;
use crate::mo;

/// One node of the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSpec {
    /// Path relative to `./GwMO`, variable segments included (`Fanout/Operations/<op>/Targets`).
    pub path: &'static str,
    /// Its format (`node` for interior nodes).
    pub format: Format,
    /// The commands it supports.
    pub access: AccessType,
    /// Its value when the gateway creates it.
    pub default: Option<&'static str>,
    /// What it means.
    pub description: &'static str,
    /// The MO identifier, for an MO root (its `Type` property).
    pub mo_id: Option<&'static str>,
}

const G: AccessType = AccessType::GET;
const A: AccessType = AccessType::ADD;
const R: AccessType = AccessType::REPLACE;
const D: AccessType = AccessType::DELETE;
const E: AccessType = AccessType::EXEC;

const fn or(a: AccessType, b: AccessType) -> AccessType {
    AccessType(a.0 | b.0)
}

const GR: AccessType = or(G, R);
const GA: AccessType = or(G, A);
const GD: AccessType = or(G, D);
const GAD: AccessType = or(GA, D);
const GAR: AccessType = or(GA, R);
const GARD: AccessType = or(GAR, D);

const fn spec(
    path: &'static str,
    format: Format,
    access: AccessType,
    default: Option<&'static str>,
    description: &'static str,
) -> NodeSpec {
    NodeSpec {
        path,
        format,
        access,
        default,
        description,
        mo_id: None,
    }
}

const fn root(path: &'static str, mo_id: &'static str, description: &'static str) -> NodeSpec {
    NodeSpec {
        path,
        format: Format::Node,
        access: G,
        default: None,
        description,
        mo_id: Some(mo_id),
    }
}

use Format::{Bin, Bool, Chr, Int, Node, Null, Xml};

/// Every node of our layout, MO roots first in each MO, parents before children.
pub static NODES: &[NodeSpec] = &[
    root("GwConfig", mo::GW_CONFIG, "gateway configuration"),
    spec(
        "GwConfig/InformNewDevices",
        Bool,
        GR,
        Some("true"),
        "send deviceattached/devicedetached alerts for End Devices (GwMO-DI-004/005)",
    ),
    spec(
        "GwConfig/InformChildGateways",
        Bool,
        GR,
        Some("true"),
        "the same for child gateways (GwMO-DI-009/010)",
    ),
    spec(
        "GwConfig/DefaultMode",
        Chr,
        GR,
        Some("Proxy"),
        "mode for a device no rule matches: Proxy, Transparent (GwMO-MOO-001)",
    ),
    spec(
        "GwConfig/LeaseSeconds",
        Int,
        GR,
        Some("3600"),
        "a device without contact for this long turns detached (GwMO-DI-003)",
    ),
    spec(
        "GwConfig/ModeRules",
        Node,
        GA,
        None,
        "the mode rules, one per <x>",
    ),
    spec(
        "GwConfig/ModeRules/<x>",
        Node,
        GAD,
        None,
        "one rule; a Delete removes it",
    ),
    spec(
        "GwConfig/ModeRules/<x>/Match",
        Chr,
        GARD,
        None,
        "form-urlencoded conditions, all must hold: man=, mod=, id_prefix=, kind=EndDevice|Gateway, protocol=",
    ),
    spec(
        "GwConfig/ModeRules/<x>/Mode",
        Chr,
        GARD,
        None,
        "Proxy or Transparent",
    ),
    spec(
        "GwConfig/ModeRules/<x>/Order",
        Int,
        GARD,
        Some("0"),
        "rules are tried by ascending order, then name",
    ),
    spec(
        "GwConfig/ImageStorage",
        Bool,
        GR,
        Some("false"),
        "the gateway may store images for its End Devices (GwMO-DCIS-003); false: Download and Data answer 405",
    ),
    spec(
        "GwConfig/ImageQuotaBytes",
        Int,
        GR,
        Some("1073741824"),
        "most bytes of stored images (GwMO-DCIS-002); a download that would not fit gets 420",
    ),
    root(
        "DeviceInventory",
        mo::DEVICE_INVENTORY,
        "the devices behind the gateway",
    ),
    spec(
        "DeviceInventory/Summary",
        Node,
        G,
        None,
        "counts over all devices (GwMO-DI-002)",
    ),
    spec(
        "DeviceInventory/Summary/Total",
        Int,
        G,
        None,
        "registered devices (GwMO-DI-002)",
    ),
    spec(
        "DeviceInventory/Summary/Attached",
        Int,
        G,
        None,
        "attached devices (GwMO-DI-003)",
    ),
    spec(
        "DeviceInventory/Summary/Detached",
        Int,
        G,
        None,
        "detached devices (GwMO-DI-003)",
    ),
    spec(
        "DeviceInventory/Summary/Proxy",
        Int,
        G,
        None,
        "devices in Proxy mode",
    ),
    spec(
        "DeviceInventory/Summary/Transparent",
        Int,
        G,
        None,
        "devices in Transparent mode",
    ),
    spec(
        "DeviceInventory/Summary/Adaptation",
        Int,
        G,
        None,
        "devices in Adaptation mode",
    ),
    spec(
        "DeviceInventory/Summary/EndDevices",
        Int,
        G,
        None,
        "End Devices (GwMO-DI-007)",
    ),
    spec(
        "DeviceInventory/Summary/Gateways",
        Int,
        G,
        None,
        "child gateways (GwMO-DI-007)",
    ),
    spec(
        "DeviceInventory/Devices",
        Node,
        G,
        None,
        "one node per device",
    ),
    spec(
        "DeviceInventory/Devices/<id>",
        Node,
        GD,
        None,
        "one device; a Delete forgets it",
    ),
    spec(
        "DeviceInventory/Devices/<id>/DeviceID",
        Chr,
        G,
        None,
        "the device id (DevInfo/DevId)",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Kind",
        Chr,
        G,
        None,
        "EndDevice or Gateway (a child gateway)",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Mode",
        Chr,
        GR,
        None,
        "Proxy, Transparent, Adaptation; a Replace moves the device to that mode",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Protocol",
        Chr,
        G,
        None,
        "OMA-DM (later KNX, OpenWebNet, ZigBee, BLE)",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Address",
        Chr,
        G,
        None,
        "where the gateway reaches it (udp:HOST:PORT, http:URL; comma-separated)",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Status",
        Chr,
        G,
        None,
        "attached or detached (GwMO-DI-003)",
    ),
    spec(
        "DeviceInventory/Devices/<id>/LastSeen",
        Int,
        G,
        None,
        "Unix seconds of the last authenticated contact",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Registered",
        Int,
        G,
        None,
        "Unix seconds of the first registration",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Man",
        Chr,
        G,
        None,
        "DevInfo/Man",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Mod",
        Chr,
        G,
        None,
        "DevInfo/Mod",
    ),
    spec(
        "DeviceInventory/Devices/<id>/DmV",
        Chr,
        G,
        None,
        "DevInfo/DmV",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Lang",
        Chr,
        G,
        None,
        "DevInfo/Lang",
    ),
    spec(
        "DeviceInventory/Devices/<id>/Servers",
        Chr,
        G,
        None,
        "DM servers it is bootstrapped to (comma-separated)",
    ),
    spec(
        "DeviceInventory/Groups",
        Node,
        GA,
        None,
        "one node per group (GwMO-Group-001)",
    ),
    spec(
        "DeviceInventory/Groups/<x>",
        Node,
        GAD,
        None,
        "one group; a Delete removes it (not its devices)",
    ),
    spec(
        "DeviceInventory/Groups/<x>/Members",
        Chr,
        GAR,
        None,
        "explicit members: comma-separated device ids (End Devices or child gateways)",
    ),
    spec(
        "DeviceInventory/Groups/<x>/Match",
        Chr,
        GAR,
        None,
        "membership by match, form-urlencoded: man, mod, mode, protocol, kind, status, id_prefix; keys all hold, a repeated key any of its values",
    ),
    spec(
        "DeviceInventory/Groups/<x>/Size",
        Int,
        G,
        None,
        "members now (explicit and matched, each once; GwMO-Group-002)",
    ),
    root("EDTrigger", mo::ED_TRIGGER, "notify End Devices"),
    spec(
        "EDTrigger/Notify",
        Null,
        E,
        None,
        "Exec with Data = a device id: the gateway notifies that End Device now",
    ),
    root("Fanout", mo::FANOUT, "fanout operations"),
    spec(
        "Fanout/Operations",
        Node,
        GA,
        None,
        "one node per operation",
    ),
    spec(
        "Fanout/Operations/<op>",
        Node,
        GAD,
        None,
        "one operation; a Delete cancels and forgets it",
    ),
    spec(
        "Fanout/Operations/<op>/Targets",
        Chr,
        GAR,
        None,
        "comma-separated device ids",
    ),
    spec(
        "Fanout/Operations/<op>/Commands",
        Xml,
        GAR,
        None,
        "SyncML command fragment, URIs in the End Device's own tree",
    ),
    spec(
        "Fanout/Operations/<op>/WaitSeconds",
        Int,
        GAR,
        Some("20"),
        "how long the Start Exec may wait to answer synchronously",
    ),
    spec(
        "Fanout/Operations/<op>/TimeoutSeconds",
        Int,
        GAR,
        Some("300"),
        "per-device deadline",
    ),
    spec(
        "Fanout/Operations/<op>/Group",
        Chr,
        GAR,
        None,
        "a group name: targets are Targets and the group's members at Start",
    ),
    spec(
        "Fanout/Operations/<op>/Window",
        Int,
        GAR,
        Some("64"),
        "devices in flight at once (1..=1024)",
    ),
    spec(
        "Fanout/Operations/<op>/AttemptSeconds",
        Int,
        GAR,
        Some("60"),
        "per-device timeout of one attempt (notification and session)",
    ),
    spec(
        "Fanout/Operations/<op>/MaxAttempts",
        Int,
        GAR,
        Some("3"),
        "attempts per device (backoff 5 s doubling, at most 60 s)",
    ),
    spec(
        "Fanout/Operations/<op>/ProgressSeconds",
        Int,
        GAR,
        Some("0"),
        "when > 0: while running, a resultaggregation alert with state=running at most this often",
    ),
    spec(
        "Fanout/Operations/<op>/Start",
        Null,
        E,
        None,
        "start it (Correlator echoed in the completion alert)",
    ),
    spec(
        "Fanout/Operations/<op>/State",
        Chr,
        G,
        None,
        "created, running, done, cancelled",
    ),
    spec(
        "Fanout/Operations/<op>/Progress",
        Chr,
        G,
        None,
        "answered/total",
    ),
    spec(
        "Fanout/Operations/<op>/Transparent",
        Chr,
        G,
        None,
        "targets in Transparent mode, handed back to the server (comma-separated)",
    ),
    spec(
        "Fanout/Operations/<op>/Pages",
        Node,
        G,
        None,
        "per-device detail, one node per page of 100 targets",
    ),
    spec(
        "Fanout/Operations/<op>/Pages/<n>",
        Chr,
        G,
        None,
        "page n from 0, targets in order: form-urlencoded device, outcome, code=CMDREF:CODE (non-2xx)",
    ),
    spec(
        "Fanout/Operations/<op>/Devices",
        Node,
        G,
        None,
        "one node per target",
    ),
    spec(
        "Fanout/Operations/<op>/Devices/<id>",
        Node,
        G,
        None,
        "one target",
    ),
    spec(
        "Fanout/Operations/<op>/Devices/<id>/Status",
        Chr,
        G,
        None,
        "pending, done, timeout, failed, unknown, cancelled, transparent",
    ),
    spec(
        "Fanout/Operations/<op>/Devices/<id>/Response",
        Xml,
        G,
        None,
        "the device's Status/Results elements",
    ),
    root(
        "ImageInventory",
        mo::IMAGE_INVENTORY,
        "images stored on the gateway for its End Devices (GwMO-DCIS-001)",
    ),
    spec(
        "ImageInventory/Images",
        Node,
        GA,
        None,
        "one node per image entry",
    ),
    spec(
        "ImageInventory/Images/<x>",
        Node,
        GAD,
        None,
        "one image entry; a Delete removes it (the file goes with the last entry of its digest)",
    ),
    spec(
        "ImageInventory/Images/<x>/Name",
        Chr,
        GAR,
        None,
        "the image's name (free text)",
    ),
    spec(
        "ImageInventory/Images/<x>/URL",
        Chr,
        GAR,
        None,
        "where the gateway downloads it (http or https)",
    ),
    spec(
        "ImageInventory/Images/<x>/SHA256",
        Chr,
        GAR,
        None,
        "its SHA-256, 64 hex digits (required before Download or Data)",
    ),
    spec(
        "ImageInventory/Images/<x>/Size",
        Int,
        GAR,
        None,
        "its size in bytes: a download reads no more",
    ),
    spec(
        "ImageInventory/Images/<x>/Data",
        Bin,
        or(A, R),
        None,
        "the image itself (a large object) instead of a URL",
    ),
    spec(
        "ImageInventory/Images/<x>/Download",
        Null,
        E,
        None,
        "download from URL now (Correlator echoed in the imageready alert)",
    ),
    spec(
        "ImageInventory/Images/<x>/State",
        Chr,
        G,
        None,
        "created, downloading, ready, failed, disabled",
    ),
    spec(
        "ImageInventory/Images/<x>/LocalURI",
        Chr,
        G,
        None,
        "where End Devices fetch it (set when ready)",
    ),
    spec(
        "ImageInventory/Images/<x>/Enabled",
        Bool,
        GR,
        Some("true"),
        "false: the gateway does not serve it",
    ),
];

/// True for a variable segment (`<x>`, `<id>`, `<op>`).
fn is_variable_segment(seg: &str) -> bool {
    seg.starts_with('<') && seg.ends_with('>')
}

/// The spec of the node at `path` (relative to `./GwMO`, e.g.
/// `DeviceInventory/Devices/IMEI:1/Mode`), a variable segment of the table matching any one
/// segment. `None` for a node outside the layout.
#[must_use]
pub fn lookup(path: &str) -> Option<&'static NodeSpec> {
    let segs: Vec<&str> = path.split('/').collect();
    NODES.iter().find(|n| {
        let mut pattern = n.path.split('/');
        let mut given = segs.iter();
        loop {
            match (pattern.next(), given.next()) {
                (None, None) => return true,
                (Some(p), Some(g)) if is_variable_segment(p) || p == *g => {}
                _ => return false,
            }
        }
    })
}

/// The MO roots of the layout.
pub fn roots() -> impl Iterator<Item = &'static NodeSpec> {
    NODES.iter().filter(|n| n.mo_id.is_some())
}

/// The ACL of every GwMO root: `Add`, `Delete`, `Exec`, `Get`, `Replace` for each of the
/// gateway's DM servers, nothing for others (docs/gwmo-objects.md).
///
/// # Errors
/// [`Error::NoServers`] for an empty list (an empty ACL would inherit the parent's);
/// [`Error::Tree`] for a server id an ACL cannot hold.
pub fn root_acl(servers: &[&str]) -> Result<Acl, Error> {
    if servers.is_empty() {
        return Err(Error::NoServers);
    }
    let ids = servers.join("+");
    let text = AclCommand::ALL
        .iter()
        .map(|c| format!("{}={ids}", c.name()))
        .collect::<Vec<_>>()
        .join("&");
    Ok(Acl::parse(&text)?)
}

/// The MO roots [`install`] creates: everything but `DeviceInventory` (mounted by the gateway).
pub const INSTALLED_ROOTS: [&str; 3] = ["GwConfig", "EDTrigger", "Fanout"];

/// Installs the static part of the GwMO tree: `./GwMO` (Get for the servers), and the
/// `GwConfig`, `EDTrigger` and `Fanout` roots with their `Type`, the ACL of [`root_acl`], and
/// every node of theirs that has no variable segment, leaves at their default. Nodes are permanent
/// with the table's access types. Nodes that exist already are left as they are (a restored
/// tree keeps its values), so calling it again is harmless.
///
/// # Errors
/// [`root_acl`]'s errors; [`Error::Tree`] if a conflicting node is in the way.
pub fn install(tree: &mut Tree, servers: &[&str], now: dm_tree::Timestamp) -> Result<(), Error> {
    let acl = root_acl(servers)?;
    let top = mo::GWMO_ROOT;
    if tree.get(top).is_none() {
        let get_only = Acl::parse(&format!("Get={}", servers.join("+")))?;
        tree.insert(
            top,
            NewNode::interior().access(G).acl(get_only).permanent(),
            now,
        )?;
    }
    for n in NODES {
        let root_name = n.path.split('/').next().unwrap_or_default();
        if !INSTALLED_ROOTS.contains(&root_name) || n.path.split('/').any(is_variable_segment) {
            continue;
        }
        let path = format!("{top}/{}", n.path);
        if tree.get(&path).is_some() {
            continue;
        }
        let mut node = match n.format {
            Format::Node => NewNode::interior(),
            f => NewNode::leaf(n.default.unwrap_or_default()).format(f),
        }
        .access(n.access)
        .permanent();
        if let Some(id) = n.mo_id {
            node = node.mime_type(id).acl(acl.clone());
        }
        tree.insert(&path, node, now)?;
    }
    Ok(())
}

/// The node name of a device id: `%` → `%25`, `/` → `%2F` (docs/gateway.md §2). Total and
/// injective; [`unescape_device_id`] inverts it. (The tree's URI form escapes the name again:
/// see [`device_uri`].)
#[must_use]
pub fn escape_device_id(id: &str) -> Cow<'_, str> {
    if !id.contains(['%', '/']) {
        return Cow::Borrowed(id);
    }
    let mut out = String::with_capacity(id.len() + 8);
    for c in id.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The device id of a node name made by [`escape_device_id`].
///
/// # Errors
/// [`Error::NodeNameEscape`] for a `%` not followed by `25` or `2F` (the only escapes
/// [`escape_device_id`] writes; accepting others would give one id two names).
pub fn unescape_device_id(name: &str) -> Result<Cow<'_, str>, Error> {
    if !name.contains('%') {
        return Ok(Cow::Borrowed(name));
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('%') {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let c = match tail.get(..3) {
            Some("%25") => '%',
            Some("%2F") => '/',
            _ => {
                return Err(Error::NodeNameEscape {
                    name: crate::error::peer_text(name),
                    offset: name.len() - tail.len(),
                });
            }
        };
        out.push(c);
        rest = tail.get(3..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// The absolute URI of a device's inventory node, `./GwMO/DeviceInventory/Devices/<id>` (the
/// node name in URI form).
#[must_use]
pub fn device_uri(id: &str) -> String {
    format!(
        "{}/DeviceInventory/Devices/{}",
        mo::GWMO_ROOT,
        dm_tree::uri::escape_segment(&escape_device_id(id))
    )
}

/// The absolute URI of an operation's node, `./GwMO/Fanout/Operations/<op>`.
#[must_use]
pub fn operation_uri(op: &str) -> String {
    format!(
        "{}/Fanout/Operations/{}",
        mo::GWMO_ROOT,
        dm_tree::uri::escape_segment(op)
    )
}

/// The absolute URI of a target's response, `./GwMO/Fanout/Operations/<op>/Devices/<id>/Response`.
#[must_use]
pub fn response_uri(op: &str, id: &str) -> String {
    format!(
        "{}/Devices/{}/Response",
        operation_uri(op),
        dm_tree::uri::escape_segment(&escape_device_id(id))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_tree::{ExecContext, Timestamp};
    use proptest::prelude::*;
    use syncml::{Command, Item, ItemCmd, Location, StatusCode};

    #[test]
    fn table_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for n in NODES {
            assert!(seen.insert(n.path), "{} twice", n.path);
            if let Some((parent, _)) = n.path.rsplit_once('/') {
                let p = NODES.iter().find(|m| m.path == parent);
                assert!(
                    p.is_some_and(|p| p.format == Format::Node),
                    "{}: no parent",
                    n.path
                );
            } else {
                assert!(n.mo_id.is_some(), "{}: a root without an MO id", n.path);
            }
            assert!(n.format != Format::Node || n.default.is_none());
        }
        assert_eq!(roots().count(), 5);
    }

    #[test]
    fn lookup_matches_variable_segments() {
        let n = lookup("DeviceInventory/Devices/IMEI:1/Mode").unwrap();
        assert_eq!((n.format, n.access), (Format::Chr, GR));
        assert_eq!(lookup("Fanout").and_then(|n| n.mo_id), Some(mo::FANOUT));
        assert!(lookup("Fanout/Operations/j1/Nope").is_none());
        assert!(lookup("DeviceInventory/Devices").is_some());
        assert!(lookup("DeviceInventory/Devices/a/Mode/x").is_none());
    }

    /// The doc can not drift from the table: docs/gwmo-objects.md lists exactly [`NODES`]
    /// (roots in the section headings, the others in the section tables).
    #[test]
    fn doc_lists_exactly_the_table() {
        let doc = include_str!("../../../docs/gwmo-objects.md");
        let mut found: Vec<(String, String, String, Option<String>)> = Vec::new();
        let mut root: Option<String> = None;
        let mut columns: Vec<String> = Vec::new();
        for line in doc.lines() {
            if let Some(h) = line.strip_prefix("## ./GwMO/") {
                let (name, rest) = h.split_once(' ').unwrap();
                let mo_id = rest.split('`').nth(1).unwrap();
                let spec = NODES.iter().find(|n| n.path == name).expect(name);
                assert_eq!(spec.mo_id, Some(mo_id), "{name}");
                found.push((name.into(), "root".into(), String::new(), None));
                root = Some(name.to_owned());
                columns.clear();
                continue;
            }
            if line.starts_with("## ") {
                root = None;
                continue;
            }
            let Some(r) = &root else { continue };
            if !line.starts_with('|') {
                continue;
            }
            let cells: Vec<String> = line
                .replace("\\|", "\u{1}")
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('\u{1}', "|"))
                .collect();
            if columns.is_empty() {
                columns = cells;
                continue;
            }
            if cells[0].starts_with("---") {
                continue;
            }
            let col = |name: &str| {
                columns
                    .iter()
                    .position(|c| c == name)
                    .map(|i| cells[i].clone())
            };
            let format = col("format").unwrap();
            let access = col("access").unwrap();
            let default = col("default")
                .filter(|d| !d.is_empty())
                .map(|d| d.trim_matches('`').to_owned());
            // `A/B`, `C`: a sibling without `/` is written by its last segment.
            let mut parent = String::new();
            for (i, name) in cells[0].split(", ").enumerate() {
                let name = name.trim_matches('`');
                let full = if i == 0 || name.contains('/') {
                    parent = name
                        .rsplit_once('/')
                        .map_or(String::new(), |(p, _)| format!("{p}/"));
                    format!("{r}/{name}")
                } else {
                    format!("{r}/{parent}{name}")
                };
                found.push((full, format.clone(), access.clone(), default.clone()));
            }
        }
        let letters = |a: AccessType| {
            [(A, "A"), (D, "D"), (E, "E"), (G, "G"), (R, "R")]
                .iter()
                .filter(|(f, _)| a.contains(*f))
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
        };
        let mut expected: Vec<_> = NODES
            .iter()
            .map(|n| {
                if n.mo_id.is_some() {
                    (n.path.to_owned(), "root".to_owned(), String::new(), None)
                } else {
                    let mut l = letters(n.access);
                    l.sort();
                    (
                        n.path.to_owned(),
                        n.format.name().to_owned(),
                        l.join(" "),
                        n.default.map(str::to_owned),
                    )
                }
            })
            .collect();
        let mut found: Vec<_> = found
            .into_iter()
            .map(|(p, f, a, d)| {
                let mut l: Vec<&str> = a.split_whitespace().collect();
                l.sort();
                (p, f, l.join(" "), d)
            })
            .collect();
        expected.sort();
        found.sort();
        assert_eq!(found, expected);
    }

    fn ctx() -> ExecContext<'static> {
        ExecContext {
            server_id: "srv1",
            msg_id: "1",
            now: Timestamp(1_700_000_000),
        }
    }

    #[test]
    fn install_builds_roots_with_types_acls_and_defaults() {
        let mut tree = Tree::new();
        install(&mut tree, &["srv1", "srv2"], Timestamp(1)).unwrap();
        for r in INSTALLED_ROOTS {
            let node = tree.get(&format!("./GwMO/{r}")).unwrap();
            assert_eq!(node.mime_type(), lookup(r).unwrap().mo_id);
            assert_eq!(
                node.acl().to_string(),
                "Add=srv1+srv2&Delete=srv1+srv2&Exec=srv1+srv2&Get=srv1+srv2&Replace=srv1+srv2"
            );
        }
        assert!(tree.get("./GwMO/DeviceInventory").is_none());
        assert_eq!(tree.value_str("./GwMO/GwConfig/LeaseSeconds"), Some("3600"));
        assert_eq!(
            tree.get("./GwMO/GwConfig/InformNewDevices")
                .unwrap()
                .format(),
            Format::Bool
        );
        assert!(tree.get("./GwMO/Fanout/Operations").is_some());
        assert!(tree.get("./GwMO/EDTrigger/Notify").is_some());
        // Idempotent, values kept.
        tree.set_value("./GwMO/GwConfig/LeaseSeconds", "60".into(), Timestamp(2))
            .unwrap();
        install(&mut tree, &["srv1", "srv2"], Timestamp(3)).unwrap();
        assert_eq!(tree.value_str("./GwMO/GwConfig/LeaseSeconds"), Some("60"));

        // A server can add a rule; another server can read nothing.
        let add = |uri: &str, data: &str| {
            Command::Add(ItemCmd {
                cmd_id: "2".into(),
                items: vec![Item {
                    target: Some(Location::uri(uri)),
                    data: Some(data.into()),
                    ..Item::default()
                }],
                ..ItemCmd::default()
            })
        };
        let code = |replies: Vec<Command>| match replies.first() {
            Some(Command::Status(s)) => s.code,
            other => panic!("{other:?}"),
        };
        let r = tree.execute(
            &ctx(),
            &add("./GwMO/GwConfig/ModeRules/r1/Mode", "Transparent"),
        );
        assert_eq!(code(r), StatusCode::OK);
        let other = ExecContext {
            server_id: "evil",
            ..ctx()
        };
        let r = tree.execute(
            &other,
            &add("./GwMO/GwConfig/ModeRules/r2/Mode", "Transparent"),
        );
        assert_eq!(code(r), StatusCode::PERMISSION_DENIED);
        let get = Command::Get(ItemCmd {
            cmd_id: "3".into(),
            items: vec![Item {
                target: Some(Location::uri("./GwMO/GwConfig/DefaultMode")),
                ..Item::default()
            }],
            ..ItemCmd::default()
        });
        assert_eq!(
            code(tree.execute(&other, &get)),
            StatusCode::PERMISSION_DENIED
        );
        // Replace on a Get-only... and a Delete of a permanent node is refused.
        let del = Command::Delete(ItemCmd {
            cmd_id: "4".into(),
            items: vec![Item {
                target: Some(Location::uri("./GwMO/GwConfig/LeaseSeconds")),
                ..Item::default()
            }],
            ..ItemCmd::default()
        });
        assert_eq!(
            code(tree.execute(&ctx(), &del)),
            StatusCode::COMMAND_NOT_ALLOWED
        );
    }

    #[test]
    fn acl_needs_servers_and_valid_ids() {
        assert_eq!(root_acl(&[]), Err(Error::NoServers));
        assert!(matches!(root_acl(&["a b"]), Err(Error::Tree(_))));
        assert!(matches!(
            install(&mut Tree::new(), &[], Timestamp(0)),
            Err(Error::NoServers)
        ));
    }

    #[test]
    fn device_id_escaping() {
        assert_eq!(escape_device_id("IMEI:1"), "IMEI:1");
        assert!(matches!(escape_device_id("IMEI:1"), Cow::Borrowed(_)));
        assert_eq!(escape_device_id("a/b%c"), "a%2Fb%25c");
        assert_eq!(unescape_device_id("a%2Fb%25c").unwrap(), "a/b%c");
        for bad in ["%", "%2", "%2f", "%41", "a%zz", "%25%"] {
            assert!(
                matches!(unescape_device_id(bad), Err(Error::NodeNameEscape { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            unescape_device_id("ab%4"),
            Err(Error::NodeNameEscape { offset: 2, .. })
        ));
        assert_eq!(
            device_uri("a/b c"),
            "./GwMO/DeviceInventory/Devices/a%252Fb%20c"
        );
        assert_eq!(
            response_uri("j1", "IMEI:1"),
            "./GwMO/Fanout/Operations/j1/Devices/IMEI:1/Response"
        );
        // The URI reads back as the escaped node name.
        let uri =
            dm_tree::Uri::parse(&device_uri("x/%y?"), &dm_tree::UriLimits::default()).unwrap();
        assert_eq!(uri.segments().last().map(String::as_str), Some("x%2F%25y?"));
    }

    proptest! {
        /// Escaping is total and inverted by unescaping; the name never holds `/`.
        #[test]
        fn escape_round_trip(id in ".{0,24}") {
            let name = escape_device_id(&id);
            prop_assert!(!name.contains('/'));
            prop_assert_eq!(unescape_device_id(&name).unwrap(), id.as_str());
        }

        /// Unescaping never panics and, where it succeeds, escaping gives the name back.
        #[test]
        fn unescape_is_total(name in "[%2F5a]{0,12}") {
            if let Ok(id) = unescape_device_id(&name) {
                prop_assert_eq!(escape_device_id(&id), name.as_str());
            }
        }
    }
}
