//! Bounds on what API requests carry: identifiers, secrets, addresses, node paths and query
//! text (the limits are the `MAX_*` constants of [`super::model`], documented in
//! `docs/api.md`). A field out of bounds is a `400` with a JSON error naming the field and the
//! limit; the value itself is not echoed.

use dm_store::JobCommand;

use super::Failure;
use super::model::{
    MAX_AUTH_NAME_BYTES, MAX_DEVICE_ID_BYTES, MAX_NODE_PATH_BYTES, MAX_NOTIFY_ADDRESS_BYTES,
    MAX_NOTIFY_ADDRESSES, MAX_SECRET_BYTES, MAX_SHORT_TEXT_BYTES,
};

/// Printable text of at most `max` bytes (may be empty).
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<(), Failure> {
    if value.len() > max {
        return Err(Failure::bad_request(format!(
            "{field} is {} bytes long; at most {max} are accepted",
            value.len()
        )));
    }
    if let Some(at) = value.find(char::is_control) {
        return Err(Failure::bad_request(format!(
            "{field} contains a control character at byte {at}"
        )));
    }
    Ok(())
}

/// Optional printable text of at most `max` bytes.
pub(crate) fn opt_text(field: &str, value: Option<&str>, max: usize) -> Result<(), Failure> {
    value.map_or(Ok(()), |v| text(field, v, max))
}

/// A non-empty printable identifier of at most `max` bytes.
fn identifier(field: &str, value: &str, max: usize) -> Result<(), Failure> {
    if value.is_empty() {
        return Err(Failure::bad_request(format!("{field} must not be empty")));
    }
    text(field, value, max)
}

/// A device id (body field or path segment).
pub(crate) fn device_id(value: &str) -> Result<(), Failure> {
    identifier("device_id", value, MAX_DEVICE_ID_BYTES)
}

/// An auth name.
pub(crate) fn auth_name(value: &str) -> Result<(), Failure> {
    identifier("auth_name", value, MAX_AUTH_NAME_BYTES)
}

/// A non-empty secret of at most [`MAX_SECRET_BYTES`] (any characters).
pub(crate) fn secret(field: &str, value: &str) -> Result<(), Failure> {
    if value.is_empty() {
        return Err(Failure::bad_request(format!("{field} must not be empty")));
    }
    if value.len() > MAX_SECRET_BYTES {
        return Err(Failure::bad_request(format!(
            "{field} is {} bytes long; at most {MAX_SECRET_BYTES} are accepted",
            value.len()
        )));
    }
    Ok(())
}

/// The notification addresses of one device (their syntax and policy are checked by the
/// notifier).
pub(crate) fn notify_addresses(addrs: &[String]) -> Result<(), Failure> {
    if addrs.len() > MAX_NOTIFY_ADDRESSES {
        return Err(Failure::bad_request(format!(
            "at most {MAX_NOTIFY_ADDRESSES} notification addresses are accepted"
        )));
    }
    addrs
        .iter()
        .try_for_each(|a| identifier("notify", a, MAX_NOTIFY_ADDRESS_BYTES))
}

/// A node path.
pub(crate) fn node_path(field: &str, value: &str) -> Result<(), Failure> {
    text(field, value, MAX_NODE_PATH_BYTES)
}

/// Paths, targets, formats and types of job commands, containers included.
pub(crate) fn job_commands(commands: &[JobCommand]) -> Result<(), Failure> {
    for c in commands {
        for item in &c.items {
            node_path("path", &item.path)?;
            if let Some(t) = &item.target {
                node_path("target", t)?;
            }
            opt_text("format", item.format.as_deref(), MAX_SHORT_TEXT_BYTES)?;
            opt_text("type", item.mime_type.as_deref(), MAX_SHORT_TEXT_BYTES)?;
        }
        // Depth is bounded by dm_store::MAX_COMMAND_DEPTH, checked before this.
        job_commands(&c.children)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_bounded_and_printable() {
        assert!(device_id("IMEI:493005100592800").is_ok());
        assert!(device_id(&"x".repeat(MAX_DEVICE_ID_BYTES)).is_ok());
        assert!(device_id(&"x".repeat(MAX_DEVICE_ID_BYTES + 1)).is_err());
        assert!(device_id(&"x".repeat(900_000)).is_err());
        assert!(device_id("").is_err());
        for bad in ["a\nb", "a\u{1b}[31m", "nul\0", "del\u{7f}", "c1\u{85}"] {
            assert!(device_id(bad).is_err(), "{bad:?}");
        }
        assert!(auth_name("dév-1 (lab)").is_ok());
        assert!(secret("auth_secret", "s").is_ok());
        assert!(secret("auth_secret", "").is_err());
        assert!(secret("auth_secret", &"s".repeat(MAX_SECRET_BYTES + 1)).is_err());
        assert!(notify_addresses(&vec!["udp:10.0.0.1".to_owned(); MAX_NOTIFY_ADDRESSES]).is_ok());
        assert!(
            notify_addresses(&vec!["udp:10.0.0.1".to_owned(); MAX_NOTIFY_ADDRESSES + 1]).is_err()
        );
    }
}
