//! The Image Inventory model (`./GwMO/ImageInventory`, GwMO-DCIS-001..003, use case B.8):
//! image states, SHA-256 digests in hex, and the node URIs of image entries.
//!
//! In: node values as the server writes them (`SHA256`, `State`). Out: typed values
//! ([`Sha256Hex`], [`ImageState`]) and URIs ([`image_uri`]). The layout itself is in
//! [`crate::layout::NODES`]; the `imageready` payload in [`crate::payload::ImageReady`].

use std::fmt;

use crate::Error;
use crate::error::peer_text;
use crate::mo;

/// Where image entries live: `./GwMO/ImageInventory/Images`.
pub const IMAGES_URI: &str = "./GwMO/ImageInventory/Images";

/// Longest image entry name (`<x>`) we accept, bytes.
pub const MAX_ENTRY_NAME: usize = 64;

/// The state of an image entry (`Images/<x>/State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageState {
    /// Created, not downloaded yet.
    Created,
    /// Being downloaded (or its `Data` being written).
    Downloading,
    /// Stored and verified; served when enabled.
    Ready,
    /// The last download failed (digest mismatch, quota, transport); a new `Download` retries.
    Failed,
    /// Stored, but the server disabled it (`Enabled` false): not served.
    Disabled,
}

impl ImageState {
    /// Every state.
    pub const ALL: [ImageState; 5] = [
        ImageState::Created,
        ImageState::Downloading,
        ImageState::Ready,
        ImageState::Failed,
        ImageState::Disabled,
    ];

    /// The node value: `created`, `downloading`, `ready`, `failed`, `disabled`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ImageState::Created => "created",
            ImageState::Downloading => "downloading",
            ImageState::Ready => "ready",
            ImageState::Failed => "failed",
            ImageState::Disabled => "disabled",
        }
    }

    /// The state named `s` (ASCII case ignored).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] (`what` = `image state`).
    pub fn parse(s: &str) -> Result<ImageState, Error> {
        ImageState::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::InvalidValue {
                what: "image state",
                found: peer_text(s),
            })
    }
}

impl fmt::Display for ImageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SHA-256 digest as 64 lowercase hex digits (the `SHA256` leaf, the store's file name, the
/// local URI's path segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// Reads 64 hex digits (either case; surrounding whitespace trimmed), kept in lowercase.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] (`what` = `sha256`) for anything else.
    pub fn parse(s: &str) -> Result<Sha256Hex, Error> {
        let t = s.trim();
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidValue {
                what: "sha256",
                found: peer_text(s),
            });
        }
        Ok(Sha256Hex(t.to_ascii_lowercase()))
    }

    /// The digest of 32 raw bytes.
    #[must_use]
    pub fn from_bytes(digest: &[u8; 32]) -> Sha256Hex {
        use fmt::Write as _;
        let mut s = String::with_capacity(64);
        for b in digest {
            let _ = write!(s, "{b:02x}");
        }
        Sha256Hex(s)
    }

    /// The 32 raw bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        let digits = self.0.as_bytes();
        for (i, o) in out.iter_mut().enumerate() {
            let hi = digits.get(2 * i).copied().map_or(0, hex_value);
            let lo = digits.get(2 * i + 1).copied().map_or(0, hex_value);
            *o = (hi << 4) | lo;
        }
        out
    }

    /// The hex text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True for an image entry name we accept: 1 to [`MAX_ENTRY_NAME`] bytes of `A-Z a-z 0-9 - _ .`,
/// not `.` or `..` (it is a node name and a part of log lines).
#[must_use]
pub fn valid_entry_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ENTRY_NAME
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The absolute URI of an image entry, `./GwMO/ImageInventory/Images/<x>`.
#[must_use]
pub fn image_uri(name: &str) -> String {
    format!(
        "{}/ImageInventory/Images/{}",
        mo::GWMO_ROOT,
        dm_tree::uri::escape_segment(name)
    )
}

/// The entry name of an image entry URI (the inverse of [`image_uri`] for valid names).
#[must_use]
pub fn entry_name_of_uri(uri: &str) -> Option<&str> {
    let name = uri.strip_prefix(IMAGES_URI)?.strip_prefix('/')?;
    valid_entry_name(name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn states_parse_back() {
        for s in ImageState::ALL {
            assert_eq!(ImageState::parse(s.as_str()), Ok(s));
            assert_eq!(ImageState::parse(&s.as_str().to_uppercase()), Ok(s));
        }
        assert!(ImageState::parse("gone").is_err());
    }

    #[test]
    fn sha256_hex() {
        let h = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let d = Sha256Hex::parse(h).unwrap();
        assert_eq!(d.as_str(), h.to_ascii_lowercase());
        assert_eq!(Sha256Hex::from_bytes(&d.to_bytes()), d);
        for bad in ["", "abc", &h[1..], &format!("{}g", &h[1..])] {
            assert!(Sha256Hex::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entry_names_and_uris() {
        assert!(valid_entry_name("fw-1.2_a"));
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(65)] {
            assert!(!valid_entry_name(bad), "{bad}");
        }
        assert_eq!(image_uri("fw1"), "./GwMO/ImageInventory/Images/fw1");
        assert_eq!(entry_name_of_uri(&image_uri("fw1")), Some("fw1"));
        assert_eq!(entry_name_of_uri("./GwMO/ImageInventory/Images/a/b"), None);
    }

    proptest! {
        /// Any 32 bytes survive hex and back.
        #[test]
        fn sha_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
            let h = Sha256Hex::from_bytes(&bytes);
            prop_assert_eq!(Sha256Hex::parse(h.as_str()).unwrap().to_bytes(), bytes);
        }
    }
}
