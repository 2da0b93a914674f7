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
//! - Mounted subtrees ([`crate::mount`]): a listing includes a provider's nodes only when its
//!   target is the mount point or lies below it; a plain or listing Get of a command
//!   provider's mount point (or below) goes to the provider, `?prop=` of the mount point is
//!   the tree's.

use syncml::{Data, Item, ItemCmd, Location, Meta, StatusCode};

use super::forward::{Handover, forward, forwarding};
use super::{ExecContext, Executed, ItemOutcome, ItemReply, Run, per_item, target_of};
use crate::acl::AclCommand;
use crate::mount::ItemCommand;
use crate::mount::place::{Place, Pos, View};
use crate::node::{AccessType, Format};
use crate::tnds::{self, TNDS_XML};
use crate::tree::Tree;
use crate::uri::{ListKind, Property, Query, Uri};

pub(crate) fn execute(tree: &mut Tree, run: Run<'_>, c: &ItemCmd) -> Executed {
    per_item(run.ctx, "Get", c, |item| {
        let Some(target) = target_of(item) else {
            return StatusCode::INCOMPLETE_COMMAND.into();
        };
        let uri = match tree.parse_uri(target) {
            Ok(u) => u,
            Err(e) => return e.status().into(),
        };
        let place = tree.place(uri.segments());
        if let Some(at) = forwarded(tree, place, &uri) {
            let h = Handover::item(ItemCommand::Get, at, &uri, item, c.meta.as_ref());
            return forward(tree, run, &h);
        }
        let Some(pos) = tree.pos_of(place) else {
            return StatusCode::NOT_FOUND.into();
        };
        match get(tree, run.ctx, &pos, &uri, target) {
            Ok(items) => ItemReply::Done(ItemOutcome {
                code: StatusCode::OK,
                status_items: Vec::new(),
                results: Some(items),
            }),
            Err(code) => code.into(),
        }
    })
}

/// The command provider that answers this Get, if any: below its mount point, or its mount
/// point itself unless the Get asks for a property.
fn forwarded(tree: &Tree, place: Place<'_>, uri: &Uri) -> Option<(usize, crate::NodeId)> {
    match place {
        Place::Arena(id) if !matches!(uri.query(), Some(Query::Prop(_))) => tree
            .mount_of_point(id)
            .filter(|m| tree.forwards(*m))
            .map(|m| (m, id)),
        _ => forwarding(tree, place),
    }
}

fn meta(format: &str, mime: Option<&str>) -> Option<Meta> {
    Some(Meta {
        format: Some(format.to_owned()),
        r#type: mime.map(str::to_owned),
        ..Meta::default()
    })
}

fn check_get(
    tree: &Tree,
    ctx: &ExecContext<'_>,
    pos: &Pos,
    view: &View<'_>,
) -> Result<(), StatusCode> {
    if !view.access().contains(AccessType::GET) {
        return Err(StatusCode::COMMAND_NOT_ALLOWED);
    }
    if !tree.permits_at(pos, view, AclCommand::Get, ctx.server_id)? {
        return Err(StatusCode::PERMISSION_DENIED);
    }
    Ok(())
}

fn get(
    tree: &Tree,
    ctx: &ExecContext<'_>,
    pos: &Pos,
    uri: &Uri,
    target: &str,
) -> Result<Vec<Item>, StatusCode> {
    let view = tree.view_at(pos)?.ok_or(StatusCode::NOT_FOUND)?;
    match uri.query() {
        None => {
            check_get(tree, ctx, pos, &view)?;
            let data = match view.value() {
                Some(v) => v.clone(),
                None => Data::Text(tree.child_list_at(pos)?),
            };
            Ok(vec![node_item(&view, target.to_owned(), Some(data))])
        }
        Some(Query::Prop(p)) => {
            if !tree.permits_at(pos, &view, AclCommand::Get, ctx.server_id)? {
                return Err(StatusCode::PERMISSION_DENIED);
            }
            let value = property(&view, p)?;
            Ok(vec![Item {
                source: Some(Location::uri(target)),
                meta: meta("chr", None),
                data: Some(Data::Text(value)),
                ..Item::default()
            }])
        }
        Some(Query::List(kind)) => {
            check_get(tree, ctx, pos, &view)?;
            list(tree, ctx, pos, uri, kind)
        }
    }
}

/// The Results item for a node.
fn node_item(view: &View<'_>, source: String, data: Option<Data>) -> Item {
    Item {
        source: Some(Location::uri(source)),
        meta: meta(view.format().name(), view.mime_type()),
        data,
        ..Item::default()
    }
}

fn property(view: &View<'_>, p: Property) -> Result<String, StatusCode> {
    Ok(match p {
        Property::Acl => view.acl().to_string(),
        Property::Format => view.format().name().to_owned(),
        Property::Name => view.name().to_owned(),
        Property::Size => match view.size() {
            Some(s) => s.to_string(),
            None => return Err(StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED),
        },
        Property::Title => view.title().unwrap_or_default().to_owned(),
        Property::TStamp => view
            .tstamp()
            .map(|t| t.to_iso8601_basic())
            .unwrap_or_default(),
        Property::Type => view.mime_type().unwrap_or_default().to_owned(),
        Property::VerNo => view.verno().to_string(),
    })
}

/// True if a listing from `pos` shows mounted nodes: it starts at a mount point or below one.
pub(crate) fn on_demand(tree: &Tree, pos: &Pos) -> bool {
    match pos {
        Pos::Mounted { .. } => true,
        Pos::Arena(id) => tree.mount_of_point(*id).is_some(),
    }
}

fn list(
    tree: &Tree,
    ctx: &ExecContext<'_>,
    pos: &Pos,
    uri: &Uri,
    kind: ListKind,
) -> Result<Vec<Item>, StatusCode> {
    let descend = on_demand(tree, pos);
    match kind {
        ListKind::Tnds(fields) => Ok(vec![Item {
            source: Some(Location::uri(uri.to_string())),
            meta: meta(Format::Xml.name(), Some(TNDS_XML)),
            data: Some(Data::Xml(tnds::write(
                tree,
                pos,
                fields,
                ctx.server_id,
                descend,
            )?)),
            ..Item::default()
        }]),
        ListKind::Struct | ListKind::StructData => {
            let with_data = kind == ListKind::StructData;
            let base = uri.without_query();
            let mut items = Vec::new();
            tree.walk_at(pos.clone(), descend, &mut |v| {
                let view = v.view;
                if !v.acl.permits(AclCommand::Get, ctx.server_id) {
                    return Ok(true);
                }
                let mut u = base.clone();
                for s in v.path {
                    u = u.join(s);
                }
                let data = view
                    .value()
                    .filter(|_| with_data && view.access().contains(AccessType::GET))
                    .cloned();
                items.push(node_item(view, u.path_string(), data));
                Ok(true)
            })?;
            Ok(items)
        }
    }
}
