//! DM accounts, DM 1.2 layout (MO id `urn:oma:mo:oma-dm-dmacc:1.0`, digest §5.7).
//!
//! Layout written by [`install`] below a parent (conventionally `./DMAcc`):
//!
//! ```text
//! <X>                      Type = MO id; ACL Add=S&Delete=S&Get=S&Replace=S (S = ServerID)
//!   AppID = w7, ServerID, Name?, AAuthPref?
//!   AppAddr/1/Addr, AppAddr/1/AddrType, AppAddr/1/Port/1/PortNbr?
//!   AppAuth/<LEVEL>/AAuthLevel|AAuthType|AAuthName|AAuthSecret|AAuthData
//! ```
//!
//! `<LEVEL>` is the AAuthLevel text (`CLCRED`, `SRVCRED`, ...). `AAuthSecret` and `AAuthData`
//! lack Get in their AccessType (a Get gives 405); `AAuthData` holds the raw nonce bytes
//! (Format `bin`). `AppID` and `ServerID` are Get-only; other leaves allow Get and Replace.
//! The reader ([`accounts`]) finds accounts anywhere by MO id, so accounts placed elsewhere by
//! a bootstrap are found too; it reads every `AppAddr/<X>` and `AppAuth/<X>` it finds but keeps
//! the first address.

use syncml::Data;

use crate::acl::{Acl, AclCommand};
use crate::error::Error;
use crate::node::{AccessType, Format, NewNode, Timestamp};
use crate::tree::Tree;
use crate::uri::{Uri, is_valid_name};

/// MO identifier stamped as the `Type` of each account node.
pub const MO_ID: &str = "urn:oma:mo:oma-dm-dmacc:1.0";
/// The usual parent of accounts.
pub const DEFAULT_PARENT: &str = "./DMAcc";

/// `AAuthLevel`: which direction/layer a credential serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthLevel {
    /// `CLCRED`: client → server, DM level.
    ClCred,
    /// `SRVCRED`: server → client, DM level (also the Package 0 digest).
    SrvCred,
    /// `OBEX`.
    Obex,
    /// `HTTP`.
    Http,
    /// Anything else, kept as written.
    Other(String),
}

impl AuthLevel {
    /// The DMAcc text of this level.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            AuthLevel::ClCred => "CLCRED",
            AuthLevel::SrvCred => "SRVCRED",
            AuthLevel::Obex => "OBEX",
            AuthLevel::Http => "HTTP",
            AuthLevel::Other(s) => s,
        }
    }

    /// Parses the DMAcc text.
    #[must_use]
    pub fn parse(s: &str) -> AuthLevel {
        match s {
            "CLCRED" => AuthLevel::ClCred,
            "SRVCRED" => AuthLevel::SrvCred,
            "OBEX" => AuthLevel::Obex,
            "HTTP" => AuthLevel::Http,
            other => AuthLevel::Other(other.to_owned()),
        }
    }
}

/// One `AppAuth/<X>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAuth {
    /// `AAuthLevel`.
    pub level: AuthLevel,
    /// `AAuthType`: `BASIC`, `DIGEST`, `HMAC`, `HTTP-BASIC`, ...
    pub auth_type: String,
    /// `AAuthName`: user or server name.
    pub name: String,
    /// `AAuthSecret`: password.
    pub secret: String,
    /// `AAuthData`: the nonce (raw octets).
    pub data: Vec<u8>,
}

/// The fields of one DM account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DmAccount {
    /// `ServerID`: the server identifier (ACLs, Package 0 server id).
    pub server_id: String,
    /// `Name`: display name.
    pub name: Option<String>,
    /// `AppAddr/<X>/Addr`: the server URL.
    pub addr: String,
    /// `AppAddr/<X>/AddrType`: `URI` (default), `IPv4`, `IPv6`.
    pub addr_type: String,
    /// `AppAddr/<X>/Port/<X>/PortNbr`.
    pub port: Option<u16>,
    /// `AAuthPref`: preferred AAuthType.
    pub auth_pref: Option<String>,
    /// The `AppAuth/<X>` entries.
    pub auths: Vec<AppAuth>,
}

