//! Package 0: the DM 1.2 server-alerted management notification
//! (`application/vnd.syncml.notification`), and its WSP push framing ([`wsp`]).
//!
//! In: notification fields, the server's credentials (server id, password, nonce as raw
//! octets), or received bytes. Out: the encoded message, the decoded [`Notification`] and its
//! 16-byte digest, a constant-time verdict.
//!
//! Layout (digest §2.2, big-endian):
//!
//! ```text
//! bytes 0..16   digest = MD5(B64(MD5(server-id ":" password)) ":" nonce ":" B64(MD5(trigger)))
//! bytes 16..24  W: version (10 bits) | ui-mode (2) | initiator (1) | future-use (27, zero)
//!                  | session-id (16) | server-id length N (8)
//! bytes 24..    N bytes server identifier, then the vendor-specific part (rest of the message)
//! trigger = bytes 16.. (header and body: everything after the digest)
//! ```
//!
//! Decisions (project choices, digest §2.2):
//! - Versions 11 and 12 are accepted on input, anything else is [`Error::Pkg0Version`];
//!   [`Notification::new`] uses [`VERSION_DEFAULT`] (11).
//! - Non-zero future-use bits are **rejected** ([`Error::Pkg0FutureUse`]): the sender MUST set
//!   them to zero, and a message using them is a format we do not understand. (A transparent
//!   relay forwards the raw bytes anyway and need not decode.)
//! - The server identifier must be UTF-8 ([`Error::Pkg0ServerIdUtf8`]); DMAcc ServerID is `chr`.
//!
//! [`decode`] is total: any input gives a value or an [`Error`] with a byte offset; it never
//! panics.

pub mod wsp;

use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq as _;

use crate::Error;
use crate::auth::{b64_encode, user_hash};

/// Notification version 1.1 (value 11): what the DM 1.2 text requires and libdmclient checks.
pub const VERSION_11: u16 = 11;
/// Notification version 1.2 (value 12): accepted on input.
pub const VERSION_12: u16 = 12;
/// The version [`Notification::new`] writes.
pub const VERSION_DEFAULT: u16 = VERSION_11;

/// Offset of the trigger header (just after the digest).
pub const HEADER_OFFSET: usize = 16;
/// Offset of the server identifier.
pub const SERVER_ID_OFFSET: usize = 24;

/// The special nonce of the nonce resynchronisation procedure as four zero octets (digest §2.3).
pub const RESYNC_NONCE_OCTETS: &[u8] = &[0, 0, 0, 0];
/// The special nonce as the ASCII text `0x00000000` (what libdmclient uses; digest §2.3).
pub const RESYNC_NONCE_TEXT: &[u8] = b"0x00000000";

/// The user-interaction mode the server recommends (2 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UiMode {
    /// `00`: not specified.
    #[default]
    NotSpecified,
    /// `01`: background, no user interaction.
    Background,
    /// `10`: informative, the user is told.
    Informative,
    /// `11`: user interaction, the user is asked.
    UserInteraction,
}

impl UiMode {
    /// The 2-bit value.
    #[must_use]
    pub fn bits(self) -> u8 {
        match self {
            UiMode::NotSpecified => 0,
            UiMode::Background => 1,
            UiMode::Informative => 2,
            UiMode::UserInteraction => 3,
        }
    }

    /// The mode of a 2-bit value (higher bits ignored).
    #[must_use]
    pub fn from_bits(bits: u8) -> UiMode {
        match bits & 3 {
            0 => UiMode::NotSpecified,
            1 => UiMode::Background,
            2 => UiMode::Informative,
            _ => UiMode::UserInteraction,
        }
    }

    /// Stable lower-case name: `not-specified`, `background`, `informative`,
    /// `user-interaction`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            UiMode::NotSpecified => "not-specified",
            UiMode::Background => "background",
            UiMode::Informative => "informative",
            UiMode::UserInteraction => "user-interaction",
        }
    }

    /// The mode named by [`UiMode::name`] or by its number `0`..`3`.
    #[must_use]
    pub fn parse(text: &str) -> Option<UiMode> {
        let text = text.trim();
        [
            UiMode::NotSpecified,
            UiMode::Background,
            UiMode::Informative,
            UiMode::UserInteraction,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(text) || m.bits().to_string() == text)
    }
}

