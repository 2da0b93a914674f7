//! The DM endpoint's server-specific part: the [`dm_host::Backend`] over `dm-store`.
//!
//! The generic part (HTTP endpoint `POST /dm` and `POST /dm/s/{token}`, decoding, the
//! session table, authentication before any state change, nonce consumption, challenges,
//! expiry) is `dm_host::Host`. Here: accounts and enrolment from the store, the device's
//! queued jobs as the session's commands, and everything the session produced (registry,
//! tree values, job results, events, nonces) written in one transaction when it ends, with
//! unanswered jobs queued again (or failed after `max_job_attempts` sends with no status).

mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dm_host::{Account, Backend, Claim, End, Ending, Event, Opened, SessionInfo};
use dm_proto::{AuthScheme, Credentials, StoredSecret};
use dm_store::{AnyStore, AuthType, DeviceAccount, Store as _};
use syncml::Command;

use crate::EnrolmentPolicy;
use crate::state::now_ms;

pub(crate) use session::DmSession;

/// Most jobs sent in one session.
const JOBS_PER_SESSION: u32 = 16;

/// Package 0 session ids sent per device, so that the device's 1200 session is matched.
pub(crate) type Notified = Arc<Mutex<HashMap<String, u16>>>;

/// `dm-server`'s backend of the session host.
pub(crate) struct DmBackend {
    pub(crate) store: AnyStore,
    pub(crate) server_id: String,
    pub(crate) enrolment: EnrolmentPolicy,
    /// Sends of a job that got no status from the device before it fails.
    pub(crate) max_job_attempts: u32,
    pub(crate) notified: Notified,
}

fn scheme(t: AuthType) -> Option<AuthScheme> {
    match t {
        AuthType::None => None,
        AuthType::Basic => Some(AuthScheme::Basic),
        AuthType::Md5 => Some(AuthScheme::Md5),
        AuthType::Hmac => Some(AuthScheme::Hmac),
    }
}

impl DmBackend {
    fn host_account(&self, a: &DeviceAccount, provisional: bool) -> Account {
        Account {
            device_id: a.device_id.clone(),
            client: scheme(a.client_auth).map(|s| Credentials {
                scheme: s,
                name: a.auth_name.clone(),
                secret: StoredSecret::UserHash(a.client_verifier.expose().to_owned()),
                nonce: a.client_nonce.clone(),
            }),
            server: scheme(a.server_auth).map(|s| Credentials {
                scheme: s,
                name: a
                    .server_auth_name
                    .clone()
                    .unwrap_or_else(|| self.server_id.clone()),
                secret: StoredSecret::Password(a.server_secret.expose().to_owned()),
                nonce: a.server_nonce.clone(),
            }),
            provisional,
        }
    }

    /// The account an enrolling device would get: its claim, the enrolment secret.
    fn enrolling(&self, claim: &Claim<'_>, secret: &str) -> Account {
        let name = claim.auth_name.unwrap_or(claim.device_id);
        let client_auth = match claim.offered {
            Some(AuthScheme::Hmac) => AuthType::Hmac,
            Some(AuthScheme::Basic) => AuthType::Basic,
            _ => AuthType::Md5,
        };
        let a = DeviceAccount::new(claim.device_id, name, client_auth, secret, now_ms());
        self.host_account(&a, true)
    }

    /// True (and forgotten) when `session_id` is the one of the last Package 0 sent to the
    /// device.
    fn answers_notification(&self, device_id: &str, session_id: &str) -> bool {
        let Ok(mut map) = self.notified.lock() else {
            return false;
        };
        match map.get(device_id) {
            Some(id)
                if syncml::notification::session_id_to_hex(*id)
                    .eq_ignore_ascii_case(session_id) =>
            {
                map.remove(device_id);
                true
            }
            _ => false,
        }
    }
}

impl Backend for DmBackend {
    type Session = DmSession;

