//! Decoder limits.

/// Bounds a decoder enforces on untrusted input. Exceeding one is an [`crate::Error`], never a
/// panic or an unbounded allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_size: usize,
    /// Deepest element nesting accepted.
    pub max_depth: usize,
    /// Most elements accepted in one message.
    pub max_elements: usize,
}

impl Default for Limits {
    /// 4 MiB, depth 32, 100 000 elements: far above any real DM message.
    fn default() -> Self {
        Limits {
            max_size: 4 * 1024 * 1024,
            max_depth: 32,
            max_elements: 100_000,
        }
    }
}
