//! `MemoryNodes`: an in-memory `NodeProvider` that behaves like the tree's own nodes (same
//! `TStamp`/`VerNo` stamping, implicit parents made by the tree), with a transaction kept as an
//! undo log (begin is O(1), nothing is copied), and switches for the failure and deferral
//! cases the tests need. State is shared (`Arc<Mutex<_>>`) so a test keeps a handle on a
//! provider the tree owns, as the gateway will.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use dm_tree::{
    AccessType, Acl, AclCommand, Answer, Change, ExecOutcome, ExecRequest, MountContext, MountNode,
    NewNode, NodeProvider, Ticket, Timestamp,
};
use syncml::{Data, StatusCode};

type Path = Vec<String>;

/// A change kept for later (deferred answers).
#[derive(Debug, Clone)]
pub enum Op {
    Add(Path, NewNode, Timestamp),
    Replace(Path, Change, Timestamp),
    Delete(Path, Timestamp),
    Exec(Path),
}

#[derive(Debug)]
enum Undo {
    Node(Path, Option<MountNode>),
    Kids(Path, Option<BTreeSet<String>>),
}

/// Counters of the calls a test may check.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    pub begin: usize,
    pub commit: usize,
    pub rollback: usize,
    pub changes: usize,
}

#[derive(Debug, Default)]
pub struct State {
    nodes: BTreeMap<Path, MountNode>,
    kids: BTreeMap<Path, BTreeSet<String>>,
    undo: Option<Vec<Undo>>,
    /// Takes part in Atomic (begin succeeds).
    pub transactional: bool,
    /// Answers changes with `Pending` where allowed.
    pub defer: bool,
    /// Answers `Pending` even where not allowed (a broken provider).
    pub defer_always: bool,
    /// Rollback fails (and undoes nothing).
    pub fail_rollback: bool,
    /// `node()` of this path fails with this code.
    pub fail_node: Option<(Path, StatusCode)>,
    /// Every change is answered with this code.
    pub fail_changes: Option<StatusCode>,
    /// What Exec answers (default 406, like a tree node without handler).
    pub exec: Option<ExecOutcome>,
    pub next_ticket: u64,
    pub deferred: Vec<(Ticket, Op)>,
    pub calls: Calls,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryNodes(Arc<Mutex<State>>);

fn p(path: &str) -> Path {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').map(str::to_owned).collect()
    }
}

impl MemoryNodes {
    pub fn new() -> MemoryNodes {
        let m = MemoryNodes::default();
        m.state().kids.insert(Vec::new(), BTreeSet::new());
        m
    }

    /// A transactional provider.
    pub fn transactional() -> MemoryNodes {
        let m = MemoryNodes::new();
        m.state().transactional = true;
        m
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    /// Inserts a node as the provider's owner (no stamping of parents, parents must exist).
    pub fn put(&self, path: &str, node: impl Into<MountNode>) {
        let node = node.into();
        let mut s = self.state();
        let path = p(path);
        let (name, parent) = path.split_last().unwrap();
        s.kids.get_mut(parent).unwrap().insert(name.clone());
        if !node.is_leaf() {
            s.kids.insert(path.clone(), BTreeSet::new());
        }
        s.nodes.insert(path, node);
    }

    /// The node at `path` as the owner sees it.
    pub fn get(&self, path: &str) -> Option<MountNode> {
        self.state().nodes.get(&p(path)).cloned()
    }

    pub fn len(&self) -> usize {
        self.state().nodes.len()
    }

    /// A gateway-like inventory of `n` devices ([`device_nodes`]).
    pub fn inventory(n: usize) -> MemoryNodes {
        let m = MemoryNodes::transactional();
        for i in 0..n {
            for (path, node) in device_nodes(i) {
                m.put(&path, node);
            }
        }
        m
    }

    /// Runs a deferred change now and returns its code (as the provider's owner would when the
    /// work ends).
    pub fn finish(&self, ticket: Ticket) -> ExecOutcome {
        let mut s = self.state();
        let i = s.deferred.iter().position(|(t, _)| *t == ticket).unwrap();
        let (_, op) = s.deferred.remove(i);
        match op {
            Op::Add(path, node, now) => ExecOutcome::code(s.add(&path, node, now)),
            Op::Replace(path, change, now) => ExecOutcome::code(s.replace(&path, change, now)),
            Op::Delete(path, now) => ExecOutcome::code(s.delete(&path, now)),
            Op::Exec(_) => s.exec.clone().unwrap_or(ExecOutcome::code(
                StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
            )),
        }
    }
}

/// The name of device `i`.
pub fn device(i: usize) -> String {
    format!("D{i:05}")
}

/// The nodes of inventory device `i`, parents first, paths relative to the inventory: `D00000`
/// (Get, Add, Delete) with `DevId`, `Mode` (Get, Replace), `Status`, `Ops/Reset` (Get, Exec).
pub fn device_nodes(i: usize) -> Vec<(String, NewNode)> {
    let d = device(i);
    let get = AccessType::GET;
    vec![
        (
            d.clone(),
            NewNode::interior().access(get | AccessType::DELETE | AccessType::ADD),
        ),
        (
            format!("{d}/DevId"),
            NewNode::leaf(format!("IMEI:{i:015}")).access(get),
        ),
        (
            format!("{d}/Mode"),
            NewNode::leaf("proxy").access(get | AccessType::REPLACE),
        ),
        (format!("{d}/Status"), NewNode::leaf("attached").access(get)),
        (format!("{d}/Ops"), NewNode::interior().access(get)),
        (
            format!("{d}/Ops/Reset"),
            NewNode::leaf("").access(get | AccessType::EXEC),
        ),
    ]
}

impl State {
    fn set_node(&mut self, path: &Path, node: Option<MountNode>) {
        let old = match node {
            Some(n) => self.nodes.insert(path.clone(), n),
            None => self.nodes.remove(path),
        };
        if let Some(u) = &mut self.undo {
            u.push(Undo::Node(path.clone(), old));
        }
    }