    async fn account(&self, claim: &Claim<'_>) -> Result<Option<Account>, dm_host::Error> {
        let looked_up = match claim.auth_name {
            Some(name) => self.store.get_device_by_auth_name(name).await,
            None => self.store.get_device(claim.device_id).await,
        }
        .map_err(dm_host::Error::backend)?;
        match looked_up {
            Some(a) if a.enabled => Ok(Some(self.host_account(&a, false))),
            Some(a) => {
                tracing::warn!(
                    device = %dm_host::log::Untrusted(claim.device_id),
                    account_device = %dm_host::log::Untrusted(&a.device_id),
                    "refused: the account is disabled"
                );
                Ok(None)
            }
            None => match &self.enrolment {
                EnrolmentPolicy::Secret { secret } if !claim.device_id.is_empty() => {
                    Ok(Some(self.enrolling(claim, secret)))
                }
                _ => Ok(None),
            },
        }
    }

    async fn admit(
        &self,
        account: &Account,
        next_nonce: Option<&[u8]>,
    ) -> Result<bool, dm_host::Error> {
        if account.provisional {
            let (Some(c), EnrolmentPolicy::Secret { secret }) =
                (account.client.as_ref(), &self.enrolment)
            else {
                return Ok(false);
            };
            let client_auth = match c.scheme {
                AuthScheme::Basic => AuthType::Basic,
                AuthScheme::Hmac => AuthType::Hmac,
                _ => AuthType::Md5,
            };
            let mut a =
                DeviceAccount::new(&account.device_id, &c.name, client_auth, secret, now_ms());
            if let Some(n) = next_nonce {
                a.client_nonce = n.to_vec();
            }
            return match self.store.create_device(&a).await {
                Ok(()) => {
                    tracing::info!(device = %dm_host::log::Untrusted(&a.device_id), "device enrolled");
                    Ok(true)
                }
                Err(dm_store::Error::Conflict { .. }) => Ok(false),
                Err(e) => Err(dm_host::Error::backend(e)),
            };
        }
        let (Some(c), Some(next)) = (account.client.as_ref(), next_nonce) else {
            return Ok(true);
        };
        self.store
            .consume_client_nonce(&account.device_id, &c.nonce, next)
            .await
            .map_err(dm_host::Error::backend)
    }

    async fn authenticated(
        &self,
        session: &SessionInfo,
        _account: &Account,
    ) -> Result<Opened<DmSession>, dm_host::Error> {
        if self.answers_notification(&session.device_id, &session.session_id) {
            tracing::info!(
                device = %dm_host::log::Untrusted(&session.device_id),
                session_id = %dm_host::log::Untrusted(&session.session_id),
                "session answers our notification"
            );
        }
        let jobs = self
            .store
            .take_queued_jobs(&session.device_id, &session.key, JOBS_PER_SESSION, now_ms())
            .await
            .map_err(dm_host::Error::backend)?;
        let mut state = DmSession::new(&session.device_id);
        let commands: Vec<Command> = state.take(jobs);
        Ok(Opened { state, commands })
    }

    async fn events(
        &self,
        state: &mut DmSession,
        _session: &SessionInfo,
        events: Vec<Event>,
    ) -> Result<Vec<Command>, dm_host::Error> {
        for ev in events {
            state.event(ev);
        }
        Ok(Vec::new())
    }

    async fn ended(&self, state: Option<DmSession>, session: &SessionInfo, ending: Ending) {
        let now = now_ms();
        let mut requeue = true;
        if let Some(state) = state {
            let record = state.record(session, &ending, now, self.max_job_attempts);
            requeue = record.incomplete;
            if !record.is_empty()
                && let Err(e) = self.store.record_session(&record.record).await
            {
                tracing::error!(error = %e, device = %dm_host::log::Untrusted(&session.device_id), "store failure recording a session");
            }
        } else if ending.end == End::Failed {
            tracing::warn!(device = %dm_host::log::Untrusted(&session.device_id), "session failed: its jobs are queued again");
        }
        if requeue {
            match self
                .store
                .requeue_unanswered(&dm_store::RequeueScope::Session(session.key.clone()), now)
                .await
            {
                Ok(jobs) if !jobs.is_empty() => tracing::info!(
                    device = %dm_host::log::Untrusted(&session.device_id),
                    jobs = jobs.len(),
                    "unanswered jobs queued again"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "store failure re-queueing jobs"),
            }
        }
    }
}