/// Who initiated the management session the notification asks for (1 bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Initiator {
    /// `0`: client (user) initiated.
    Client,
    /// `1`: server initiated.
    #[default]
    Server,
}

impl Initiator {
    /// The bit value.
    #[must_use]
    pub fn bit(self) -> u8 {
        match self {
            Initiator::Client => 0,
            Initiator::Server => 1,
        }
    }

    /// Stable lower-case name: `client` or `server`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Initiator::Client => "client",
            Initiator::Server => "server",
        }
    }

    /// The initiator named by [`Initiator::name`] (`user` is taken as `client`) or by `0`/`1`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Initiator> {
        match text.trim().to_ascii_lowercase().as_str() {
            "client" | "user" | "0" => Some(Initiator::Client),
            "server" | "1" => Some(Initiator::Server),
            _ => None,
        }
    }
}

/// A decoded Package 0 notification (without its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Notification version times ten: 11 or 12 (10 bits on the wire).
    pub version: u16,
    /// Recommended user-interaction mode.
    pub ui_mode: UiMode,
    /// Initiator of the session.
    pub initiator: Initiator,
    /// Session id; the client puts it in `SyncHdr/SessionID` as [`session_id_to_hex`].
    pub session_id: u16,
    /// Server identifier (DMAcc `ServerID`), at most 255 bytes.
    pub server_id: String,
    /// Vendor-specific bytes after the server identifier (often empty).
    pub vendor: Vec<u8>,
}

impl Notification {
    /// A server-initiated notification with version [`VERSION_DEFAULT`], ui-mode not specified
    /// and no vendor part.
    #[must_use]
    pub fn new(server_id: impl Into<String>, session_id: u16) -> Notification {
        Notification {
            version: VERSION_DEFAULT,
            ui_mode: UiMode::default(),
            initiator: Initiator::Server,
            session_id,
            server_id: server_id.into(),
            vendor: Vec::new(),
        }
    }

    /// The trigger: header (8 bytes + server id) and body (vendor part). This is what the
    /// digest covers.
    ///
    /// # Errors
    /// [`Error::Pkg0Unencodable`] if `version` does not fit in 10 bits or `server_id` is longer
    /// than 255 bytes.
    pub fn trigger(&self) -> Result<Vec<u8>, Error> {
        if self.version > 0x3ff {
            return Err(Error::Pkg0Unencodable {
                field: "version",
                reason: "does not fit in 10 bits",
            });
        }
        let id_len = u8::try_from(self.server_id.len()).map_err(|_| Error::Pkg0Unencodable {
            field: "server_id",
            reason: "longer than 255 bytes",
        })?;
        let w: u64 = (u64::from(self.version) << 54)
            | (u64::from(self.ui_mode.bits()) << 52)
            | (u64::from(self.initiator.bit()) << 51)
            | (u64::from(self.session_id) << 8)
            | u64::from(id_len);
        let mut out = Vec::with_capacity(8 + self.server_id.len() + self.vendor.len());
        out.extend_from_slice(&w.to_be_bytes());
        out.extend_from_slice(self.server_id.as_bytes());
        out.extend_from_slice(&self.vendor);
        Ok(out)
    }

    /// The whole message: digest (computed with the server's credentials for this device and
    /// the nonce as raw octets) followed by the trigger.
    ///
    /// The digest uses `self.server_id` as the server identifier, which is what the device
    /// stores in its DMAcc.
    ///
    /// # Errors
    /// As [`Notification::trigger`].
    pub fn encode(&self, server_password: &str, nonce: &[u8]) -> Result<Vec<u8>, Error> {
        let trigger = self.trigger()?;
        let d = digest(&self.server_id, server_password, nonce, &trigger);
        let mut out = Vec::with_capacity(16 + trigger.len());
        out.extend_from_slice(&d);
        out.extend_from_slice(&trigger);
        Ok(out)
    }

