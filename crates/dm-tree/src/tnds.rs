//! TNDS (`application/vnd.syncml.dmtnds+xml`, digest §5.9): serialising a subtree for
//! `Get ?list=TNDS+...` and reading a `MgmtTree` document for `Add` of a whole subtree.
//!
//! Writer: one `MgmtTree` (namespace `syncml:dmddf1.2`, `VerDTD` 1.2) whose outermost `Node`
//! is the requested node with `Path` = its parent's URI (the root is written with `NodeName`
//! `.` and no `Path`). Leaf values are written as text; a value that is not UTF-8 is omitted.
//! Nodes the server may not Get (ACL) are left out with their subtree; values of nodes whose
//! AccessType lacks Get are left out. Mounted nodes are written only when the listing starts at
//! their mount point or below it ([`crate::mount`]).
//!
//! Reader: `MgmtTree`, `VerDTD`, `Node`, `NodeName`, `Path`, `Value`, `RTProperties` with
//! `ACL`, `Format`, `Type` (`MIME` or `DDFName`) and `Title`; `Man`, `Mod`, `TStamp`, `VerNo`
//! and unknown elements are ignored.

use quick_xml::Reader;
use quick_xml::events::Event;

use syncml::{Data, StatusCode};

use crate::acl::{Acl, AclCommand};
use crate::error::{Error, TndsErrorKind};
use crate::mount::place::{Pos, View};
use crate::node::{AccessType, Format};
use crate::tree::Tree;
use crate::uri::{TndsFields, is_valid_name};

/// MIME type of an XML TNDS document.
pub const TNDS_XML: &str = "application/vnd.syncml.dmtnds+xml";
/// MIME type of a WBXML TNDS document (not supported for Add: 415).
pub const TNDS_WBXML: &str = "application/vnd.syncml.dmtnds+wbxml";

