//! `./DevInfo` (MO id `urn:oma:mo:oma-dm-devinfo:1.0`, digest §5.5) and the Package 1
//! `Replace` items.

use syncml::{Data, Item, Location, Meta};

use crate::acl::Acl;
use crate::error::Error;
use crate::node::{AccessType, Format, NewNode, NodeKind, Timestamp};
use crate::tree::{ROOT, Tree};

/// MO identifier stamped as the `Type` of `./DevInfo`.
pub const MO_ID: &str = "urn:oma:mo:oma-dm-devinfo:1.0";
/// Where the DevInfo MO lives.
pub const ROOT_URI: &str = "./DevInfo";

/// The DevInfo leaf values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DevInfo {
    /// `DevId`: globally unique device id (e.g. `IMEI:...`); should equal the client's
    /// `SyncHdr/Source/LocURI`.
    pub dev_id: String,
    /// `Man`: manufacturer.
    pub man: String,
    /// `Mod`: model.
    pub model: String,
    /// `DmV`: DM client version.
    pub dm_v: String,
    /// `Lang`: current UI language.
    pub lang: String,
}

/// Creates or updates a permanent, Get-only leaf (local API).
pub(crate) fn upsert_leaf(
    tree: &mut Tree,
    path: &str,
    value: Data,
    spec: NewNode,
    now: Timestamp,
) -> Result<(), Error> {
    if tree.get(path).is_some() {
        tree.set_value(path, value, now)
    } else {
        tree.insert(
            path,
            NewNode {
                value: Some(value),
                ..spec
            },
            now,
        )
        .map(|_| ())
    }
}

/// Creates an interior node unless it exists (local API).
pub(crate) fn ensure_interior(
    tree: &mut Tree,
    path: &str,
    spec: NewNode,
    now: Timestamp,
) -> Result<(), Error> {
    if tree.get(path).is_none() {
        tree.insert(path, spec, now)?;
    }
    Ok(())
}

/// The read-only shape used for standard MO nodes: permanent, Get only.
pub(crate) fn get_only_leaf() -> NewNode {
    NewNode::leaf("")
        .format(Format::Chr)
        .access(AccessType::GET)
        .permanent()
}

/// Installs (or updates the values of) `./DevInfo` with `DevId`, `Man`, `Mod`, `DmV`, `Lang`
/// and an empty `Ext`. Every node is permanent and Get-only; the MO root has ACL `Get=*`.
///
/// # Errors
/// [`Error::NotInterior`] or [`Error::NotLeaf`] if a conflicting node is in the way.
pub fn install(tree: &mut Tree, info: &DevInfo, now: Timestamp) -> Result<(), Error> {
    let root = NewNode::interior()
        .mime_type(MO_ID)
        .access(AccessType::GET)
        .acl(Acl::parse("Get=*")?)
        .permanent();
    ensure_interior(tree, ROOT_URI, root, now)?;
    for (name, value) in [
        ("DevId", &info.dev_id),
        ("Man", &info.man),
        ("Mod", &info.model),
        ("DmV", &info.dm_v),
        ("Lang", &info.lang),
    ] {
        let path = format!("{ROOT_URI}/{name}");
        upsert_leaf(tree, &path, Data::Text(value.clone()), get_only_leaf(), now)?;
    }
    let ext = NewNode::interior().access(AccessType::GET).permanent();
    ensure_interior(tree, &format!("{ROOT_URI}/Ext"), ext, now)
}

/// Every leaf under `./DevInfo` (Ext included), in tree order, as `Item`s with
/// `Source/LocURI` = the node URI, `Meta/Format` and the value: the body of the `Replace` a
/// client sends in Package 1 (digest §3.2). Empty if `./DevInfo` is missing.
#[must_use]
pub fn items(tree: &Tree) -> Vec<Item> {
    let Some(id) = tree.child(ROOT, "DevInfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    tree.walk(id, &mut |t, n| {
        let Some(node) = t.node(n) else { return };
        if let NodeKind::Leaf(v) = &node.kind {
            out.push(Item {
                source: Some(Location::uri(t.uri_of(n).to_absolute_string())),
                meta: Some(Meta {
                    format: Some(node.format.name().to_owned()),
                    r#type: node.mime.clone(),
                    ..Meta::default()
                }),
                data: Some(v.clone()),
                ..Item::default()
            });
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_and_items() {
        let mut t = Tree::new();
        let info = DevInfo {
            dev_id: "IMEI:1".into(),
            man: "Acme".into(),
            model: "GW1".into(),
            dm_v: "1.2".into(),
            lang: "en".into(),
        };
        install(&mut t, &info, Timestamp(5)).unwrap();
        assert_eq!(t.get(ROOT_URI).unwrap().mime_type(), Some(MO_ID));
        let items = items(&t);
        let uris: Vec<_> = items
            .iter()
            .map(|i| i.source.as_ref().unwrap().loc_uri.as_str())
            .collect();
        assert_eq!(
            uris,
            [
                "./DevInfo/DevId",
                "./DevInfo/DmV",
                "./DevInfo/Lang",
                "./DevInfo/Man",
                "./DevInfo/Mod"
            ]
        );
        assert_eq!(items[0].data, Some(Data::Text("IMEI:1".into())));
        assert_eq!(
            items[0].meta.as_ref().unwrap().format.as_deref(),
            Some("chr")
        );
        // Re-install updates values in place.
        install(
            &mut t,
            &DevInfo {
                lang: "fr".into(),
                ..info
            },
            Timestamp(6),
        )
        .unwrap();
        assert_eq!(t.value_str("./DevInfo/Lang"), Some("fr"));
    }
}