    /// The session id as `SyncHdr/SessionID` text (uppercase hex, no leading zeros).
    #[must_use]
    pub fn session_id_hex(&self) -> String {
        session_id_to_hex(self.session_id)
    }
}

/// The Package 0 digest:
/// `MD5(B64(MD5(server_id ":" password)) ":" nonce ":" B64(MD5(trigger)))`, 16 raw bytes.
#[must_use]
pub fn digest(server_id: &str, password: &str, nonce: &[u8], trigger: &[u8]) -> [u8; 16] {
    let trigger_hash = b64_encode(&Md5::digest(trigger));
    let mut h = Md5::new();
    h.update(user_hash(server_id, password).as_bytes());
    h.update(b":");
    h.update(nonce);
    h.update(b":");
    h.update(trigger_hash.as_bytes());
    h.finalize().into()
}

/// Decodes a Package 0 message into the notification and the 16-byte digest it carries (not
/// verified: see [`verify`]).
///
/// # Errors
/// [`Error::Pkg0Truncated`] (shorter than 24 bytes, or the server id runs past the end),
/// [`Error::Pkg0Version`], [`Error::Pkg0FutureUse`], [`Error::Pkg0ServerIdUtf8`].
pub fn decode(bytes: &[u8]) -> Result<(Notification, [u8; 16]), Error> {
    let (digest_bytes, rest) = bytes
        .split_first_chunk::<16>()
        .ok_or(Error::Pkg0Truncated {
            what: "Package 0 digest",
            len: bytes.len(),
            needed: 16,
        })?;
    let (w_bytes, rest) = rest.split_first_chunk::<8>().ok_or(Error::Pkg0Truncated {
        what: "Package 0 trigger header",
        len: bytes.len(),
        needed: SERVER_ID_OFFSET,
    })?;
    let w = u64::from_be_bytes(*w_bytes);
    let version = u16::try_from(w >> 54).unwrap_or(u16::MAX);
    if version != VERSION_11 && version != VERSION_12 {
        return Err(Error::Pkg0Version { version });
    }
    let future = u32::try_from((w >> 24) & 0x7ff_ffff).unwrap_or(u32::MAX);
    if future != 0 {
        return Err(Error::Pkg0FutureUse { bits: future });
    }
    let ui_mode = UiMode::from_bits(u8::try_from((w >> 52) & 3).unwrap_or(0));
    let initiator = if (w >> 51) & 1 == 1 {
        Initiator::Server
    } else {
        Initiator::Client
    };
    let session_id = u16::try_from((w >> 8) & 0xffff).unwrap_or(0);
    let id_len = usize::from(w_bytes[7]);
    if rest.len() < id_len {
        return Err(Error::Pkg0Truncated {
            what: "Package 0 server identifier",
            len: bytes.len(),
            needed: SERVER_ID_OFFSET + id_len,
        });
    }
    let (id_bytes, vendor) = rest.split_at(id_len);
    let server_id = std::str::from_utf8(id_bytes)
        .map_err(|e| Error::Pkg0ServerIdUtf8 {
            offset: SERVER_ID_OFFSET + e.valid_up_to(),
        })?
        .to_owned();
    Ok((
        Notification {
            version,
            ui_mode,
            initiator,
            session_id,
            server_id,
            vendor: vendor.to_vec(),
        },
        *digest_bytes,
    ))
}

/// True when the first 16 bytes of `bytes` are the digest of the rest under `server_id`,
/// `password` and `nonce` (raw octets). Constant-time in the digest comparison; false for input
/// shorter than 16 bytes. The trigger is not otherwise parsed.
#[must_use]
pub fn verify(bytes: &[u8], server_id: &str, password: &str, nonce: &[u8]) -> bool {
    let Some((got, trigger)) = bytes.split_first_chunk::<16>() else {
        return false;
    };
    let expected = digest(server_id, password, nonce, trigger);
    bool::from(got.ct_eq(&expected))
}

/// HTTP header naming the End Device a DM gateway relays a Package 0 to (GwMO Transparent
/// mode; over WSP it is [`wsp::Header::GwMo`]).
pub const GWMO_HEADER: &str = "X-Oma-GwMO";

