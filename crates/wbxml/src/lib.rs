//! Generic WBXML (being written).