    fn set_kids(&mut self, path: &Path, kids: Option<BTreeSet<String>>) {
        let old = match kids {
            Some(k) => self.kids.insert(path.clone(), k),
            None => self.kids.remove(path),
        };
        if let Some(u) = &mut self.undo {
            u.push(Undo::Kids(path.clone(), old));
        }
    }

    /// Stamps the node at `path` (not the mount point: the tree stamps that).
    fn touch(&mut self, path: &[String], now: Timestamp) {
        if path.is_empty() {
            return;
        }
        let path = path.to_vec();
        if let Some(mut n) = self.nodes.get(&path).cloned() {
            n.tstamp = Some(now);
            n.verno = n.verno.wrapping_add(1);
            self.set_node(&path, Some(n));
        }
    }

    fn add(&mut self, path: &Path, node: NewNode, now: Timestamp) -> StatusCode {
        let Some((name, parent)) = path.split_last() else {
            return StatusCode::ALREADY_EXISTS;
        };
        if self.nodes.contains_key(path) {
            return StatusCode::ALREADY_EXISTS;
        }
        let Some(mut kids) = self.kids.get(parent).cloned() else {
            return StatusCode::NOT_FOUND;
        };
        kids.insert(name.clone());
        self.set_kids(&parent.to_vec(), Some(kids));
        let mut n = MountNode::from(node);
        n.tstamp = Some(now);
        n.verno = 0;
        if !n.is_leaf() {
            self.set_kids(path, Some(BTreeSet::new()));
        }
        self.set_node(path, Some(n));
        self.touch(parent, now);
        StatusCode::OK
    }

    fn subtree(&self, path: &Path) -> Vec<Path> {
        self.nodes
            .range(path.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(path))
            .cloned()
            .collect()
    }

    fn delete(&mut self, path: &Path, now: Timestamp) -> StatusCode {
        let Some((name, parent)) = path.split_last() else {
            return StatusCode::COMMAND_NOT_ALLOWED;
        };
        if !self.nodes.contains_key(path) {
            return StatusCode::NOT_FOUND;
        }
        for k in self.subtree(path) {
            self.set_node(&k, None);
            if self.kids.contains_key(&k) {
                self.set_kids(&k, None);
            }
        }
        if let Some(mut kids) = self.kids.get(parent).cloned() {
            kids.remove(name);
            self.set_kids(&parent.to_vec(), Some(kids));
        }
        self.touch(parent, now);
        StatusCode::OK
    }

    fn rename(&mut self, path: &Path, new: &str, now: Timestamp) -> StatusCode {
        let Some((name, parent)) = path.split_last() else {
            return StatusCode::COMMAND_NOT_ALLOWED;
        };
        let mut to = parent.to_vec();
        to.push(new.to_owned());
        for k in self.subtree(path) {
            let mut moved = to.clone();
            moved.extend(k.get(path.len()..).unwrap().iter().cloned());
            let n = self.nodes.get(&k).cloned();
            self.set_node(&k, None);
            self.set_node(&moved, n);
            if let Some(kids) = self.kids.get(&k).cloned() {
                self.set_kids(&k, None);
                self.set_kids(&moved, Some(kids));
            }
        }
        if let Some(mut kids) = self.kids.get(parent).cloned() {
            kids.remove(name);
            kids.insert(new.to_owned());
            self.set_kids(&parent.to_vec(), Some(kids));
        }
        self.touch(&to, now);
        self.touch(parent, now);
        StatusCode::OK
    }