impl DmAccount {
    /// The entry for `level`, if any.
    #[must_use]
    pub fn auth(&self, level: &AuthLevel) -> Option<&AppAuth> {
        self.auths.iter().find(|a| &a.level == level)
    }

    /// The client credentials (`CLCRED`).
    #[must_use]
    pub fn client_cred(&self) -> Option<&AppAuth> {
        self.auth(&AuthLevel::ClCred)
    }

    /// The server credentials (`SRVCRED`).
    #[must_use]
    pub fn server_cred(&self) -> Option<&AppAuth> {
        self.auth(&AuthLevel::SrvCred)
    }
}

/// An account found in a tree, with where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    /// The account node (`./DMAcc/<X>`).
    pub uri: Uri,
    /// Its fields.
    pub account: DmAccount,
}

fn text(v: &str) -> Data {
    Data::Text(v.to_owned())
}

/// Installs `account` as `<parent>/<node_name>` (the parent is created as a permanent
/// interior node with ACL `Get=*` if missing). Returns the account URI.
///
/// # Errors
/// [`Error::Uri`] for a bad parent or node name, [`Error::AlreadyExists`] if the account node
/// exists, [`Error::Account`] for an empty server id, [`Error::Acl`] for a server id that cannot
/// appear in an ACL.
pub fn install(
    tree: &mut Tree,
    parent: &str,
    node_name: &str,
    account: &DmAccount,
    now: Timestamp,
) -> Result<Uri, Error> {
    if account.server_id.is_empty() {
        return Err(Error::Account("empty ServerID"));
    }
    if !is_valid_name(node_name) {
        return Err(Error::Uri {
            uri: node_name.to_owned(),
            kind: crate::error::UriErrorKind::BadSegment,
        });
    }
    let parent_uri = tree.parse_uri(parent)?;
    let uri = parent_uri.join(node_name);
    let base = uri.to_absolute_string();
    if tree.node_at(&uri).is_some() {
        return Err(Error::AlreadyExists { path: base });
    }
    let sid = &account.server_id;
    // Validate the id through the ACL grammar (no '&', '+', '=', whitespace).
    let acl = Acl::parse(&format!("Add={sid}&Delete={sid}&Get={sid}&Replace={sid}"))?;
    if sid.contains('&') || sid.contains('+') {
        return Err(Error::Account("ServerID cannot appear in an ACL"));
    }
    if tree.node_at(&parent_uri).is_none() {
        let p = NewNode::interior()
            .access(AccessType::GET | AccessType::ADD)
            .acl(Acl::parse("Get=*")?)
            .permanent();
        tree.insert(parent, p, now)?;
    }
    // Build the account on a copy of the store so a failure leaves nothing behind.
    let saved = tree.store.clone();
    let res = write_account(tree, &base, acl, account, now);
    if res.is_err() {
        tree.store = saved;
    }
    res.map(|()| uri)
}

fn write_account(
    tree: &mut Tree,
    base: &str,
    acl: Acl,
    a: &DmAccount,
    now: Timestamp,
) -> Result<(), Error> {
    let get_only = || NewNode::leaf("").access(AccessType::GET | AccessType::COPY);
    let rw = || NewNode::leaf("").access(AccessType::DYNAMIC);
    let secret =
        || NewNode::leaf("").access(AccessType::ADD | AccessType::DELETE | AccessType::REPLACE);
    let leaf = |tree: &mut Tree, rel: &str, v: Data, spec: NewNode| {
        tree.insert(
            &format!("{base}/{rel}"),
            NewNode {
                value: Some(v),
                ..spec
            },
            now,
        )
        .map(|_| ())
    };
    tree.insert(base, NewNode::interior().mime_type(MO_ID).acl(acl), now)?;
    leaf(tree, "AppID", text("w7"), get_only())?;
    leaf(tree, "ServerID", text(&a.server_id), get_only())?;
    if let Some(n) = &a.name {
        leaf(tree, "Name", text(n), rw())?;
    }
    if let Some(p) = &a.auth_pref {
        leaf(tree, "AAuthPref", text(p), rw())?;
    }
    leaf(tree, "AppAddr/1/Addr", text(&a.addr), rw())?;
    let addr_type = if a.addr_type.is_empty() {
        "URI"
    } else {
        a.addr_type.as_str()
    };
    leaf(tree, "AppAddr/1/AddrType", text(addr_type), rw())?;
    if let Some(port) = a.port {
        leaf(
            tree,
            "AppAddr/1/Port/1/PortNbr",
            text(&port.to_string()),
            rw(),
        )?;
    }
    for (i, auth) in a.auths.iter().enumerate() {
        let level = auth.level.as_str();
        let x = if is_valid_name(level) && !a.auths.iter().take(i).any(|o| o.level == auth.level) {
            level.to_owned()
        } else {
            format!("{}", i + 1)
        };
        let p = format!("AppAuth/{x}");
        leaf(tree, &format!("{p}/AAuthLevel"), text(level), rw())?;
        leaf(tree, &format!("{p}/AAuthType"), text(&auth.auth_type), rw())?;
        leaf(tree, &format!("{p}/AAuthName"), text(&auth.name), rw())?;
        leaf(
            tree,
            &format!("{p}/AAuthSecret"),
            text(&auth.secret),
            secret(),
        )?;
        let data = NewNode {
            format: Format::Bin,
            ..secret()
        };
        leaf(
            tree,
            &format!("{p}/AAuthData"),
            Data::Opaque(auth.data.clone()),
            data,
        )?;
    }
    Ok(())
}

