//! Decoder limits: the one [`Limits`] type of the workspace, defined in the `wbxml` crate (the
//! lowest codec) and shared by both codecs of this crate.

pub use wbxml::{LimitKind, Limits};

/// `Atomic` / `Sequence` nesting both decoders accept at most, whatever [`Limits::max_depth`]
/// says: containers are decoded recursively, and this bound keeps the stack small (DM 1.2
/// forbids nested `Atomic`; real messages nest two levels at most). Exceeding it is an
/// [`crate::Error::LimitExceeded`] of [`LimitKind::Depth`] with `max` = `HARD_MAX_NESTING`.
pub const HARD_MAX_NESTING: usize = 32;
