//! The one error type of this crate.

/// Everything that can go wrong decoding, encoding or verifying SyncML data.
///
/// A peer's SyncML status code (4xx, 5xx) is data in the AST, never an `Error`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // --- XML codec (owned by xml.rs) ---
    // --- WBXML codec (owned by wbxml.rs) ---
    // --- auth (owned by auth.rs) ---
    // --- Package 0 (owned by notification.rs) ---
}
