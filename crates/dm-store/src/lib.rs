//! DM store (being written).
