//! Exec nodes mapped to shell commands.
//!
//! In: an Exec target URI, the Exec's data, the configured map (node path -> command line). Out:
//! an [`ExecOutcome`]: status 200 when the command exited 0, 500 otherwise (or when it could not
//! be started), with its standard output (and standard error on failure) as the result data.
//!
//! The command runs under `sh -c`; the Exec's data is in the environment variable
//! `DM_EXEC_DATA` and the node path in `DM_EXEC_NODE` (never spliced into the command line).

use std::collections::BTreeMap;
use std::time::Duration;

use syncml::StatusCode;

/// Largest output kept from a command, bytes.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// The result of running one Exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// 200 on exit status 0, 500 otherwise, 404 when no command is mapped to the node.
    pub status: StatusCode,
    /// Output of the command (trimmed to [`MAX_OUTPUT`] bytes, lossy UTF-8).
    pub output: String,
}

/// The table of Exec nodes and their commands.
#[derive(Debug, Clone, Default)]
pub struct ExecTable {
    commands: BTreeMap<String, String>,
    timeout: Duration,
}

/// Normalises a node URI for lookups: `A/B`, `./A/B` and `./A/B/` all become `./A/B`.
#[must_use]
pub fn normalise_uri(uri: &str) -> String {
    let trimmed = uri.trim().trim_end_matches('/');
    let rel = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if rel == "." || rel.is_empty() {
        ".".to_owned()
    } else {
        format!("./{rel}")
    }
}

impl ExecTable {
    /// A table from the config's `[exec]` map; each command may run at most `timeout`.
    #[must_use]
    pub fn new(commands: &BTreeMap<String, String>, timeout: Duration) -> ExecTable {
        ExecTable {
            commands: commands
                .iter()
                .map(|(k, v)| (normalise_uri(k), v.clone()))
                .collect(),
            timeout,
        }
    }

    /// The node paths that have a command (normalised, `./...`).
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.commands.keys().map(String::as_str)
    }

    /// True when `uri` has a command.
    #[must_use]
    pub fn contains(&self, uri: &str) -> bool {
        self.commands.contains_key(&normalise_uri(uri))
    }

    /// Runs the command mapped to `uri` with `data` in `DM_EXEC_DATA`.
    pub async fn run(&self, uri: &str, data: Option<&[u8]>) -> ExecOutcome {
        let node = normalise_uri(uri);
        let Some(cmdline) = self.commands.get(&node) else {
            return ExecOutcome {
                status: StatusCode::NOT_FOUND,
                output: String::new(),
            };
        };
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(cmdline)
            .env("DM_EXEC_NODE", &node)
            .env(
                "DM_EXEC_DATA",
                String::from_utf8_lossy(data.unwrap_or_default()).as_ref(),
            )
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                tracing::warn!(node = %node, error = %e, "exec: could not start command");
                return ExecOutcome {
                    status: StatusCode::COMMAND_FAILED,
                    output: e.to_string(),
                };
            }
            Err(_) => {
                tracing::warn!(node = %node, "exec: command timed out");
                return ExecOutcome {
                    status: StatusCode::COMMAND_FAILED,
                    output: format!("timed out after {} s", self.timeout.as_secs()),
                };
            }
        };
        let ok = output.status.success();
        let mut bytes = output.stdout;
        if !ok {
            bytes.extend_from_slice(&output.stderr);
        }
        bytes.truncate(MAX_OUTPUT);
        let text = String::from_utf8_lossy(&bytes).trim_end().to_owned();
        tracing::info!(node = %node, exit = ?output.status.code(), "exec: command finished");
        ExecOutcome {
            status: if ok {
                StatusCode::OK
            } else {
                StatusCode::COMMAND_FAILED
            },
            output: text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> ExecTable {
        let map = pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        ExecTable::new(&map, Duration::from_secs(5))
    }

    #[test]
    fn uri_normalisation() {
        assert_eq!(normalise_uri("Ext/Reboot"), "./Ext/Reboot");
        assert_eq!(normalise_uri("./Ext/Reboot/"), "./Ext/Reboot");
        assert_eq!(normalise_uri("."), ".");
    }

    #[tokio::test]
    async fn exit_zero_is_200_with_output_and_data_in_env() {
        let t = table(&[("Ext/Echo", "printf 'got:%s' \"$DM_EXEC_DATA\"")]);
        assert!(t.contains("./Ext/Echo"));
        let out = t.run("./Ext/Echo", Some(b"a b; rm -rf /")).await;
        assert_eq!(out.status, StatusCode::OK);
        assert_eq!(out.output, "got:a b; rm -rf /");
    }

    #[tokio::test]
    async fn nonzero_exit_is_500_with_stderr() {
        let t = table(&[("./Ext/Fail", "echo oops >&2; exit 3")]);
        let out = t.run("Ext/Fail", None).await;
        assert_eq!(out.status, StatusCode::COMMAND_FAILED);
        assert_eq!(out.output, "oops");
    }

    #[tokio::test]
    async fn unmapped_node_is_404_and_timeout_is_500() {
        let t = table(&[("./Ext/Slow", "sleep 5")]);
        assert_eq!(
            t.run("./Ext/Other", None).await.status,
            StatusCode::NOT_FOUND
        );
        let t = ExecTable {
            timeout: Duration::from_millis(100),
            ..t
        };
        let out = t.run("./Ext/Slow", None).await;
        assert_eq!(out.status, StatusCode::COMMAND_FAILED);
        assert!(out.output.contains("timed out"));
    }
}