const MAX_DEPTH: usize = 64;

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn elem(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape(text, out);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Serialises the subtree at `pos` as seen by `server` (ACL Get filters nodes). Mount points
/// below `pos` are entered only when `descend` (see [`crate::mount`]).
///
/// # Errors
/// A provider's failure while walking its nodes.
pub(crate) fn write(
    tree: &Tree,
    pos: &Pos,
    fields: TndsFields,
    server: &str,
    descend: bool,
) -> Result<String, StatusCode> {
    let mut out = String::from("<MgmtTree xmlns=\"syncml:dmddf1.2\"><VerDTD>1.2</VerDTD>");
    let top_path = tree.uri_at(pos).parent().map(|p| p.to_absolute_string());
    // Depths of the `Node` elements still open.
    let mut open: Vec<usize> = Vec::new();
    tree.walk_at(pos.clone(), descend, &mut |v| {
        while open.last().is_some_and(|d| *d >= v.depth) {
            open.pop();
            out.push_str("</Node>");
        }
        if !v.acl.permits(AclCommand::Get, server) {
            return Ok(false);
        }
        let path = if v.depth == 0 {
            top_path.as_deref()
        } else {
            None
        };
        write_node(v.view, fields, path, &mut out);
        open.push(v.depth);
        Ok(true)
    })?;
    for _ in open {
        out.push_str("</Node>");
    }
    out.push_str("</MgmtTree>");
    Ok(out)
}

/// Writes a node's opening tag, name, path, properties and value (not its children).
fn write_node(node: &View<'_>, f: TndsFields, path: Option<&str>, out: &mut String) {
    out.push_str("<Node>");
    elem(out, "NodeName", node.name());
    if let Some(p) = path {
        elem(out, "Path", p);
    }
    let mut props = String::new();
    if f.acl {
        elem(&mut props, "ACL", &node.acl().to_string());
    }
    if f.format {
        props.push_str("<Format><");
        props.push_str(node.format().name());
        props.push_str("/></Format>");
    }
    if f.name {
        elem(&mut props, "Name", node.name());
    }
    if f.size
        && let Some(sz) = node.size()
    {
        elem(&mut props, "Size", &sz.to_string());
    }
    if f.title
        && let Some(t) = node.title()
    {
        elem(&mut props, "Title", t);
    }
    if f.tstamp
        && let Some(ts) = node.tstamp()
    {
        elem(&mut props, "TStamp", &ts.to_iso8601_basic());
    }
    if f.r#type
        && let Some(m) = node.mime_type()
    {
        props.push_str("<Type>");
        if node.is_leaf() {
            elem(&mut props, "MIME", m);
        } else {
            elem(&mut props, "DDFName", m);
        }
        props.push_str("</Type>");
    }
    if f.verno {
        elem(&mut props, "VerNo", &node.verno().to_string());
    }
    if !props.is_empty() {
        out.push_str("<RTProperties>");
        out.push_str(&props);
        out.push_str("</RTProperties>");
    }
    if f.value
        && node.access().contains(AccessType::GET)
        && let Some(s) = node.value().and_then(Data::as_str)
    {
        elem(out, "Value", s);
    }
}

/// A generic XML element (local name, text, children).
#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

fn parse_xml(xml: &str) -> Result<Element, Error> {
    let bad = |m: String| Error::Tnds {
        kind: TndsErrorKind::Xml(m),
    };
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(e) => {
                if stack.len() > MAX_DEPTH {
                    return Err(Error::Tnds {
                        kind: TndsErrorKind::TooDeep,
                    });
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some(top) = stack.last_mut() {
                    top.children.push(Element {
                        name,
                        ..Element::default()
                    });
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| bad("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Err(bad("unbalanced end tag".into())),
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| bad(e.to_string()))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::CData(c) => {
                let bytes = c.into_inner();
                let s = std::str::from_utf8(&bytes).map_err(|e| bad(e.to_string()))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err(bad("unclosed element".into()));
    }
    let doc = stack.pop().unwrap_or_default();
    doc.children.into_iter().next().ok_or(Error::Tnds {
        kind: TndsErrorKind::NotMgmtTree,
    })
}

/// One node read from a TNDS document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TndsNode {
    pub name: String,
    pub path: Option<String>,
    pub format: Option<Format>,
    pub mime: Option<String>,
    pub acl: Acl,
    pub title: Option<String>,
    pub value: Option<String>,
    pub children: Vec<TndsNode>,
}

impl TndsNode {
    pub fn is_interior(&self) -> bool {
        self.format == Some(Format::Node) || !self.children.is_empty()
    }
}

/// Parses a `MgmtTree` document into its outermost nodes.
pub(crate) fn parse(xml: &str) -> Result<Vec<TndsNode>, Error> {
    let root = parse_xml(xml)?;
    if root.name != "MgmtTree" {
        return Err(Error::Tnds {
            kind: TndsErrorKind::NotMgmtTree,
        });
    }
    root.children
        .iter()
        .filter(|c| c.name == "Node")
        .map(|n| convert(n, true))
        .collect()
}

fn child<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.children.iter().find(|c| c.name == name)
}

fn convert(e: &Element, outermost: bool) -> Result<TndsNode, Error> {
    let err = |kind| Error::Tnds { kind };
    let name = child(e, "NodeName").map(|n| n.text.trim().to_owned());
    let path = child(e, "Path").map(|n| n.text.trim().trim_end_matches('/').to_owned());
    let name = match name {
        Some(n) if is_valid_name(&n) => n,
        Some(n) if !(outermost && n.is_empty() && path.is_some()) => {
            return Err(err(TndsErrorKind::BadName(n)));
        }
        Some(n) => n,
        None if outermost && path.is_some() => String::new(),
        None => return Err(err(TndsErrorKind::MissingNodeName)),
    };
    let mut out = TndsNode {
        name,
        path,
        format: None,
        mime: None,
        acl: Acl::empty(),
        title: None,
        value: child(e, "Value").map(|v| v.text.clone()),
        children: Vec::new(),
    };
    if let Some(rt) = child(e, "RTProperties") {
        if let Some(f) = child(rt, "Format") {
            let fname = f.children.first().map(|c| c.name.as_str()).unwrap_or("");
            out.format = Some(
                Format::parse(fname).map_err(|_| err(TndsErrorKind::BadFormat(fname.into())))?,
            );
        }
        if let Some(t) = child(rt, "Type") {
            out.mime = t
                .children
                .first()
                .map(|c| c.text.trim().to_owned())
                .or_else(|| Some(t.text.trim().to_owned()))
                .filter(|s| !s.is_empty());
        }
        if let Some(a) = child(rt, "ACL") {
            out.acl = Acl::parse(a.text.trim())
                .map_err(|_| err(TndsErrorKind::BadAcl(a.text.clone())))?;
        }
        out.title = child(rt, "Title").map(|t| t.text.clone());
    }
    for c in e.children.iter().filter(|c| c.name == "Node") {
        out.children.push(convert(c, false)?);
    }
    if out.value.is_some() && !out.children.is_empty() {
        return Err(err(TndsErrorKind::LeafWithChildren));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_document() {
        let xml = r#"<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Man>x</Man>
          <Node><NodeName>Acc</NodeName><RTProperties><Format><node/></Format>
            <Type><DDFName>urn:oma:mo:oma-dm-dmacc:1.0</DDFName></Type></RTProperties>
            <Node><NodeName>Name</NodeName><RTProperties><Format><chr/></Format>
              <ACL>Get=*</ACL></RTProperties><Value>a &amp; b</Value></Node>
          </Node></MgmtTree>"#;
        let nodes = parse(xml).unwrap();
        assert_eq!(nodes.len(), 1);
        let acc = &nodes[0];
        assert_eq!(acc.name, "Acc");
        assert!(acc.is_interior());
        assert_eq!(acc.mime.as_deref(), Some("urn:oma:mo:oma-dm-dmacc:1.0"));
        let leaf = &acc.children[0];
        assert_eq!(leaf.value.as_deref(), Some("a & b"));
        assert_eq!(leaf.acl.to_string(), "Get=*");
        assert_eq!(leaf.format, Some(Format::Chr));
    }

    #[test]
    fn rejects_bad_documents() {
        for bad in [
            "",
            "<Foo/>",
            "<MgmtTree><Node><Value>x</Value></Node></MgmtTree>",
            "<MgmtTree><Node><NodeName>a/b</NodeName></Node></MgmtTree>",
            "<MgmtTree><Node><NodeName>a</NodeName><RTProperties><Format><text/></Format></RTProperties></Node></MgmtTree>",
            "<MgmtTree><Node><NodeName>a</NodeName>",
            "<MgmtTree><Node><NodeName>a</NodeName><Value>v</Value><Node><NodeName>b</NodeName></Node></Node></MgmtTree>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
