//! DM sessions (being written).