/// Header carrying the relay MAC ([`relay_mac`]): an HTTP header, or a text WSP application
/// header of the same name.
pub const RELAY_MAC_HEADER: &str = "X-Oma-GwMO-MAC";

/// The relay MAC of a Package 0 a DM server sends through a DM gateway for an End Device
/// (project choice, docs/gateway.md §4): the `x-syncml-hmac` formula over `device "\n" body`,
/// `B64(MD5(H ":" nonce ":" B64(MD5(device "\n" body))))` with `H = B64(MD5(server_id ":"
/// password))`, keyed by the server's credentials toward the gateway (`server_id`, `password`)
/// and the nonce the gateway issued for them (raw octets). The server computes it; the
/// gateway relays only a notification whose MAC it recomputes.
#[must_use]
pub fn relay_mac(
    server_id: &str,
    password: &str,
    nonce: &[u8],
    device: &str,
    body: &[u8],
) -> String {
    let mut signed = Vec::with_capacity(device.len() + 1 + body.len());
    signed.extend_from_slice(device.as_bytes());
    signed.push(b'\n');
    signed.extend_from_slice(body);
    crate::auth::hmac_mac(
        server_id,
        crate::auth::Secret::Password(password),
        nonce,
        &signed,
    )
}

/// Which nonce made a digest verify, for the nonce resynchronisation procedure (digest §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceMatch {
    /// The stored nonce.
    Stored,
    /// The special resync nonce as four zero octets.
    ResyncOctets,
    /// The special resync nonce as the ASCII text `0x00000000`.
    ResyncText,
}

/// Verifies with the stored nonce, then (as a client SHOULD) with the special resync nonce in
/// both of its representations. `None` when none verifies.
#[must_use]
pub fn verify_with_resync(
    bytes: &[u8],
    server_id: &str,
    password: &str,
    stored_nonce: &[u8],
) -> Option<NonceMatch> {
    [
        (NonceMatch::Stored, stored_nonce),
        (NonceMatch::ResyncOctets, RESYNC_NONCE_OCTETS),
        (NonceMatch::ResyncText, RESYNC_NONCE_TEXT),
    ]
    .into_iter()
    .find(|(_, nonce)| verify(bytes, server_id, password, nonce))
    .map(|(m, _)| m)
}

/// The `SyncHdr/SessionID` text of a Package 0 session id: uppercase hex without leading
/// zeros (0x002A gives `2A`; 0 gives `0`).
#[must_use]
pub fn session_id_to_hex(id: u16) -> String {
    format!("{id:X}")
}

