//! `./GwMO/DeviceInventory` (`urn:oma:mo:oma-gwmo-deviceinventory:1.1`): the inventory as a
//! mounted subtree of the northbound tree (nothing is copied into the tree: GwMO-DI-001/002 for
//! 10,000 devices), and the registration of End Devices (seed 001 X.1-X.2).
//!
//! Nodes: `Summary/<counter>`, `Devices/<id>/<leaf>` and `Groups/<g>/<leaf>` of
//! `docs/gwmo-objects.md`. A Replace of `Devices/<id>/Mode` moves the device to that mode; a
//! Delete of `Devices/<id>` forgets it. Groups (GwMO-Group-001/002, docs/gateway.md §8): an Add
//! of `Groups/<g>` creates one (also implicitly, by an Add of one of its leaves), `Members` and
//! `Match` are set by Add or Replace, `Size` counts the members now, a Delete of `Groups/<g>`
//! removes it; each change is stored before its Status leaves. Bounds: 413 for a `Members` or
//! `Match` value over its bound, 420 beyond 1,024 groups, 400 for a malformed value.

use std::sync::Arc;

use dm_tree::{AccessType, Change, Format, MountContext, MountNode, NewNode, NodeProvider};
use gwmo::group::{Group, status_of};
use gwmo::inventory::DeviceRecord;
use gwmo::layout;
use gwmo::mode::Mode;
use syncml::{Data, StatusCode};

use crate::state::{Directory, Shared, Write, lock};

/// The mount point.
pub(crate) const MOUNT: &str = "./GwMO/DeviceInventory";

const SUMMARY: [&str; 8] = [
    "Total",
    "Attached",
    "Detached",
    "Proxy",
    "Transparent",
    "Adaptation",
    "EndDevices",
    "Gateways",
];

const DEVICE_LEAVES: [&str; 13] = [
    "DeviceID",
    "Kind",
    "Mode",
    "Protocol",
    "Address",
    "Status",
    "LastSeen",
    "Registered",
    "Man",
    "Mod",
    "DmV",
    "Lang",
    "Servers",
];

/// The provider of `./GwMO/DeviceInventory`.
pub(crate) struct InventoryTree {
    shared: Arc<Shared>,
}

impl InventoryTree {
    pub(crate) fn new(shared: Arc<Shared>) -> InventoryTree {
        InventoryTree { shared }
    }
}

fn interior(access: AccessType) -> Option<MountNode> {
    Some(MountNode::from(NewNode::interior().access(access)))
}

fn leaf(value: String, format: Format, access: AccessType) -> Option<MountNode> {
    Some(MountNode::from(
        NewNode::leaf(value).format(format).access(access),
    ))
}

fn device_leaf(r: &DeviceRecord, name: &str) -> Option<MountNode> {
    let text = |s: &str| leaf(s.to_owned(), Format::Chr, AccessType::GET);
    match name {
        "DeviceID" => text(&r.id),
        "Kind" => text(r.kind.as_str()),
        "Mode" => leaf(
            r.mode.as_str().to_owned(),
            Format::Chr,
            AccessType::GET | AccessType::REPLACE,
        ),
        "Protocol" => text(r.protocol.as_str()),
        "Address" => text(
            &r.addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        "Status" => text(r.presence.as_str()),
        "LastSeen" => leaf(r.last_seen.0.to_string(), Format::Int, AccessType::GET),
        "Registered" => leaf(r.registered.0.to_string(), Format::Int, AccessType::GET),
        "Man" => text(&r.dev_info.man),
        "Mod" => text(&r.dev_info.model),
        "DmV" => text(&r.dev_info.dm_v),
        "Lang" => text(&r.dev_info.lang),
        "Servers" => text(&r.servers.join(",")),
        _ => None,
    }
}

const GROUP_LEAVES: [&str; 3] = ["Match", "Members", "Size"];

fn group_leaf(d: &Directory, g: &Group, name: &str) -> Option<MountNode> {
    let settable = AccessType::GET | AccessType::ADD | AccessType::REPLACE;
    match name {
        // Like `Match`, created by an Add (it does not exist while empty).
        "Members" if !g.members.is_empty() => leaf(g.members.join(","), Format::Chr, settable),
        "Match" => g
            .matcher
            .as_ref()
            .and_then(|m| leaf(m.to_form(), Format::Chr, settable)),
        "Size" => leaf(
            g.size(d.inventory.iter()).to_string(),
            Format::Int,
            AccessType::GET,
        ),
        _ => None,
    }
}

fn device_id(name: &str) -> Result<String, StatusCode> {
    layout::unescape_device_id(name)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| StatusCode::NOT_FOUND)
}