fn read_str(tree: &Tree, base: &Uri, rel: &[&str]) -> Option<String> {
    let mut u = base.clone();
    for s in rel {
        u = u.join(s);
    }
    tree.node_at(&u)
        .and_then(|n| n.value())
        .and_then(Data::as_str)
        .map(str::to_owned)
}

fn child_uris(tree: &Tree, base: &Uri, rel: &str) -> Vec<Uri> {
    let u = base.join(rel);
    tree.node_at(&u)
        .map(|n| n.child_names().map(|c| u.join(c)).collect())
        .unwrap_or_default()
}

fn read_account(tree: &Tree, uri: &Uri) -> DmAccount {
    let mut acc = DmAccount {
        server_id: read_str(tree, uri, &["ServerID"]).unwrap_or_default(),
        name: read_str(tree, uri, &["Name"]),
        auth_pref: read_str(tree, uri, &["AAuthPref"]),
        ..DmAccount::default()
    };
    if let Some(addr) = child_uris(tree, uri, "AppAddr").first() {
        acc.addr = read_str(tree, addr, &["Addr"]).unwrap_or_default();
        acc.addr_type = read_str(tree, addr, &["AddrType"]).unwrap_or_else(|| "URI".to_owned());
        acc.port = child_uris(tree, addr, "Port")
            .first()
            .and_then(|p| read_str(tree, p, &["PortNbr"]))
            .and_then(|s| s.trim().parse().ok());
    }
    for a in child_uris(tree, uri, "AppAuth") {
        let data = tree
            .node_at(&a.join("AAuthData"))
            .and_then(|n| n.value())
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        acc.auths.push(AppAuth {
            level: AuthLevel::parse(&read_str(tree, &a, &["AAuthLevel"]).unwrap_or_default()),
            auth_type: read_str(tree, &a, &["AAuthType"]).unwrap_or_default(),
            name: read_str(tree, &a, &["AAuthName"]).unwrap_or_default(),
            secret: read_str(tree, &a, &["AAuthSecret"]).unwrap_or_default(),
            data,
        });
    }
    acc
}

/// Every DM account in the tree (nodes whose `Type` is [`MO_ID`]), in tree order.
#[must_use]
pub fn accounts(tree: &Tree) -> Vec<StoredAccount> {
    tree.find_by_type(MO_ID)
        .into_iter()
        .map(|uri| StoredAccount {
            account: read_account(tree, &uri),
            uri,
        })
        .collect()
}

/// The account whose `ServerID` is `server_id`.
#[must_use]
pub fn find_by_server_id(tree: &Tree, server_id: &str) -> Option<StoredAccount> {
    accounts(tree)
        .into_iter()
        .find(|a| a.account.server_id == server_id)
}

