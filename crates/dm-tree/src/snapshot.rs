//! Snapshot and restore of a whole tree as bytes (no file I/O).
//!
//! Format version 1 (all integers big-endian):
//!
//! ```text
//! "DMTREE" (6 bytes) | version u8 = 1 | MaxDepth u16 | MaxTotLen u16 | MaxSegLen u16 | node
//! node  := name str | flags u8 | access u8 | acl str | format u8 | [type str] | [title str]
//!          | [tstamp u64] | verno u16 | (leaf: data-tag u8, bytes) | (interior: count u32, node*)
//! str   := len u32 | UTF-8 bytes          bytes := len u32 | bytes
//! flags := bit0 leaf, bit1 permanent, bit2 has type, bit3 has title, bit4 has tstamp
//! data-tag := 0 Text, 1 CDATA, 2 Opaque, 3 XML      format := index in Format::ALL
//! ```
//!
//! Nodes are written in pre-order with children in name order, so equal trees give equal
//! bytes. Exec/Alert handlers and mounted subtrees ([`crate::mount`]) are not part of a
//! snapshot: a mount point is written as an empty interior node. Decoding is total: malformed input
//! gives [`Error::Snapshot`] with the byte offset.

use std::collections::BTreeMap;

use syncml::Data;

use crate::acl::Acl;
use crate::error::{Error, SnapshotErrorKind as K};
use crate::node::{AccessType, Format, Node, NodeId, NodeKind, Timestamp};
use crate::tree::{MAX_TREE_DEPTH, ROOT, Tree};
use crate::uri::{UriLimits, is_valid_name};

const MAGIC: &[u8; 6] = b"DMTREE";
const VERSION: u8 = 1;

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len());
    out.extend_from_slice(b);
}

/// Serialises the tree (structure, values, properties, access types, URI limits).
#[must_use]
pub fn encode(tree: &Tree) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    let l = tree.uri_limits();
    put_u16(&mut out, l.max_depth);
    put_u16(&mut out, l.max_tot_len);
    put_u16(&mut out, l.max_seg_len);
    tree.walk(ROOT, &mut |t, id| {
        if let Some(n) = t.node(id) {
            encode_node(n, &mut out);
        }
    });
    out
}

fn encode_node(n: &Node, out: &mut Vec<u8>) {
    put_bytes(out, n.name.as_bytes());
    let mut flags = 0u8;
    if n.is_leaf() {
        flags |= 1;
    }
    if n.permanent {
        flags |= 2;
    }
    if n.mime.is_some() {
        flags |= 4;
    }
    if n.title.is_some() {
        flags |= 8;
    }
    if n.tstamp.is_some() {
        flags |= 16;
    }
    out.push(flags);
    out.push(n.access.0);
    put_bytes(out, n.acl.to_string().as_bytes());
    let fmt = Format::ALL.iter().position(|f| *f == n.format).unwrap_or(0);
    out.push(u8::try_from(fmt).unwrap_or(0));
    if let Some(m) = &n.mime {
        put_bytes(out, m.as_bytes());
    }
    if let Some(t) = &n.title {
        put_bytes(out, t.as_bytes());
    }
    if let Some(ts) = n.tstamp {
        out.extend_from_slice(&ts.0.to_be_bytes());
    }
    put_u16(out, n.verno);
    match &n.kind {
        NodeKind::Leaf(d) => {
            let (tag, bytes) = match d {
                Data::Text(s) => (0, s.as_bytes()),
                Data::CData(s) => (1, s.as_bytes()),
                Data::Opaque(b) => (2, b.as_slice()),
                Data::Xml(s) => (3, s.as_bytes()),
            };
            out.push(tag);
            put_bytes(out, bytes);
        }
        NodeKind::Interior(c) => put_u32(out, c.len()),
        // Mounted data is not part of a snapshot: the mount point is an empty interior node.
        NodeKind::Mount(_) => put_u32(out, 0),
    }
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, kind: K) -> Error {
        Error::Snapshot {
            offset: self.pos,
            kind,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.err(K::Truncated))?;
        let s = self
            .input
            .get(self.pos..end)
            .ok_or_else(|| self.err(K::Truncated))?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes(b.try_into().unwrap_or([0; 2])))
    }

    fn u32(&mut self) -> Result<usize, Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes(b.try_into().unwrap_or([0; 4])) as usize)
    }

    fn u64(&mut self) -> Result<u64, Error> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u32()?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, Error> {
        let start = self.pos;
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Error::Snapshot {
                offset: start,
                kind: K::BadUtf8,
            })
    }

    /// Reads one node; returns it and its child count.
    fn node(&mut self, is_root: bool) -> Result<(Node, usize), Error> {
        let name_at = self.pos;
        let name = self.string()?;
        if !is_root && !is_valid_name(&name) {
            return Err(Error::Snapshot {
                offset: name_at,
                kind: K::BadName,
            });
        }
        let flags = self.u8()?;
        if flags & !31 != 0 {
            return Err(self.err(K::BadTag(flags)));
        }
        let access = self.u8()?;
        if access & !AccessType::ALL.0 != 0 {
            return Err(self.err(K::BadTag(access)));
        }
        let acl_at = self.pos;
        let acl = Acl::parse(&self.string()?).map_err(|_| Error::Snapshot {
            offset: acl_at,
            kind: K::BadAcl,
        })?;
        let fmt = self.u8()?;
        let format = Format::ALL
            .get(usize::from(fmt))
            .copied()
            .ok_or_else(|| self.err(K::BadTag(fmt)))?;
        let mime = if flags & 4 != 0 {
            Some(self.string()?)
        } else {
            None
        };
        let title = if flags & 8 != 0 {
            Some(self.string()?)
        } else {
            None
        };
        let tstamp = if flags & 16 != 0 {
            Some(Timestamp(self.u64()?))
        } else {
            None
        };
        let verno = self.u16()?;
        let (kind, count) = if flags & 1 != 0 {
            let tag = self.u8()?;
            let at = self.pos;
            let b = self.bytes()?;
            let text = || {
                std::str::from_utf8(b)
                    .map(str::to_owned)
                    .map_err(|_| Error::Snapshot {
                        offset: at,
                        kind: K::BadUtf8,
                    })
            };
            let d = match tag {
                0 => Data::Text(text()?),
                1 => Data::CData(text()?),
                2 => Data::Opaque(b.to_vec()),
                3 => Data::Xml(text()?),
                t => return Err(self.err(K::BadTag(t))),
            };
            (NodeKind::Leaf(d), 0)
        } else {
            (NodeKind::Interior(BTreeMap::new()), self.u32()?)
        };
        if is_root && matches!(kind, NodeKind::Leaf(_)) {
            return Err(self.err(K::BadTag(flags)));
        }
        let node = Node {
            name: if is_root { ".".to_owned() } else { name },
            parent: None,
            kind,
            permanent: flags & 2 != 0,
            access: AccessType(access),
            acl,
            format,
            mime,
            title,
            tstamp,
            verno,
        };
        Ok((node, count))
    }
}