impl NodeProvider for InventoryTree {
    fn node(&self, path: &[String]) -> Result<Option<MountNode>, StatusCode> {
        let d = lock(&self.shared.directory);
        let s = d.inventory.summary();
        Ok(match path {
            [top] if top == "Summary" || top == "Devices" => interior(AccessType::GET),
            [top] if top == "Groups" => interior(AccessType::GET | AccessType::ADD),
            [top, name] if top == "Groups" => d
                .groups
                .get(name)
                .and_then(|_| interior(AccessType::GET | AccessType::ADD | AccessType::DELETE)),
            [top, name, field] if top == "Groups" => {
                d.groups.get(name).and_then(|g| group_leaf(&d, g, field))
            }
            [top, counter] if top == "Summary" => {
                let v = match counter.as_str() {
                    "Total" => s.total,
                    "Attached" => s.attached,
                    "Detached" => s.detached,
                    "Proxy" => s.proxy,
                    "Transparent" => s.transparent,
                    "Adaptation" => s.adaptation,
                    "EndDevices" => s.end_devices,
                    "Gateways" => s.gateways,
                    _ => return Ok(None),
                };
                leaf(v.to_string(), Format::Int, AccessType::GET)
            }
            [top, name] if top == "Devices" => d
                .inventory
                .get(&device_id(name)?)
                .and_then(|_| interior(AccessType::GET | AccessType::DELETE)),
            [top, name, field] if top == "Devices" => d
                .inventory
                .get(&device_id(name)?)
                .and_then(|r| device_leaf(r, field)),
            _ => None,
        })
    }

