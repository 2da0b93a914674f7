//! Operator output: aligned tables, times, result data and SyncML status texts for people;
//! one JSON document for scripts (`--json`).

use std::io::Write as _;

use serde_json::Value;

/// Prints one JSON document (compact, one line) on standard output.
pub fn json(value: &Value) {
    println!("{value}");
}

/// Prints rows as columns separated by two spaces, the header first; the last column is not
/// padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        let n = row.len();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == n {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// A Unix-milliseconds time as `YYYY-MM-DDTHH:MM:SSZ` (UTC); `-` for none.
#[must_use]
pub fn time(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "-".to_owned();
    };
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Result or tree data as text: the string itself, `b64:...` for binary (`{"b64": ...}`),
/// `-` for none.
#[must_use]
pub fn data(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => match o.get("b64").and_then(Value::as_str) {
            Some(b) => format!("b64:{b}"),
            None => Value::Object(o.clone()).to_string(),
        },
        Some(other) => other.to_string(),
    }
}

/// A string field of a JSON object, or `-`.
#[must_use]
pub fn field(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

/// The meaning of a SyncML DM status code (OMA DM Representation Protocol, status codes).
#[must_use]
pub fn status_text(code: u64) -> &'static str {
    match code {
        101 => "In progress",
        200 => "OK",
        201 => "Item added",
        202 => "Accepted for processing",
        204 => "No content",
        207 => "Conflict resolved with merge",
        212 => "Authentication accepted",
        213 => "Chunked item accepted",
        214 => "Operation cancelled",
        215 => "Not executed",
        216 => "Atomic roll back OK",
        300 => "Multiple choices",
        304 => "Not modified",
        400 => "Bad request",
        401 => "Invalid credentials",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Command not allowed",
        406 => "Optional feature not supported",
        407 => "Missing credentials",
        408 => "Request timeout",
        412 => "Incomplete command",
        413 => "Request entity too large",
        414 => "URI too long",
        415 => "Unsupported media type or format",
        416 => "Requested size too big",
        417 => "Retry later",
        418 => "Already exists",
        420 => "Device full",
        424 => "Size mismatch",
        425 => "Permission denied",
        500 => "Command failed",
        501 => "Command not implemented",
        502 => "Bad gateway",
        503 => "Service unavailable",
        504 => "Gateway timeout",
        506 => "Processing error",
        507 => "Atomic failed",
        508 => "Refresh required",
        510 => "Data store failure",
        516 => "Atomic roll back failed",
        517 => "Atomic response too large to fit",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_utc_iso8601() {
        assert_eq!(time(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(time(Some(1_767_225_600_000)), "2026-01-01T00:00:00Z");
        assert_eq!(
            time(Some(951_782_400_000 + 3_723_000)),
            "2000-02-29T01:02:03Z"
        );
        assert_eq!(time(Some(-1000)), "1969-12-31T23:59:59Z");
        assert_eq!(time(None), "-");
    }

    #[test]
    fn data_renders_text_and_binary() {
        assert_eq!(data(Some(&json!("X1"))), "X1");
        assert_eq!(data(Some(&json!({"b64": "AAE="}))), "b64:AAE=");
        assert_eq!(data(None), "-");
        assert_eq!(data(Some(&json!(5))), "5");
    }

    #[test]
    fn status_texts() {
        assert_eq!(status_text(200), "OK");
        assert_eq!(status_text(216), "Atomic roll back OK");
        assert_eq!(status_text(999), "");
    }
}
