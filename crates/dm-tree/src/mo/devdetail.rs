//! `./DevDetail` (MO id `urn:oma:mo:oma-dm-devdetail:1.0`, digest §5.6).
//!
//! Installing it also sets the tree's [`UriLimits`] from `URI/MaxDepth|MaxTotLen|MaxSegLen`.

use syncml::Data;

use crate::acl::Acl;
use crate::error::Error;
use crate::mo::devinfo::{ensure_interior, get_only_leaf, upsert_leaf};
use crate::node::{AccessType, Format, NewNode, Timestamp};
use crate::tree::Tree;
use crate::uri::UriLimits;

/// MO identifier stamped as the `Type` of `./DevDetail`.
pub const MO_ID: &str = "urn:oma:mo:oma-dm-devdetail:1.0";
/// Where the DevDetail MO lives.
pub const ROOT_URI: &str = "./DevDetail";

/// The DevDetail leaf values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DevDetail {
    /// `DevTyp`: device type.
    pub dev_typ: String,
    /// `OEM`.
    pub oem: String,
    /// `FwV`: firmware version.
    pub fw_v: String,
    /// `SwV`: software version.
    pub sw_v: String,
    /// `HwV`: hardware version.
    pub hw_v: String,
    /// `LrgObj`: large objects supported.
    pub lrg_obj: bool,
    /// `URI/MaxDepth|MaxTotLen|MaxSegLen` (0 = unlimited).
    pub uri_limits: UriLimits,
}

/// Installs (or updates) `./DevDetail` with `URI/MaxDepth`, `URI/MaxTotLen`, `URI/MaxSegLen`
/// (Format `int`), `DevTyp`, `OEM`, `FwV`, `SwV`, `HwV`, `LrgObj` (Format `bool`) and an empty
/// `Ext`; permanent, Get-only nodes, ACL `Get=*` on the root. Sets the tree's URI limits.
///
/// # Errors
/// [`Error::NotInterior`] or [`Error::NotLeaf`] if a conflicting node is in the way.
pub fn install(tree: &mut Tree, d: &DevDetail, now: Timestamp) -> Result<(), Error> {
    // Install before applying the new limits, so our own paths always fit.
    let root = NewNode::interior()
        .mime_type(MO_ID)
        .access(AccessType::GET)
        .acl(Acl::parse("Get=*")?)
        .permanent();
    ensure_interior(tree, ROOT_URI, root, now)?;
    let interior = || NewNode::interior().access(AccessType::GET).permanent();
    ensure_interior(tree, &format!("{ROOT_URI}/URI"), interior(), now)?;
    let l = d.uri_limits;
    for (name, v) in [
        ("MaxDepth", l.max_depth),
        ("MaxTotLen", l.max_tot_len),
        ("MaxSegLen", l.max_seg_len),
    ] {
        let path = format!("{ROOT_URI}/URI/{name}");
        let spec = get_only_leaf().format(Format::Int);
        upsert_leaf(tree, &path, Data::Text(v.to_string()), spec, now)?;
    }
    for (name, value) in [
        ("DevTyp", &d.dev_typ),
        ("OEM", &d.oem),
        ("FwV", &d.fw_v),
        ("SwV", &d.sw_v),
        ("HwV", &d.hw_v),
    ] {
        let path = format!("{ROOT_URI}/{name}");
        upsert_leaf(tree, &path, Data::Text(value.clone()), get_only_leaf(), now)?;
    }
    let lrg = Data::Text(if d.lrg_obj { "true" } else { "false" }.to_owned());
    upsert_leaf(
        tree,
        &format!("{ROOT_URI}/LrgObj"),
        lrg,
        get_only_leaf().format(Format::Bool),
        now,
    )?;
    ensure_interior(tree, &format!("{ROOT_URI}/Ext"), interior(), now)?;
    tree.set_uri_limits(l);
    Ok(())
}

/// Reads the URI limits stored under `./DevDetail/URI` (missing or unparsable values count
/// as 0 = unlimited).
#[must_use]
pub fn uri_limits(tree: &Tree) -> UriLimits {
    let read = |n: &str| {
        tree.value_str(&format!("{ROOT_URI}/URI/{n}"))
            .and_then(|s| s.trim().parse::<u16>().ok())
            .unwrap_or(0)
    };
    UriLimits {
        max_depth: read("MaxDepth"),
        max_tot_len: read("MaxTotLen"),
        max_seg_len: read("MaxSegLen"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_sets_limits() {
        let mut t = Tree::new();
        let limits = UriLimits {
            max_depth: 6,
            max_tot_len: 127,
            max_seg_len: 32,
        };
        let d = DevDetail {
            dev_typ: "gateway".into(),
            lrg_obj: true,
            uri_limits: limits,
            ..DevDetail::default()
        };
        install(&mut t, &d, Timestamp(1)).unwrap();
        assert_eq!(t.uri_limits(), limits);
        assert_eq!(uri_limits(&t), limits);
        assert_eq!(t.value_str("./DevDetail/LrgObj"), Some("true"));
        assert_eq!(
            t.get("./DevDetail/URI/MaxDepth").unwrap().format(),
            Format::Int
        );
        assert_eq!(t.get(ROOT_URI).unwrap().mime_type(), Some(MO_ID));
    }
}
