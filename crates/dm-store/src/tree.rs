//! Last known management-tree values per device, updated from `Results`.

use crate::UnixMillis;

/// One node value as last reported by the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeValue {
    /// Node URI as the device reported it (e.g. `./DevDetail/SwV`).
    pub path: String,
    /// `Meta/Format` (`chr`, `int`, `b64`, `node`, ...), if given.
    pub format: Option<String>,
    /// `Meta/Type` (MIME type), if given.
    pub mime_type: Option<String>,
    /// The value bytes as received (Base64 already decoded when the format was `b64`, or
    /// not: the store keeps what it is given).
    pub value: Vec<u8>,
    /// When the value was received.
    pub updated_at: UnixMillis,
}

/// The half-open key range `[lo, hi)` holding `prefix` itself and every path below it
/// (`prefix/...`), returned as `(prefix, lo, hi)`; `"."` covers everything under `./` and `""`
/// covers every path.
pub(crate) fn subtree_range(prefix: &str) -> (String, String, String) {
    let base = prefix.trim_end_matches('/');
    if base.is_empty() {
        return (String::new(), String::new(), "\u{10FFFF}".to_owned());
    }
    let lo = format!("{base}/");
    let hi = format!("{base}/\u{10FFFF}");
    (base.to_owned(), lo, hi)
}

#[cfg(test)]
mod tests {
    use super::subtree_range;

    #[test]
    fn subtree_range_excludes_siblings_with_same_prefix() {
        let (exact, lo, hi) = subtree_range("./DevInfo/");
        assert_eq!(exact, "./DevInfo");
        for p in ["./DevInfo/Man", "./DevInfo/Ext/X"] {
            assert!(p >= lo.as_str() && p < hi.as_str(), "{p}");
        }
        for p in ["./DevInfoX", "./DevInfo", "./DevDetail/Man", "./DevInfp"] {
            assert!(!(p >= lo.as_str() && p < hi.as_str()), "{p}");
        }
        let (exact, lo, hi) = subtree_range("");
        assert_eq!(exact, "");
        assert!("./A" >= lo.as_str() && "./A" < hi.as_str());
    }
}
