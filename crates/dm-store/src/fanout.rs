//! Device groups the server defined on its gateways, and fanouts to them (docs/gateway.md §8,
//! §9; GwMO-Group-001, GwMO-FORA-001/002).
//!
//! The store keeps what the server needs to answer without a round trip to the gateway: a
//! group's definition as the server gave it (pushed to the gateway as DM commands by a job,
//! [`GatewayGroup::job_id`]) and a fanout's state with its detail, a JSON document the server
//! owns (the request, progress, the consolidated response), so the store does not follow
//! every change of that document's shape.

use serde::{Deserialize, Serialize};

use crate::{JobId, UnixMillis};

/// A fanout's id.
pub type FanoutId = i64;

/// A device group on a gateway, as the server defined it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayGroup {
    /// The gateway that holds it.
    pub gateway_id: String,
    /// Its name (one DM node name).
    pub name: String,
    /// Explicit members (device ids).
    pub members: Vec<String>,
    /// Membership by match (`Groups/<g>/Match`, form-urlencoded), if any.
    pub match_rule: Option<String>,
    /// The job that pushed the last change to the gateway.
    pub job_id: Option<JobId>,
    /// Last change.
    pub updated_at: UnixMillis,
}

/// Where a fanout is (JSON and the `state` column: lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FanoutState {
    /// Its job waits for the gateway's session.
    Queued,
    /// The gateway runs it.
    Running,
    /// Every target has its outcome: the consolidated response is in the detail.
    Done,
    /// The gateway refused it (or its job failed).
    Failed,
    /// Cancelled by the operator.
    Cancelled,
}

impl FanoutState {
    /// The stored text.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FanoutState::Queued => "queued",
            FanoutState::Running => "running",
            FanoutState::Done => "done",
            FanoutState::Failed => "failed",
            FanoutState::Cancelled => "cancelled",
        }
    }

    /// Reads the stored text.
    ///
    /// # Errors
    /// [`crate::Error::Corrupt`] for another text.
    pub fn parse(s: &str) -> crate::Result<FanoutState> {
        Ok(match s {
            "queued" => FanoutState::Queued,
            "running" => FanoutState::Running,
            "done" => FanoutState::Done,
            "failed" => FanoutState::Failed,
            "cancelled" => FanoutState::Cancelled,
            other => {
                return Err(crate::Error::Corrupt {
                    what: "fanouts.state",
                    detail: other.to_owned(),
                });
            }
        })
    }

    /// True for done, failed and cancelled.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            FanoutState::Done | FanoutState::Failed | FanoutState::Cancelled
        )
    }
}

/// A fanout to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFanout {
    /// The gateway that runs it.
    pub gateway_id: String,
    /// The server's detail document (JSON).
    pub detail: String,
    /// Creation time.
    pub created_at: UnixMillis,
}

/// A stored fanout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fanout {
    /// Its id (the gateway's operation is `f<id>`).
    pub id: FanoutId,
    /// The gateway that runs it.
    pub gateway_id: String,
    /// Where it is.
    pub state: FanoutState,
    /// The job that carries it to the gateway.
    pub job_id: Option<JobId>,
    /// The server's detail document (JSON).
    pub detail: String,
    /// Creation time.
    pub created_at: UnixMillis,
    /// Last change.
    pub updated_at: UnixMillis,
    /// When it reached a terminal state.
    pub completed_at: Option<UnixMillis>,
}

/// Which fanouts to list (by id, ascending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanoutFilter {
    /// Only this gateway's.
    pub gateway_id: Option<String>,
    /// Only in this state.
    pub state: Option<FanoutState>,
    /// Only ids above this one (paging).
    pub after_id: Option<FanoutId>,
    /// Page size (0: the default).
    pub limit: u32,
}
