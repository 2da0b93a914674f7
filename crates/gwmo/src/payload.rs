//! The wire payloads of GwMO (docs/gateway.md §3, §5).

pub(crate) mod form;