/// Stores a new nonce in `AAuthData` of the `level` entry of `server_id`'s account (creating
/// the leaf if the entry lacks it).
///
/// # Errors
/// [`Error::Account`] if there is no such account or entry.
pub fn set_nonce(
    tree: &mut Tree,
    server_id: &str,
    level: &AuthLevel,
    nonce: &[u8],
    now: Timestamp,
) -> Result<(), Error> {
    let acc = find_by_server_id(tree, server_id).ok_or(Error::Account("no account for server"))?;
    let entry = child_uris(tree, &acc.uri, "AppAuth")
        .into_iter()
        .find(|a| read_str(tree, a, &["AAuthLevel"]).as_deref() == Some(level.as_str()))
        .ok_or(Error::Account("no AppAuth entry for that level"))?;
    let path = entry.join("AAuthData").to_absolute_string();
    let value = Data::Opaque(nonce.to_vec());
    if tree.get(&path).is_some() {
        tree.set_value(&path, value, now)
    } else {
        let spec = NewNode::leaf(value)
            .format(Format::Bin)
            .access(AccessType::ADD | AccessType::DELETE | AccessType::REPLACE);
        tree.insert(&path, spec, now).map(|_| ())
    }
}

/// True if `server_id` is granted `cmd` on its own account node (a convenience for clients
/// deciding which server owns an account).
#[must_use]
pub fn server_owns(tree: &Tree, account: &StoredAccount, server_id: &str) -> bool {
    tree.node_at(&account.uri)
        .is_some_and(|n| n.acl().permits(AclCommand::Replace, server_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> DmAccount {
        DmAccount {
            server_id: "srv1".into(),
            name: Some("Test server".into()),
            addr: "http://127.0.0.1:8080/dm".into(),
            addr_type: "URI".into(),
            port: Some(8080),
            auth_pref: Some("DIGEST".into()),
            auths: vec![
                AppAuth {
                    level: AuthLevel::ClCred,
                    auth_type: "DIGEST".into(),
                    name: "dev1".into(),
                    secret: "clpwd".into(),
                    data: b"cn".to_vec(),
                },
                AppAuth {
                    level: AuthLevel::SrvCred,
                    auth_type: "DIGEST".into(),
                    name: "srv1".into(),
                    secret: "srvpwd".into(),
                    data: b"sn".to_vec(),
                },
            ],
        }
    }

    #[test]
    fn install_read_and_nonce() {
        let mut t = Tree::new();
        let uri = install(&mut t, DEFAULT_PARENT, "Srv1", &sample(), Timestamp(1)).unwrap();
        assert_eq!(uri.to_absolute_string(), "./DMAcc/Srv1");
        assert_eq!(t.value_str("./DMAcc/Srv1/AppID"), Some("w7"));
        assert_eq!(t.get("./DMAcc/Srv1").unwrap().mime_type(), Some(MO_ID));
        let all = accounts(&t);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].account, sample());
        assert!(server_owns(&t, &all[0], "srv1"));
        assert!(!server_owns(&t, &all[0], "other"));

        set_nonce(
            &mut t,
            "srv1",
            &AuthLevel::SrvCred,
            &[0, 1, 2],
            Timestamp(2),
        )
        .unwrap();
        let acc = find_by_server_id(&t, "srv1").unwrap().account;
        assert_eq!(acc.server_cred().unwrap().data, vec![0, 1, 2]);
        assert_eq!(acc.client_cred().unwrap().data, b"cn".to_vec());
        assert!(set_nonce(&mut t, "nobody", &AuthLevel::SrvCred, b"x", Timestamp(2)).is_err());
        assert!(find_by_server_id(&t, "nobody").is_none());
    }

    #[test]
    fn install_refuses_duplicates_and_bad_ids() {
        let mut t = Tree::new();
        install(&mut t, DEFAULT_PARENT, "A", &sample(), Timestamp(1)).unwrap();
        assert!(matches!(
            install(&mut t, DEFAULT_PARENT, "A", &sample(), Timestamp(1)),
            Err(Error::AlreadyExists { .. })
        ));
        let bad = DmAccount {
            server_id: "a b".into(),
            ..sample()
        };
        assert!(install(&mut t, DEFAULT_PARENT, "B", &bad, Timestamp(1)).is_err());
        assert!(t.get("./DMAcc/B").is_none());
    }
}
