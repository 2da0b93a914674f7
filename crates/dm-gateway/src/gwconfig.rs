//! `./GwMO/GwConfig` (`urn:oma:mo:oma-gwmo-config:1.1`): the values a DM server sets on the
//! gateway (inform switches GwMO-DI-005/010, default mode and mode rules GwMO-MOO-001, the
//! lease GwMO-DI-003). They live in the northbound tree's own nodes; [`apply`] reads them into
//! the shared state after every session. The configuration file seeds them on a fresh tree.

use dm_tree::{NewNode, Tree};
use gwmo::mode::{ModeRules, Rule};
use std::time::Duration;

use crate::Error;
use crate::config::Config;
use crate::state::{Shared, lock};

const ROOT: &str = "./GwMO/GwConfig";

/// Writes the file's initial `DefaultMode` and mode rules into a fresh tree.
///
/// # Errors
/// [`Error::Tree`] when a node cannot be written.
pub(crate) fn seed(tree: &mut Tree, config: &Config, now: dm_tree::Timestamp) -> Result<(), Error> {
    if let Some(mode) = &config.default_mode {
        tree.set_value(
            &format!("{ROOT}/DefaultMode"),
            syncml::Data::Text(mode.clone()),
            now,
        )?;
    }
    for r in &config.mode_rules {
        let base = format!("{ROOT}/ModeRules/{}", r.name);
        if tree.get(&base).is_some() {
            continue;
        }
        tree.insert(&base, NewNode::interior(), now)?;
        let leaf = |v: &str| NewNode::leaf(v.to_owned());
        tree.insert(&format!("{base}/Match"), leaf(&r.matcher), now)?;
        tree.insert(&format!("{base}/Mode"), leaf(&r.mode), now)?;
        tree.insert(&format!("{base}/Order"), leaf(&r.order.to_string()), now)?;
    }
    Ok(())
}

fn flag(tree: &Tree, leaf: &str, default: bool) -> bool {
    match tree.value_str(&format!("{ROOT}/{leaf}")).map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
        _ => default,
    }
}

/// The mode rules the tree holds; a rule that does not parse is skipped (and logged).
fn rules(tree: &Tree) -> ModeRules {
    let default = tree
        .value_str(&format!("{ROOT}/DefaultMode"))
        .and_then(|m| gwmo::mode::Mode::parse(m.trim()).ok())
        .unwrap_or(gwmo::mode::Mode::Proxy);
    let limits = syncml::Limits::default();
    let mut list = Vec::new();
    if let Some(node) = tree.get(&format!("{ROOT}/ModeRules")) {
        for name in node.child_names() {
            let base = format!("{ROOT}/ModeRules/{name}");
            let get = |leaf: &str| tree.value_str(&format!("{base}/{leaf}"));
            match Rule::from_leaves(
                name,
                get("Match").unwrap_or(""),
                get("Mode").unwrap_or(""),
                get("Order"),
                &limits,
            ) {
                Ok(r) => list.push(r),
                Err(e) => tracing::warn!(rule = %name, error = %e, "GwConfig mode rule skipped"),
            }
        }
    }
    ModeRules::new(default, list)
}

/// Reads `GwConfig/ImageStorage` and `ImageQuotaBytes` into the image store (after every
/// top-level command: a later command of the same message sees the change).
pub(crate) fn apply_images(shared: &Shared, tree: &Tree) {
    let storage = flag(tree, "ImageStorage", false);
    let quota = tree
        .value_str(&format!("{ROOT}/ImageQuotaBytes"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut images = lock(&shared.images);
    images.storage = storage;
    if let Some(q) = quota {
        images.quota = q;
    }
}

/// Reads `GwConfig` into the shared state.
pub(crate) fn apply(shared: &Shared, tree: &Tree) {
    apply_images(shared, tree);
    let rules = rules(tree);
    let lease = tree
        .value_str(&format!("{ROOT}/LeaseSeconds"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0);
    let mut d = lock(&shared.directory);
    d.rules = rules;
    d.inform_devices = flag(tree, "InformNewDevices", true);
    d.inform_gateways = flag(tree, "InformChildGateways", true);
    if let Some(s) = lease {
        d.inventory.set_default_lease(Duration::from_secs(s));
    }
}

/// Registers the Exec of `./GwMO/EDTrigger/Notify` (GwMO EDTrigger MO): `Data` is a device id;
/// a Proxy-mode device is notified (200, the Package 0 goes out at once), an unknown one gets
/// 404, a device in another mode 406 (a Transparent device is notified by its server, through
/// the relay).
///
/// # Errors
/// [`Error::Tree`] when the node cannot take a handler.
pub(crate) fn register_ed_trigger(
    tree: &mut Tree,
    shared: &std::sync::Arc<Shared>,
) -> Result<(), Error> {
    let shared = shared.clone();
    tree.register_exec(
        "./GwMO/EDTrigger/Notify",
        Box::new(move |req| {
            let Some(id) = req.data.and_then(|d| d.as_str()).map(str::trim) else {
                return dm_tree::ExecOutcome::code(syncml::StatusCode::BAD_REQUEST);
            };
            let mode = lock(&shared.directory).inventory.get(id).map(|r| r.mode);
            match mode {
                None => dm_tree::ExecOutcome::code(syncml::StatusCode::NOT_FOUND),
                Some(gwmo::mode::Mode::Proxy) => {
                    let _ = shared.triggers.send(id.to_owned());
                    dm_tree::ExecOutcome::ok()
                }
                Some(_) => {
                    dm_tree::ExecOutcome::code(syncml::StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED)
                }
            }
        }),
    )?;
    Ok(())
}
