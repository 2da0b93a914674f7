//! The base URL a listener hands out (the DM `RespURI`): configured, or from the `Host` header.

use axum::http::HeaderValue;
use axum::http::Uri;

use crate::Error;

/// An operator-configured base URL under which peers reach this listener, e.g.
/// `https://dm.example.org` or `https://relay.example.org/tenant-a` (behind a reverse proxy, a
/// relay or the gateway). Stored without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// Parses and checks a base URL: `http` or `https`, a host, an optional port and path; no
    /// user information, query or fragment.
    ///
    /// # Errors
    /// [`Error::InvalidPublicUrl`] naming what is wrong.
    pub fn parse(text: &str) -> Result<PublicUrl, Error> {
        let bad = |reason| Error::InvalidPublicUrl {
            url: text.to_owned(),
            reason,
        };
        if text.contains('#') {
            return Err(bad("a fragment is not allowed"));
        }
        let uri: Uri = text.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(bad("the scheme must be http or https")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information is not allowed"));
        }
        if !is_authority(authority.as_str()) {
            return Err(bad(
                "the host must be a name or an IP address, with an optional port",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("a query is not allowed"));
        }
        Ok(PublicUrl(text.trim_end_matches('/').to_owned()))
    }

    /// The URL, without a trailing `/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The base URL (`scheme://authority[/path]`, no trailing `/`) for URLs handed to the peer of
/// one request: `public` when configured (checked beforehand with [`PublicUrl::parse`]); else `http(s)://` (by `tls`) and the request's `Host`
/// header when it is a plain `host[:port]` (a DNS name, an IPv4 address or a bracketed IPv6
/// address); else `http(s)://localhost`. A `Host` with anything else (a path, user
/// information, spaces, control characters) is never copied into a URL.
#[must_use]
pub fn base_url(public: Option<&str>, host: Option<&HeaderValue>, tls: bool) -> String {
    if let Some(public) = public {
        return public.trim_end_matches('/').to_owned();
    }
    let scheme = if tls { "https" } else { "http" };
    let host = host
        .and_then(|v| v.to_str().ok())
        .filter(|h| is_authority(h))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// `host[:port]`: a DNS name or IPv4 address (letters, digits, `-`, `.`, `_`), or `[IPv6]`;
/// the port 1 to 5 digits.
fn is_authority(text: &str) -> bool {
    if text.is_empty() || text.len() > 255 + 8 {
        return false;
    }
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let Some((addr, rest)) = v6.split_once(']') else {
            return false;
        };
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match rest {
            "" => return true,
            _ => match rest.strip_prefix(':') {
                Some(port) => ("[v6]", Some(port)),
                None => return false,
            },
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let host_ok = host == "[v6]"
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn public_urls_are_checked() {
        for good in [
            "https://dm.example.org",
            "https://dm.example.org/",
            "http://192.0.2.1:8080/tenant-a",
            "https://[2001:db8::1]:8443",
        ] {
            let u = PublicUrl::parse(good).unwrap();
            assert!(!u.as_str().ends_with('/'), "{good}");
        }
        for bad in [
            "dm.example.org",
            "ftp://dm.example.org",
            "https://user:pw@dm.example.org",
            "https://dm.example.org/?x=1",
            "https://dm.example.org/#f",
            "https://",
            "https://a b",
        ] {
            assert!(
                matches!(PublicUrl::parse(bad), Err(Error::InvalidPublicUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn base_url_prefers_the_configured_one_then_a_valid_host() {
        let public = PublicUrl::parse("https://dm.example.org/base/").unwrap();
        let host = HeaderValue::from_static("dm.lan:8080");
        assert_eq!(
            base_url(Some(public.as_str()), Some(&host), false),
            "https://dm.example.org/base"
        );
        assert_eq!(base_url(None, Some(&host), false), "http://dm.lan:8080");
        assert_eq!(base_url(None, Some(&host), true), "https://dm.lan:8080");
        let v6 = HeaderValue::from_static("[::1]:80");
        assert_eq!(base_url(None, Some(&v6), false), "http://[::1]:80");
        assert_eq!(base_url(None, None, false), "http://localhost");
        for hostile in [
            "evil.example/path",
            "user@evil.example",
            "a b",
            "host:99999",
            "host:",
            "[::1",
            "",
        ] {
            let v = HeaderValue::from_str(hostile).unwrap();
            assert_eq!(
                base_url(None, Some(&v), false),
                "http://localhost",
                "{hostile}"
            );
        }
    }
}