    fn replace(&mut self, path: &Path, change: Change, now: Timestamp) -> StatusCode {
        let Some(mut n) = self.nodes.get(path).cloned() else {
            return StatusCode::NOT_FOUND;
        };
        match change {
            Change::Value {
                data,
                format,
                mime_type,
            } => {
                n.node.value = Some(data);
                if let Some(f) = format {
                    n.node.format = f;
                }
                if let Some(m) = mime_type {
                    n.node.mime_type = Some(m);
                }
            }
            Change::Acl(acl) => n.node.acl = acl,
            Change::Title(t) => n.node.title = Some(t),
            Change::Name(new) => return self.rename(path, &new, now),
            _ => return StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
        }
        self.set_node(path, Some(n));
        self.touch(path, now);
        StatusCode::OK
    }

    /// `Some(answer)` if the change must not run now.
    fn gate(&mut self, ctx: &MountContext<'_>, op: Op) -> Result<Op, Answer<StatusCode>> {
        self.calls.changes += 1;
        if let Some(code) = self.fail_changes {
            return Err(Answer::Ready(code));
        }
        if self.defer_always || (self.defer && ctx.may_defer) {
            self.next_ticket += 1;
            let t = Ticket(self.next_ticket);
            self.deferred.push((t, op));
            return Err(Answer::Pending(t));
        }
        Ok(op)
    }
}

impl NodeProvider for MemoryNodes {
    fn node(&self, path: &[String]) -> Result<Option<MountNode>, StatusCode> {
        let s = self.state();
        if let Some((fp, code)) = &s.fail_node
            && fp == path
        {
            return Err(*code);
        }
        Ok(s.nodes.get(path).cloned())
    }

    fn children(&self, path: &[String]) -> Result<Vec<String>, StatusCode> {
        Ok(self
            .state()
            .kids
            .get(path)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default())
    }

    fn add(
        &mut self,
        ctx: &MountContext<'_>,
        path: &[String],
        node: NewNode,
    ) -> Answer<StatusCode> {
        let mut s = self.state();
        match s.gate(ctx, Op::Add(path.to_vec(), node, ctx.now)) {
            Ok(Op::Add(path, node, now)) => Answer::Ready(s.add(&path, node, now)),
            Ok(_) => unreachable!(),
            Err(a) => a,
        }
    }

    fn replace(
        &mut self,
        ctx: &MountContext<'_>,
        path: &[String],
        change: Change,
    ) -> Answer<StatusCode> {
        let mut s = self.state();
        match s.gate(ctx, Op::Replace(path.to_vec(), change, ctx.now)) {
            Ok(Op::Replace(path, change, now)) => Answer::Ready(s.replace(&path, change, now)),
            Ok(_) => unreachable!(),
            Err(a) => a,
        }
    }

    fn delete(&mut self, ctx: &MountContext<'_>, path: &[String]) -> Answer<StatusCode> {
        let mut s = self.state();
        match s.gate(ctx, Op::Delete(path.to_vec(), ctx.now)) {
            Ok(Op::Delete(path, now)) => Answer::Ready(s.delete(&path, now)),
            Ok(_) => unreachable!(),
            Err(a) => a,
        }
    }

    fn exec(
        &mut self,
        ctx: &MountContext<'_>,
        path: &[String],
        _req: &ExecRequest<'_>,
    ) -> Answer<ExecOutcome> {
        let mut s = self.state();
        match s.gate(ctx, Op::Exec(path.to_vec())) {
            Ok(_) => Answer::Ready(s.exec.clone().unwrap_or(ExecOutcome::code(
                StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
            ))),
            Err(Answer::Pending(t)) => Answer::Pending(t),
            Err(Answer::Ready(code)) => Answer::Ready(ExecOutcome::code(code)),
        }
    }

    fn begin(&mut self) -> Result<(), StatusCode> {
        let mut s = self.state();
        s.calls.begin += 1;
        if !s.transactional {
            return Err(StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED);
        }
        s.undo = Some(Vec::new());
        Ok(())
    }

    fn commit(&mut self) {
        let mut s = self.state();
        s.calls.commit += 1;
        s.undo = None;
    }

    fn rollback(&mut self) -> Result<(), StatusCode> {
        let mut s = self.state();
        s.calls.rollback += 1;
        let undo = s.undo.take().unwrap_or_default();
        if s.fail_rollback {
            return Err(StatusCode::DATA_STORE_FAILURE);
        }
        for u in undo.into_iter().rev() {
            match u {
                Undo::Node(k, Some(n)) => {
                    s.nodes.insert(k, n);
                }
                Undo::Node(k, None) => {
                    s.nodes.remove(&k);
                }
                Undo::Kids(k, Some(v)) => {
                    s.kids.insert(k, v);
                }
                Undo::Kids(k, None) => {
                    s.kids.remove(&k);
                }
            }
        }
        Ok(())
    }
}

/// An ACL granting `cmds` to `server`.
pub fn acl(cmds: &[AclCommand], server: &str) -> Acl {
    cmds.iter().fold(Acl::empty(), |a, c| a.with(*c, server))
}

/// Text of a leaf.
pub fn text(n: &MountNode) -> &str {
    n.node.value.as_ref().and_then(Data::as_str).unwrap()
}
