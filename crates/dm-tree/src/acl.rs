//! Access control lists (digest §5.3).
//!
//! Grammar: `Cmd=id+id&Cmd=id...` with `Cmd` one of `Add`, `Delete`, `Exec`, `Get`, `Replace`
//! and `*` meaning any server. No whitespace is allowed. The empty string is the empty ACL,
//! which means "inherit from the parent" (see [`crate::Tree::effective_acl`]).
//!
//! An ACL is kept in canonical order (Add, Delete, Exec, Get, Replace; server ids in first-seen
//! order without duplicates); [`Acl`]'s `Display` writes that canonical form. Repeated entries
//! for one command are merged.
//!
//! Copy has no ACL entry of its own: it needs Get on the source and Add (new target) or
//! Replace (existing target) on the target.

use crate::error::{AclErrorKind, Error};

/// A command an ACL grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AclCommand {
    /// `Add` (checked on the parent of the node to create).
    Add,
    /// `Delete`.
    Delete,
    /// `Exec`.
    Exec,
    /// `Get`.
    Get,
    /// `Replace`.
    Replace,
}

impl AclCommand {
    /// All commands in canonical order.
    pub const ALL: [AclCommand; 5] = [
        AclCommand::Add,
        AclCommand::Delete,
        AclCommand::Exec,
        AclCommand::Get,
        AclCommand::Replace,
    ];

    /// The ACL spelling of this command.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            AclCommand::Add => "Add",
            AclCommand::Delete => "Delete",
            AclCommand::Exec => "Exec",
            AclCommand::Get => "Get",
            AclCommand::Replace => "Replace",
        }
    }

    fn from_name(s: &str) -> Option<AclCommand> {
        AclCommand::ALL.into_iter().find(|c| c.name() == s)
    }

    fn index(self) -> usize {
        match self {
            AclCommand::Add => 0,
            AclCommand::Delete => 1,
            AclCommand::Exec => 2,
            AclCommand::Get => 3,
            AclCommand::Replace => 4,
        }
    }
}

/// The server id that grants a command to every server.
pub const ANY_SERVER: &str = "*";

/// A parsed ACL.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Acl {
    /// Server ids per command, indexed by [`AclCommand::index`].
    entries: [Vec<String>; 5],
}

impl Acl {
    /// The empty ACL (inherits from the parent).
    #[must_use]
    pub fn empty() -> Acl {
        Acl::default()
    }

    /// Parses an ACL string.
    ///
    /// # Errors
    /// [`Error::Acl`] for an unknown command, a missing `=`, an empty or malformed server id.
    pub fn parse(input: &str) -> Result<Acl, Error> {
        let err = |kind| Error::Acl {
            acl: input.to_owned(),
            kind,
        };
        let mut acl = Acl::default();
        if input.is_empty() {
            return Ok(acl);
        }
        for entry in input.split('&') {
            let (cmd, ids) = entry
                .split_once('=')
                .ok_or_else(|| err(AclErrorKind::MissingEquals))?;
            let cmd = AclCommand::from_name(cmd)
                .ok_or_else(|| err(AclErrorKind::UnknownCommand(cmd.to_owned())))?;
            for id in ids.split('+') {
                if id.is_empty() {
                    return Err(err(AclErrorKind::EmptyServerId));
                }
                if id
                    .chars()
                    .any(|c| c.is_whitespace() || c == '=' || c.is_control())
                {
                    return Err(err(AclErrorKind::BadServerId(id.to_owned())));
                }
                acl.grant(cmd, id);
            }
        }
        Ok(acl)
    }

    /// True when no command is granted (the node inherits its parent's ACL).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(Vec::is_empty)
    }

    /// Grants `cmd` to `server_id` (`*` for every server). Ids containing `&`, `+`, `=` or
    /// whitespace would not re-parse; callers pass DM server ids, which never hold them.
    pub fn grant(&mut self, cmd: AclCommand, server_id: &str) {
        if let Some(list) = self.entries.get_mut(cmd.index())
            && !list.iter().any(|s| s == server_id)
        {
            list.push(server_id.to_owned());
        }
    }

    /// Builder form of [`Acl::grant`].
    #[must_use]
    pub fn with(mut self, cmd: AclCommand, server_id: &str) -> Acl {
        self.grant(cmd, server_id);
        self
    }

    /// The server ids granted `cmd`.
    #[must_use]
    pub fn servers(&self, cmd: AclCommand) -> &[String] {
        self.entries.get(cmd.index()).map_or(&[], Vec::as_slice)
    }

    /// True if this ACL (taken as the effective ACL) lets `server_id` issue `cmd`.
    #[must_use]
    pub fn permits(&self, cmd: AclCommand, server_id: &str) -> bool {
        self.servers(cmd)
            .iter()
            .any(|s| s == ANY_SERVER || s == server_id)
    }
}

impl std::fmt::Display for Acl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for cmd in AclCommand::ALL {
            let ids = self.servers(cmd);
            if ids.is_empty() {
                continue;
            }
            if !first {
                f.write_str("&")?;
            }
            first = false;
            write!(f, "{}={}", cmd.name(), ids.join("+"))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Acl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Acl, Error> {
        Acl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_evaluate() {
        let acl = Acl::parse("Add=*&Get=srv1+srv2").unwrap();
        assert!(acl.permits(AclCommand::Add, "anyone"));
        assert!(acl.permits(AclCommand::Get, "srv1"));
        assert!(acl.permits(AclCommand::Get, "srv2"));
        assert!(!acl.permits(AclCommand::Get, "srv3"));
        assert!(!acl.permits(AclCommand::Replace, "srv1"));
        assert!(!acl.permits(AclCommand::Delete, "srv1"));
        assert_eq!(acl.to_string(), "Add=*&Get=srv1+srv2");
    }

    #[test]
    fn canonical_order_and_merge() {
        let acl = Acl::parse("Replace=b&Get=a&Get=b&Get=a").unwrap();
        assert_eq!(acl.to_string(), "Get=a+b&Replace=b");
        assert_eq!(Acl::parse(&acl.to_string()).unwrap(), acl);
    }

    #[test]
    fn empty_acl() {
        let acl = Acl::parse("").unwrap();
        assert!(acl.is_empty());
        assert_eq!(acl.to_string(), "");
        assert!(!acl.permits(AclCommand::Get, "x"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "Get", "Copy=*", "get=*", "Get=", "Get=a++b", "Get=a b", " Get=a", "Get=a&",
        ] {
            assert!(Acl::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = Acl::parse(&s);
        }

        #[test]
        fn canonical_round_trip(
            grants in proptest::collection::vec((0usize..5, "[a-z0-9*]{1,4}"), 0..8)
        ) {
            let mut acl = Acl::empty();
            for (i, id) in &grants {
                acl.grant(AclCommand::ALL[*i], id);
            }
            prop_assert_eq!(Acl::parse(&acl.to_string()).unwrap(), acl);
        }
    }
}
