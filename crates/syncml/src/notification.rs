//! notification (being written).
