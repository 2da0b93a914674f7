//! DM tree (being written).
