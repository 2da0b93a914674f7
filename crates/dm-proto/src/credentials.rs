//! Credentials a session proves itself with or expects from its peer, and the source of fresh
//! nonces. The formulas themselves live in [`syncml::auth`].

use syncml::auth::{self, AuthScheme, Secret};
use syncml::{Chal, Cred, StatusCode};

use crate::Error;

/// Length of the nonces this crate issues (128 bits, as DM Security recommends).
pub const NONCE_LEN: usize = 16;

/// A secret as stored: the password, or only the hash `B64(MD5(name ":" password))` that is
/// enough to verify (and to produce) md5 and MAC credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredSecret {
    /// The plain password.
    Password(String),
    /// `B64(MD5(name ":" password))` as Base64 text.
    UserHash(String),
}

impl StoredSecret {
    /// The borrowed form [`syncml::auth`] takes.
    #[must_use]
    pub fn as_secret(&self) -> Secret<'_> {
        match self {
            StoredSecret::Password(p) => Secret::Password(p),
            StoredSecret::UserHash(h) => Secret::UserHash(h),
        }
    }
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredSecret::Password(_) => f.write_str("Password(..)"),
            StoredSecret::UserHash(_) => f.write_str("UserHash(..)"),
        }
    }
}

/// One direction of DM-level authentication (a DMAcc `AppAuth` entry): the scheme, the name,
/// the secret and the current nonce (raw octets; DMAcc `AAuthData`).
///
/// Used both for credentials a session sends (its own: the nonce is the last one the peer
/// issued) and for credentials it verifies (the peer's: the nonce is the last one this side
/// issued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The scheme (`syncml:auth-basic`, `syncml:auth-md5` or `syncml:auth-MAC`).
    pub scheme: AuthScheme,
    /// User name (client) or server identifier (server); `SyncHdr/Source/LocName` for md5.
    pub name: String,
    /// The secret.
    pub secret: StoredSecret,
    /// The current nonce, raw octets (empty if none was ever exchanged).
    pub nonce: Vec<u8>,
}

impl Credentials {
    /// The `Cred` element for a header, or `None` for MAC (which travels in the HTTP header).
    pub(crate) fn cred(&self) -> Result<Option<Cred>, Error> {
        if self.scheme == AuthScheme::Hmac {
            return Ok(None);
        }
        auth::build_cred(
            self.scheme,
            &self.name,
            self.secret.as_secret(),
            &self.nonce,
        )
        .map(Some)
        .map_err(Error::Credentials)
    }

    /// The `x-syncml-hmac` header value for `body`, when the scheme is MAC.
    pub(crate) fn hmac_header(&self, body: &[u8]) -> Option<String> {
        (self.scheme == AuthScheme::Hmac).then(|| {
            auth::HmacHeader::compute(&self.name, self.secret.as_secret(), &self.nonce, body)
                .to_header_value()
        })
    }

    /// Checks what a peer sent in its header (or `x-syncml-hmac`) against these credentials.
    pub(crate) fn check(&self, cred: Option<&Cred>, mac: Option<&MacInput<'_>>) -> Verdict {
        if self.scheme == AuthScheme::Hmac {
            let Some(mac) = mac else {
                return Verdict::Missing;
            };
            let Some(value) = mac.header else {
                return Verdict::Missing;
            };
            let Ok(header) = auth::HmacHeader::parse(value) else {
                return Verdict::Wrong;
            };
            let ok = header.username == self.name
                && header.verify(self.secret.as_secret(), &self.nonce, mac.body);
            return if ok { Verdict::Ok } else { Verdict::Wrong };
        }
        let Some(cred) = cred else {
            return Verdict::Missing;
        };
        // The configured scheme, and only it: a device set up for md5 must not get in with
        // basic (no downgrade; digest §4.2: the peer answers with the requested type).
        if auth::cred_scheme(cred).ok() != Some(self.scheme) {
            return Verdict::Wrong;
        }
        match auth::verify_cred(cred, &self.name, self.secret.as_secret(), &self.nonce) {
            Ok(true) => Verdict::Ok,
            Ok(false) | Err(_) => Verdict::Wrong,
        }
    }

    /// A challenge for this scheme carrying `nonce` (basic carries none).
    pub(crate) fn chal(&self, nonce: Option<&[u8]>) -> Chal {
        let nonce = if self.scheme == AuthScheme::Basic {
            None
        } else {
            nonce
        };
        auth::build_chal(self.scheme, nonce)
    }
}

/// The raw body and the `x-syncml-hmac` header value of a received message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MacInput<'a> {
    pub(crate) body: &'a [u8],
    pub(crate) header: Option<&'a str>,
}

/// Result of checking a peer's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ok,
    Missing,
    Wrong,
}

impl Verdict {
    /// The status a refused header gets: 407 missing, 401 wrong.
    pub(crate) fn refusal(self) -> StatusCode {
        match self {
            Verdict::Missing => StatusCode::MISSING_CREDENTIALS,
            Verdict::Ok | Verdict::Wrong => StatusCode::INVALID_CREDENTIALS,
        }
    }
}

/// Where fresh nonces come from: the caller's random source (the sessions never read OS
/// randomness). Any `FnMut(&mut [u8]) + Send` closure is one.
pub trait NonceSource: Send {
    /// Fills `buf` with unpredictable bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8]) + Send> NonceSource for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf);
    }
}

pub(crate) fn fresh_nonce(source: &mut dyn NonceSource) -> Vec<u8> {
    let mut n = vec![0u8; NONCE_LEN];
    source.fill(&mut n);
    n
}