/// Parses a `SessionID` text back into a 16-bit session id: 1 to 4 hex digits, either case,
/// leading zeros tolerated.
///
/// # Errors
/// [`Error::SessionIdHex`] otherwise.
pub fn session_id_from_hex(text: &str) -> Result<u16, Error> {
    let bad = || Error::SessionIdHex {
        text: text.to_owned(),
    };
    let t = text.trim();
    let digits = t.trim_start_matches('0');
    if t.is_empty() || digits.len() > 4 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    if digits.is_empty() {
        return Ok(0);
    }
    u16::from_str_radix(digits, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GwMO-TMode-001 relay MAC: the x-syncml-hmac formula over `device "\n" body`; another
    /// device, body, nonce or password gives another MAC.
    #[test]
    fn relay_mac_is_the_hmac_formula_over_device_and_body() {
        let mac = relay_mac("srv", "pw", b"n1", "IMEI:1", b"pkg0");
        assert_eq!(
            mac,
            crate::auth::hmac_mac(
                "srv",
                crate::auth::Secret::Password("pw"),
                b"n1",
                b"IMEI:1\npkg0"
            )
        );
        for other in [
            relay_mac("srv", "pw", b"n1", "IMEI:2", b"pkg0"),
            relay_mac("srv", "pw", b"n1", "IMEI:1", b"pkg1"),
            relay_mac("srv", "pw", b"n2", "IMEI:1", b"pkg0"),
            relay_mac("srv", "pX", b"n1", "IMEI:1", b"pkg0"),
        ] {
            assert_ne!(other, mac);
        }
    }

    #[test]
    fn bit_layout_of_fields() {
        let n = Notification {
            version: 12,
            ui_mode: UiMode::UserInteraction,
            initiator: Initiator::Client,
            session_id: 0xBEEF,
            server_id: "s".into(),
            vendor: vec![9, 8],
        };
        let t = n.trigger().unwrap();
        // 12 << 6 = 0x300; ui 3 -> 0x30 in the second byte's high nibble.
        assert_eq!(t, [0x03, 0x30, 0, 0, 0, 0xBE, 0xEF, 1, b's', 9, 8]);
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(
            decode(&[0; 10]),
            Err(Error::Pkg0Truncated {
                what: "Package 0 digest",
                len: 10,
                needed: 16
            })
        );
        assert!(matches!(
            decode(&[0; 20]),
            Err(Error::Pkg0Truncated { needed: 24, .. })
        ));
        let mut m = Notification::new("abc", 1).encode("p", b"n").unwrap();
        m.truncate(25);
        assert_eq!(
            decode(&m),
            Err(Error::Pkg0Truncated {
                what: "Package 0 server identifier",
                len: 25,
                needed: 27
            })
        );
        let mut m = Notification::new("abc", 1).encode("p", b"n").unwrap();
        m[20] = 1; // a future-use bit
        assert!(matches!(decode(&m), Err(Error::Pkg0FutureUse { .. })));
        let mut m = Notification::new("abc", 1).encode("p", b"n").unwrap();
        m[25] = 0xff;
        assert_eq!(decode(&m), Err(Error::Pkg0ServerIdUtf8 { offset: 25 }));
        let mut n = Notification::new("abc", 1);
        n.version = 13;
        let m = n.encode("p", b"n").unwrap();
        assert_eq!(decode(&m), Err(Error::Pkg0Version { version: 13 }));
    }

    #[test]
    fn unencodable_fields() {
        let n = Notification::new("x".repeat(256), 1);
        assert!(matches!(
            n.encode("p", b""),
            Err(Error::Pkg0Unencodable {
                field: "server_id",
                ..
            })
        ));
        let mut n = Notification::new("x", 1);
        n.version = 1024;
        assert!(matches!(
            n.trigger(),
            Err(Error::Pkg0Unencodable {
                field: "version",
                ..
            })
        ));
    }

    #[test]
    fn session_id_text() {
        assert_eq!(session_id_to_hex(0x002A), "2A");
        assert_eq!(session_id_to_hex(0xFFFF), "FFFF");
        assert_eq!(session_id_from_hex("2a").unwrap(), 0x2A);
        assert_eq!(session_id_from_hex("002A").unwrap(), 0x2A);
        assert!(session_id_from_hex("").is_err());
        assert!(session_id_from_hex("10000").is_err());
        assert!(session_id_from_hex("+1").is_err());
        for id in [0u16, 1, 0xA, 0x100, 0xABCD, u16::MAX] {
            assert_eq!(session_id_from_hex(&session_id_to_hex(id)).unwrap(), id);
        }
    }

    #[test]
    fn resync_nonce_forms() {
        let n = Notification::new("srv", 7);
        let m = n.encode("pw", RESYNC_NONCE_TEXT).unwrap();
        assert_eq!(
            verify_with_resync(&m, "srv", "pw", b"old"),
            Some(NonceMatch::ResyncText)
        );
        let m = n.encode("pw", RESYNC_NONCE_OCTETS).unwrap();
        assert_eq!(
            verify_with_resync(&m, "srv", "pw", b"old"),
            Some(NonceMatch::ResyncOctets)
        );
        let m = n.encode("pw", b"old").unwrap();
        assert_eq!(
            verify_with_resync(&m, "srv", "pw", b"old"),
            Some(NonceMatch::Stored)
        );
        assert_eq!(verify_with_resync(&m, "srv", "other", b"old"), None);
        assert!(!verify(&m[..10], "srv", "pw", b"old"));
    }
}
