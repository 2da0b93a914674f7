//! The DM endpoint's server-specific part: the [`dm_host::Backend`] over `dm-store`.
//!
//! The generic part (HTTP endpoint `POST /dm` and `POST /dm/s/{token}`, decoding, the
//! session table, authentication before any state change, nonce consumption, challenges,
//! expiry) is `dm_host::Host`. Here: accounts and enrolment from the store, the device's
//! queued jobs as the session's commands, and everything the session produced (registry,
//! tree values, job results, events, nonces) written in one transaction when it ends, with
//! unanswered jobs queued again (or failed after `max_job_attempts` sends with no status).
//!
//! A gateway's session (an account of kind `gateway`) also carries the queued jobs of the End
//! Devices it manages in Proxy mode, as Fanout operations, and its Generic Alerts teach the
//! server which devices are behind it ([`gateway`]). Only an authenticated session reaches
//! these hooks, so only an authenticated gateway's reports count. A registry-only entry (a
//! device known from a gateway's report, without credentials) never authenticates.

mod gateway;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dm_host::{Account, Backend, Claim, End, Ending, Event, Opened, SessionInfo};
use dm_proto::{AuthScheme, Credentials, StoredSecret};
use dm_store::{AnyStore, AuthType, DeviceAccount, DeviceKind, JobState, Store as _};
use syncml::{AlertCode, Command};

use crate::EnrolmentPolicy;
use crate::state::now_ms;

pub(crate) use gateway::command_fragment;
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
    /// Decoder limits of GwMO payloads (fragments, forms) inside messages.
    pub(crate) limits: syncml::Limits,
    /// The fanout task's feed (carrier answers, aggregates, ended jobs).
    pub(crate) fanouts: crate::fanout::Feed,
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

impl DmBackend {
    /// The GwMO part of a Generic Alert of an authenticated session: device reports become
    /// links (seed 001 X.3), a `completionstatus` completes the job it names if that job is
    /// still `sent` and was carried by this very gateway (Y').
    async fn gateway_alert(
        &self,
        state: &mut DmSession,
        session: &SessionInfo,
        alert: &syncml::Alert,
    ) -> Result<(), dm_host::Error> {
        let read = gateway::read_alert(alert, &self.limits);
        if !read.reports.is_empty() {
            tracing::info!(
                gateway = %dm_host::log::Untrusted(&session.device_id),
                devices = read.reports.len(),
                "gateway reported devices"
            );
            state.reported(read.reports);
        }
        for aggregate in read.aggregates {
            self.fanouts.send(crate::fanout::Work::Reported {
                gateway: session.device_id.clone(),
                aggregate: Box::new(aggregate),
            });
        }
        for image in read.images {
            // GwMO-DCIS-001 / B.8: the gateway stored (or failed) an image the server gave it.
            let known = dm_store::ImageStore::report_gateway_image(
                &self.store,
                &session.device_id,
                &image.id,
                image.state.as_str(),
                (!image.uri.is_empty()).then_some(image.uri.as_str()),
                image.code.map(i64::from),
                crate::state::now_ms(),
            )
            .await
            .map_err(dm_host::Error::backend)?;
            tracing::info!(
                gateway = %dm_host::log::Untrusted(&session.device_id),
                image = %image.id,
                state = %image.state,
                known,
                "gateway reported an image"
            );
        }
        for response in read.responses {
            let Some(id) = gateway::job_of_operation(&response.op) else {
                continue;
            };
            if state.has_job(id) {
                continue;
            }
            let job = self
                .store
                .get_job(id)
                .await
                .map_err(dm_host::Error::backend)?;
            match job {
                Some(job)
                    if job.state == JobState::Sent
                        && job.gateway.as_deref() == Some(session.device_id.as_str())
                        && job.device_id == response.device =>
                {
                    tracing::info!(job = id, "the gateway reported the job's outcome");
                    state.completed_later(job, &response);
                }
                _ => tracing::warn!(
                    gateway = %dm_host::log::Untrusted(&session.device_id),
                    operation = %dm_host::log::Untrusted(&response.op),
                    "completion for no job this gateway carries: ignored"
                ),
            }
        }
        Ok(())
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
            // No credentials: reached through its gateway only (an enrolling device may take
            // the id, as for an unknown one).
            Some(a) if a.is_registry_only() => match &self.enrolment {
                EnrolmentPolicy::Secret { secret }
                    if claim.auth_name.is_none_or(|n| n != a.auth_name) =>
                {
                    Ok(Some(self.enrolling(claim, secret)))
                }
                _ => {
                    tracing::warn!(
                        device = %dm_host::log::Untrusted(claim.device_id),
                        "refused: a registry-only device (known from a gateway) has no credentials"
                    );
                    Ok(None)
                }
            },
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
        let now = now_ms();
        let jobs = self
            .store
            .take_queued_jobs(&session.device_id, &session.key, JOBS_PER_SESSION, now)
            .await
            .map_err(dm_host::Error::backend)?;
        let mut state = DmSession::new(&session.device_id, self.limits);
        let mut commands: Vec<Command> = state.take(jobs);
        let kind = self
            .store
            .get_device(&session.device_id)
            .await
            .map_err(dm_host::Error::backend)?
            .map(|a| a.kind);
        if kind == Some(DeviceKind::Gateway) {
            let proxied = self
                .store
                .take_gateway_jobs(&session.device_id, &session.key, JOBS_PER_SESSION, now)
                .await
                .map_err(dm_host::Error::backend)?;
            commands.extend(state.take_proxied(proxied));
        }
        Ok(Opened { state, commands })
    }

    async fn events(
        &self,
        state: &mut DmSession,
        session: &SessionInfo,
        events: Vec<Event>,
    ) -> Result<Vec<Command>, dm_host::Error> {
        for ev in events {
            if let Event::Alert(a) = &ev
                && a.code == AlertCode::GENERIC_ALERT
            {
                self.gateway_alert(state, session, a).await?;
            }
            state.event(ev);
        }
        Ok(Vec::new())
    }

    async fn ended(&self, state: Option<DmSession>, session: &SessionInfo, ending: Ending) {
        let now = now_ms();
        let mut requeue = true;
        if let Some(state) = state {
            let starts = state.fanout_starts();
            let record = state.record(session, &ending, now, self.max_job_attempts);
            requeue = record.incomplete;
            if !record.is_empty()
                && let Err(e) = self.store.record_session(&record.record).await
            {
                tracing::error!(error = %e, device = %dm_host::log::Untrusted(&session.device_id), "store failure recording a session");
            }
            let ended: Vec<dm_store::JobId> = record
                .record
                .job_results
                .iter()
                .filter(|r| r.complete.is_some())
                .map(|r| r.job_id)
                .collect();
            if !ended.is_empty() {
                self.fanouts.send(crate::fanout::Work::JobsEnded(ended));
            }
            for (fanout, code, items) in starts {
                self.fanouts.send(crate::fanout::Work::Started {
                    fanout,
                    gateway: session.device_id.clone(),
                    code,
                    items,
                });
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