    fn children(&self, path: &[String]) -> Result<Vec<String>, StatusCode> {
        let d = lock(&self.shared.directory);
        Ok(match path {
            [] => vec![
                "Devices".to_owned(),
                "Groups".to_owned(),
                "Summary".to_owned(),
            ],
            [top] if top == "Groups" => d.groups.iter().map(|(n, _)| n.clone()).collect(),
            [top, name] if top == "Groups" => d
                .groups
                .get(name)
                .map(|g| {
                    GROUP_LEAVES
                        .iter()
                        .filter(|l| group_leaf(&d, g, l).is_some())
                        .map(|l| (*l).to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            [top] if top == "Summary" => SUMMARY.iter().map(|s| (*s).to_owned()).collect(),
            [top] if top == "Devices" => d
                .inventory
                .iter()
                .map(|r| layout::escape_device_id(&r.id).into_owned())
                .collect(),
            [top, _] if top == "Devices" => DEVICE_LEAVES.iter().map(|s| (*s).to_owned()).collect(),
            _ => Vec::new(),
        })
    }

    fn replace(
        &mut self,
        _ctx: &MountContext<'_>,
        path: &[String],
        change: Change,
    ) -> dm_tree::Answer<StatusCode> {
        let code = match (path, change) {
            ([top, name, field], Change::Value { data, .. })
                if top == "Devices" && field == "Mode" =>
            {
                self.set_mode(name, &data)
            }
            ([top, name, field], Change::Value { data, .. }) if top == "Groups" => {
                self.set_group_leaf(name, field, &data, false)
            }
            _ => StatusCode::COMMAND_NOT_ALLOWED,
        };
        dm_tree::Answer::Ready(code)
    }

    fn add(
        &mut self,
        _ctx: &MountContext<'_>,
        path: &[String],
        node: NewNode,
    ) -> dm_tree::Answer<StatusCode> {
        let code = match path {
            [top, name] if top == "Groups" => {
                if node.value.is_some() {
                    StatusCode::COMMAND_NOT_ALLOWED
                } else {
                    let mut d = lock(&self.shared.directory);
                    match d.groups.create(name) {
                        Ok(()) => {
                            self.shared
                                .queue(Write::Group(name.clone(), Group::default()));
                            StatusCode::OK
                        }
                        Err(e) => status_of(&e),
                    }
                }
            }
            [top, name, field] if top == "Groups" => match node.value {
                Some(data) => self.set_group_leaf(name, field, &data, true),
                None => StatusCode::COMMAND_NOT_ALLOWED,
            },
            _ => StatusCode::COMMAND_NOT_ALLOWED,
        };
        dm_tree::Answer::Ready(code)
    }

    fn delete(&mut self, _ctx: &MountContext<'_>, path: &[String]) -> dm_tree::Answer<StatusCode> {
        let code = match path {
            [top, name] if top == "Groups" => {
                match lock(&self.shared.directory).groups.remove(name) {
                    Ok(_) => {
                        self.shared.queue(Write::ForgetGroup(name.clone()));
                        StatusCode::OK
                    }
                    Err(e) => status_of(&e),
                }
            }
            [top, name] if top == "Devices" => match device_id(name) {
                Ok(id) => {
                    let forgotten = lock(&self.shared.directory).inventory.forget(&id).is_ok();
                    if forgotten {
                        self.shared.drain_inventory_events();
                        StatusCode::OK
                    } else {
                        StatusCode::NOT_FOUND
                    }
                }
                Err(c) => c,
            },
            _ => StatusCode::COMMAND_NOT_ALLOWED,
        };
        dm_tree::Answer::Ready(code)
    }
}

impl InventoryTree {
    /// Sets `Members` or `Match` of group `name` (`adding`: the leaf must not exist yet).
    fn set_group_leaf(&self, name: &str, field: &str, data: &Data, adding: bool) -> StatusCode {
        let Some(text) = data.as_str() else {
            return StatusCode::UNSUPPORTED_MEDIA_TYPE;
        };
        let mut d = lock(&self.shared.directory);
        let Some(g) = d.groups.get(name) else {
            return StatusCode::NOT_FOUND;
        };
        let exists = match field {
            "Members" => !g.members.is_empty(),
            "Match" => g.matcher.is_some(),
            _ => return StatusCode::COMMAND_NOT_ALLOWED,
        };
        if adding && exists {
            return StatusCode::ALREADY_EXISTS;
        }
        let done = if field == "Members" {
            d.groups.set_members(name, text).cloned()
        } else {
            d.groups
                .set_match(name, text, &syncml::Limits::default())
                .cloned()
        };
        match done {
            Ok(g) => {
                self.shared.queue(Write::Group(name.to_owned(), g));
                StatusCode::OK
            }
            Err(e) => status_of(&e),
        }
    }

    fn set_mode(&self, name: &str, data: &Data) -> StatusCode {
        let Ok(id) = device_id(name) else {
            return StatusCode::NOT_FOUND;
        };
        let Some(mode) = data.as_str().and_then(|t| Mode::parse(t.trim()).ok()) else {
            return StatusCode::BAD_REQUEST;
        };
        let mut d = lock(&self.shared.directory);
        let Some(r) = d.inventory.get(&id) else {
            return StatusCode::NOT_FOUND;
        };
        if !gwmo::mode::feasible(mode, r.protocol) {
            return StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED;
        }
        if d.inventory.set_mode(&id, mode).is_err() {
            return StatusCode::NOT_FOUND;
        }
        if let Some(r) = d.inventory.get(&id).cloned() {
            drop(d);
            self.shared.queue(Write::Device(r));
        }
        StatusCode::OK
    }
}
