//! The REST API client: `dm-server`'s `/api/v1` over HTTP(S), bearer token, JSON.
//!
//! In: the global connection flags ([`Connection`]), path segments (percent-encoded here),
//! query pairs and JSON bodies. Out: the answer's JSON, or an [`Error`] carrying the server's
//! `error` text and HTTP status. The token is sent in `Authorization: Bearer` only; it never
//! appears in an error message or in `Debug` output.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Default server URL (`--server`, `DMCTL_SERVER`).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Longest time one HTTP exchange with the server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The global flags that say which server to talk to and how.
#[derive(Clone, clap::Args)]
pub struct Connection {
    /// Base URL of dm-server (the REST API is under /api/v1).
    #[arg(long, global = true, env = "DMCTL_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Bearer token of the REST API (dm-server --api-token).
    #[arg(long, global = true, env = "DMCTL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Extra CA certificate (PEM) to trust for an https:// server.
    #[arg(long, global = true, env = "DMCTL_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Machine output: one JSON document on standard output.
    #[arg(long, global = true)]
    pub json: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_cert", &self.ca_cert)
            .field("json", &self.json)
            .finish()
    }
}

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--server` is not an http(s) URL (a usage error).
    #[error("invalid --server URL {url:?}: {reason}")]
    InvalidServerUrl {
        /// The URL as given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The `--ca-cert` file cannot be read or parsed (a usage error).
    #[error("cannot use --ca-cert {path}: {reason}")]
    CaCert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The server answered with an error status; `message` is its `error` text.
    #[error("{message} (HTTP {status})")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The server's `{"error": ...}` text, or the status reason when there was none.
        message: String,
    },
    /// No answer: connection refused, DNS, TLS, timeout...
    #[error("cannot reach {server}: {reason}")]
    Transport {
        /// The server base URL.
        server: String,
        /// The innermost cause.
        reason: String,
    },
    /// The answer was not the JSON expected.
    #[error("unexpected answer to {what}: {reason}")]
    Decode {
        /// Which request.
        what: String,
        /// What did not fit.
        reason: String,
    },
    /// `--wait` gave up.
    #[error("job {id} not finished after {secs} s (state {state}); see `dmctl job {id}`")]
    Timeout {
        /// Job id.
        id: i64,
        /// The timeout.
        secs: u64,
        /// Its last seen state.
        state: String,
    },
    /// The command line does not say what to do (a usage error).
    #[error("{0}")]
    Usage(String),
    /// A waited-for job ended without being carried out.
    #[error("job {id} ended {state}")]
    JobEnded {
        /// Job id.
        id: i64,
        /// `failed` or `cancelled`.
        state: String,
    },
}

impl Error {
    /// True for errors in how dmctl was called (exit status 2) rather than in what the server
    /// or the device did (exit status 1).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::InvalidServerUrl { .. } | Error::CaCert { .. } | Error::Usage(_)
        )
    }

    /// A usage error.
    #[must_use]
    pub fn usage(message: String) -> Error {
        Error::Usage(message)
    }
}

/// A connected REST API client.
pub struct Client {
    http: reqwest::blocking::Client,
    base: Url,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Checks the server URL, loads the extra CA certificate and builds the HTTP client.
    ///
    /// # Errors
    /// [`Error::InvalidServerUrl`], [`Error::CaCert`], or [`Error::Transport`] when the HTTP
    /// client cannot be set up.
    pub fn new(conn: &Connection) -> Result<Client, Error> {
        let bad = |reason: &str| Error::InvalidServerUrl {
            url: conn.server.clone(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(&conn.server).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if base.cannot_be_a_base() || base.host().is_none() {
            return Err(bad("no host"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("no query or fragment allowed"));
        }
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("dmctl/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &conn.ca_cert {
            let ca_err = |reason: String| Error::CaCert {
                path: path.clone(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("no certificate in the file".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| Error::Transport {
            server: conn.server.clone(),
            reason: innermost(&e),
        })?;
        Ok(Client {
            http,
            base,
            token: conn.token.clone().filter(|t| !t.is_empty()),
        })
    }

    /// The URL of `/api/v1/<segments...>?<query>`; each segment is percent-encoded as a path
    /// segment (a device id may hold `/`, `?`, spaces).
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    fn send(&self, what: &str, req: RequestBuilder) -> Result<Response, Error> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().map_err(|e| Error::Transport {
            server: self.base.to_string(),
            reason: innermost(&e),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let reason = status.canonical_reason().unwrap_or("error").to_owned();
        let text = resp.text().unwrap_or_default();
        let mut message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .filter(|m| !m.is_empty())
            .unwrap_or(reason);
        if status.as_u16() == 401 && self.token.is_none() {
            message.push_str(" (no token given: use --token or DMCTL_TOKEN)");
        }
        debug_log(what, status.as_u16());
        Err(Error::Api {
            status: status.as_u16(),
            message: message.replace('\n', " "),
        })
    }

    fn json<T: DeserializeOwned>(what: &str, resp: Response) -> Result<T, Error> {
        let bytes = resp.bytes().map_err(|e| Error::Decode {
            what: what.to_owned(),
            reason: innermost(&e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }

    /// `GET /api/v1/<segments>?<query>`, the answer decoded as `T`.
    ///
    /// # Errors
    /// [`Error::Api`], [`Error::Transport`] or [`Error::Decode`].
    pub fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let url = self.url(segments, query);
        let what = format!("GET {}", url.path());
        let resp = self.send(&what, self.http.get(url))?;
        Self::json(&what, resp)
    }

    /// `POST /api/v1/<segments>` with a JSON body, the answer decoded as `T`.
    ///
    /// # Errors
    /// [`Error::Api`], [`Error::Transport`] or [`Error::Decode`].
    pub fn post<T: DeserializeOwned>(&self, segments: &[&str], body: &Value) -> Result<T, Error> {
        let url = self.url(segments, &[]);
        let what = format!("POST {}", url.path());
        let resp = self.send(&what, self.http.post(url).json(body))?;
        Self::json(&what, resp)
    }

    /// `PATCH /api/v1/<segments>` with a JSON body, the answer decoded as `T`.
    ///
    /// # Errors
    /// [`Error::Api`], [`Error::Transport`] or [`Error::Decode`].
    pub fn patch<T: DeserializeOwned>(&self, segments: &[&str], body: &Value) -> Result<T, Error> {
        let url = self.url(segments, &[]);
        let what = format!("PATCH {}", url.path());
        let resp = self.send(&what, self.http.patch(url).json(body))?;
        Self::json(&what, resp)
    }

    /// `DELETE /api/v1/<segments>`.
    ///
    /// # Errors
    /// [`Error::Api`] or [`Error::Transport`].
    pub fn delete(&self, segments: &[&str]) -> Result<(), Error> {
        let url = self.url(segments, &[]);
        let what = format!("DELETE {}", url.path());
        self.send(&what, self.http.delete(url)).map(drop)
    }

    /// Follows keyset pagination of a list route: every page's `key` array concatenated.
    ///
    /// # Errors
    /// As [`Client::get`]; [`Error::Decode`] when a page lacks `key`.
    pub fn get_all(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        key: &str,
    ) -> Result<Vec<Value>, Error> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            if let Some(a) = &after {
                q.push(("after", a.clone()));
            }
            let page: Value = self.get(segments, &q)?;
            let Some(items) = page.get(key).and_then(Value::as_array) else {
                return Err(Error::Decode {
                    what: format!("GET /api/v1/{}", segments.join("/")),
                    reason: format!("no {key:?} array"),
                });
            };
            all.extend(items.iter().cloned());
            after = match page.get("next_after") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            if after.is_none() || items.is_empty() {
                return Ok(all);
            }
        }
    }
}

/// Set `DMCTL_DEBUG=1` to see failing requests (method and path only, never headers).
fn debug_log(what: &str, status: u16) {
    if std::env::var_os("DMCTL_DEBUG").is_some() {
        eprintln!("dmctl: debug: {what} -> HTTP {status}");
    }
}

/// The innermost cause of a reqwest error (its outer messages repeat the URL).
fn innermost(e: &reqwest::Error) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    if e.is_timeout() {
        format!("timed out ({cur})")
    } else {
        cur.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(server: &str) -> Connection {
        Connection {
            server: server.into(),
            token: Some("secret-token".into()),
            ca_cert: None,
            json: false,
        }
    }

    #[test]
    fn url_segments_are_percent_encoded() {
        let c = Client::new(&conn("http://127.0.0.1:8080/")).unwrap();
        let u = c.url(
            &["devices", "IMEI:1/2 x?y", "tree"],
            &[("prefix", "./A B".into())],
        );
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8080/api/v1/devices/IMEI:1%2F2%20x%3Fy/tree?prefix=.%2FA+B"
        );
        let c = Client::new(&conn("https://dm.example/base")).unwrap();
        assert_eq!(
            c.url(&["jobs"], &[]).as_str(),
            "https://dm.example/base/api/v1/jobs"
        );
    }

    #[test]
    fn bad_server_urls_are_usage_errors() {
        for bad in ["127.0.0.1:8080", "ftp://x", "http://x/?a=b", "nonsense"] {
            let e = Client::new(&conn(bad)).unwrap_err();
            assert!(e.is_usage(), "{bad}: {e}");
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = conn("http://x");
        assert!(!format!("{c:?}").contains("secret-token"));
        let client = Client::new(&c).unwrap();
        assert!(!format!("{client:?}").contains("secret-token"));
    }
}
