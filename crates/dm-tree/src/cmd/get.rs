//! `Get`: values, child lists, properties and subtree listings (digest §3.5, §5.2, §5.9).
//!
//! - Leaf: one Results item with `Source/LocURI` = the target as sent, `Meta` Format (and Type
//!   when set) and the value.
//! - Interior: the child names joined by `/` (empty `Data` when there are none), Format `node`.
//! - `?prop=X`: the property as text (Format `chr`); ACL Get on the node is needed (425), the
//!   AccessType is not consulted. Absent optional properties (Title, Type, TStamp) give an
//!   empty value; `Size` of an interior node gives 406.
//! - `?list=Struct|StructData`: one item per node in pre-order (the node itself first), each with
//!   `Source/LocURI` and `Meta`; StructData adds leaf values. Nodes the server may not Get (ACL)
//!   are skipped; values of nodes whose AccessType lacks Get are left out.
//! - `?list=TNDS+...`: one item holding a TNDS `MgmtTree` (`Data::Xml`, Meta Type
//!   `application/vnd.syncml.dmtnds+xml`, Format `xml`).
//! - Plain and listing Gets need AccessType Get (405) and ACL Get (425) on the target.

use syncml::{Command, Data, Item, ItemCmd, Location, Meta, StatusCode};

use super::{ExecContext, ItemOutcome, per_item, target_of};
use crate::acl::AclCommand;
use crate::node::{AccessType, Format, Node, NodeId, NodeKind};
use crate::tnds::{self, TNDS_XML};
use crate::tree::Tree;
use crate::uri::{ListKind, Property, Query, Uri};

pub(crate) fn execute(tree: &mut Tree, ctx: &ExecContext<'_>, c: &ItemCmd) -> Vec<Command> {
    per_item(ctx, "Get", c, |item| {
        let Some(target) = target_of(item) else {
            return StatusCode::INCOMPLETE_COMMAND.into();
        };
        match get(tree, ctx, target) {
            Ok(items) => ItemOutcome {
                code: StatusCode::OK,
                status_items: Vec::new(),
                results: Some(items),
            },
            Err(code) => code.into(),
        }
    })
}

fn meta(format: &str, mime: Option<&str>) -> Option<Meta> {
    Some(Meta {
        format: Some(format.to_owned()),
        r#type: mime.map(str::to_owned),
        ..Meta::default()
    })
}

fn check_get(tree: &Tree, ctx: &ExecContext<'_>, id: NodeId) -> Result<(), StatusCode> {
    let node = tree.node(id).ok_or(StatusCode::NOT_FOUND)?;
    if !node.access().contains(AccessType::GET) {
        return Err(StatusCode::COMMAND_NOT_ALLOWED);
    }
    if !tree.permits(id, AclCommand::Get, ctx.server_id) {
        return Err(StatusCode::PERMISSION_DENIED);
    }
    Ok(())
}

fn get(tree: &Tree, ctx: &ExecContext<'_>, target: &str) -> Result<Vec<Item>, StatusCode> {
    let uri = tree.parse_uri(target).map_err(|e| e.status())?;
    let id = tree.resolve(uri.segments()).ok_or(StatusCode::NOT_FOUND)?;
    let node = tree.node(id).ok_or(StatusCode::NOT_FOUND)?;
    match uri.query() {
        None => {
            check_get(tree, ctx, id)?;
            Ok(vec![node_item(node, target.to_owned(), true)])
        }
        Some(Query::Prop(p)) => {
            if !tree.permits(id, AclCommand::Get, ctx.server_id) {
                return Err(StatusCode::PERMISSION_DENIED);
            }
            let value = property(node, p)?;
            Ok(vec![Item {
                source: Some(Location::uri(target)),
                meta: meta("chr", None),
                data: Some(Data::Text(value)),
                ..Item::default()
            }])
        }
        Some(Query::List(kind)) => {
            check_get(tree, ctx, id)?;
            Ok(list(tree, ctx, id, &uri, kind))
        }
    }
}

/// The Results item for a node: value (leaf) or child list (interior).
fn node_item(node: &Node, source: String, with_data: bool) -> Item {
    let data = match &node.kind {
        NodeKind::Leaf(v) => with_data.then(|| v.clone()),
        NodeKind::Interior(_) => {
            with_data.then(|| Data::Text(node.child_names().collect::<Vec<_>>().join("/")))
        }
    };
    Item {
        source: Some(Location::uri(source)),
        meta: meta(node.format().name(), node.mime_type()),
        data,
        ..Item::default()
    }
}

fn property(node: &Node, p: Property) -> Result<String, StatusCode> {
    Ok(match p {
        Property::Acl => node.acl().to_string(),
        Property::Format => node.format().name().to_owned(),
        Property::Name => node.name().to_owned(),
        Property::Size => match node.size() {
            Some(s) => s.to_string(),
            None => return Err(StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED),
        },
        Property::Title => node.title().unwrap_or_default().to_owned(),
        Property::TStamp => node
            .tstamp()
            .map(|t| t.to_iso8601_basic())
            .unwrap_or_default(),
        Property::Type => node.mime_type().unwrap_or_default().to_owned(),
        Property::VerNo => node.verno().to_string(),
    })
}

fn list(tree: &Tree, ctx: &ExecContext<'_>, id: NodeId, uri: &Uri, kind: ListKind) -> Vec<Item> {
    match kind {
        ListKind::Tnds(fields) => vec![Item {
            source: Some(Location::uri(uri.to_string())),
            meta: meta(Format::Xml.name(), Some(TNDS_XML)),
            data: Some(Data::Xml(tnds::write(tree, id, fields, ctx.server_id))),
            ..Item::default()
        }],
        ListKind::Struct | ListKind::StructData => {
            let with_data = kind == ListKind::StructData;
            let base = uri.without_query();
            let base_depth = tree.uri_of(id).depth();
            let mut items = Vec::new();
            tree.walk(id, &mut |t, n| {
                let Some(node) = t.node(n) else { return };
                if !t.permits(n, AclCommand::Get, ctx.server_id) {
                    return;
                }
                let full = t.uri_of(n);
                let mut u = base.clone();
                for s in full.segments().get(base_depth..).unwrap_or_default() {
                    u = u.join(s);
                }
                let data = with_data && node.is_leaf() && node.access().contains(AccessType::GET);
                items.push(node_item(node, u.path_string(), data));
            });
            items
        }
    }
}