/// Rebuilds a tree from [`encode`]d bytes. The tree has no Exec/Alert handlers.
///
/// # Errors
/// [`Error::Snapshot`] for anything malformed (wrong magic or version, truncation, bad tags,
/// invalid names, duplicate children, unparsable ACLs, excessive depth, trailing bytes).
pub fn decode(bytes: &[u8]) -> Result<Tree, Error> {
    let mut r = Reader {
        input: bytes,
        pos: 0,
    };
    if r.take(MAGIC.len()).map_err(|_| r.err(K::BadMagic))? != MAGIC {
        return Err(Error::Snapshot {
            offset: 0,
            kind: K::BadMagic,
        });
    }
    let v = r.u8()?;
    if v != VERSION {
        return Err(r.err(K::UnsupportedVersion(v)));
    }
    let limits = UriLimits {
        max_depth: r.u16()?,
        max_tot_len: r.u16()?,
        max_seg_len: r.u16()?,
    };
    let (root, count) = r.node(true)?;
    let mut tree = Tree::from_parts(root, limits);
    // (node, children still to read)
    let mut stack: Vec<(NodeId, usize)> = vec![(ROOT, count)];
    while let Some(top) = stack.last_mut() {
        if top.1 == 0 {
            stack.pop();
            continue;
        }
        top.1 -= 1;
        let parent = top.0;
        if stack.len() > MAX_TREE_DEPTH {
            return Err(r.err(K::TooDeep));
        }
        let at = r.pos;
        let (node, count) = r.node(false)?;
        if tree.child(parent, &node.name).is_some() {
            return Err(Error::Snapshot {
                offset: at,
                kind: K::DuplicateChild,
            });
        }
        let id = tree.attach(parent, node);
        if count > 0 {
            stack.push((id, count));
        }
    }
    if r.pos != bytes.len() {
        return Err(r.err(K::TrailingBytes));
    }
    Ok(tree)
}

impl Tree {
    /// [`encode`] this tree.
    #[must_use]
    pub fn snapshot(&self) -> Vec<u8> {
        encode(self)
    }

    /// Replaces this tree's nodes and URI limits with a snapshot's, keeping the registered
    /// Exec and Alert handlers, the mounts and the node limit. Each mount point must be an
    /// empty interior node in the snapshot (as in a snapshot of this tree).
    ///
    /// # Errors
    /// [`Error::Snapshot`]; [`Error::Mount`] when the snapshot lacks a mount point or holds a
    /// leaf or children there. The tree is unchanged then.
    pub fn load_snapshot(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let mut t = decode(bytes)?;
        self.remount_into(&mut t)?;
        self.set_uri_limits(t.uri_limits());
        self.store = t.store;
        Ok(())
    }
}
