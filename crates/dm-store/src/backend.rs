//! The [`crate::Store`] implementation shared by the SQLite and PostgreSQL backends.
//!
//! Both backends run the same DML: it uses only what both dialects have (`$N` parameters,
//! `ON CONFLICT ... DO UPDATE`, `RETURNING`, 64-bit integers, byte strings) and binds the same
//! Rust types. What differs (DDL, pool set-up, job locking) lives in each backend's module; this
//! macro expands the rest once per backend with that backend's concrete sqlx types, so no
//! `sqlx::Any` is involved.

/// Columns of a device account, table alias `d`.
macro_rules! device_cols {
    () => {
        "d.device_id, d.auth_name, d.client_auth, d.client_verifier, d.server_auth, \
         d.server_auth_name, d.server_secret, d.client_nonce, d.server_nonce, d.notify_addrs, \
         d.kind, d.enabled, d.created_at, d.updated_at"
    };
}

/// Columns of a registry entry, table alias `r`, renamed `r_*`.
macro_rules! registry_cols {
    () => {
        "r.device_id AS r_device_id, r.devinfo AS r_devinfo, r.last_contact AS r_last_contact, \
         r.last_addr AS r_last_addr, r.last_session AS r_last_session"
    };
}

/// Columns of a job.
macro_rules! job_cols {
    () => {
        "id, device_id, state, commands, attempts, created_at, updated_at, sent_at, \
         sent_session, sent_msg_id, sent_cmd_ids, completed_at, gateway_id, awaiting_since"
    };
}

/// Columns of a fanout.
macro_rules! fanout_cols {
    () => {
        "id, gateway_id, state, job_id, detail, created_at, updated_at, completed_at"
    };
}

/// Columns of a link.
macro_rules! link_cols {
    () => {
        "id, device_id, gateway_id, mode, since, until, attached, addresses, updated_at"
    };
}

/// Columns of the current link, table alias `l`, renamed `l_*`.
macro_rules! current_link_cols {
    () => {
        "l.id AS l_id, l.device_id AS l_device_id, l.gateway_id AS l_gateway_id, \
         l.mode AS l_mode, l.since AS l_since, l.until AS l_until, l.attached AS l_attached, \
         l.addresses AS l_addresses, l.updated_at AS l_updated_at"
    };
}

/// `devices d` with its registry entry and current link.
macro_rules! devices_joined {
    () => {
        " FROM devices d LEFT JOIN registry r ON r.device_id = d.device_id \
         LEFT JOIN device_links l ON l.device_id = d.device_id AND l.until IS NULL"
    };
}

/// Columns of an event.
macro_rules! event_cols {
    () => {
        "id, device_id, at, alert_code, alert_type, format, mark, source_uri, correlator, data"
    };
}

/// The statement taking queued jobs of the devices a gateway manages in Proxy (or
/// Adaptation) mode for the gateway's session (`$1` gateway, `$2` session, `$3` now, `$4`
/// limit), with the backend's row locking clause: they stay stored under their End Devices and
/// are carried by the gateway as Fanout operations.
macro_rules! take_gateway_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET state = 'sent', attempts = attempts + 1, updated_at = $3, \
             sent_at = $3, sent_session = $2, sent_msg_id = NULL, sent_cmd_ids = NULL, \
             gateway_id = $1, awaiting_since = NULL \
             WHERE id IN (SELECT j.id FROM jobs j JOIN device_links l \
             ON l.device_id = j.device_id AND l.until IS NULL \
             WHERE l.gateway_id = $1 AND l.mode IN ('proxy', 'adaptation') \
             AND j.state = 'queued' ORDER BY j.id LIMIT $4",
            $lock,
            ") RETURNING ",
            job_cols!()
        )
    };
}

/// Rows per multi-row `INSERT` (keeps the bind count far below both backends' limits).
pub(crate) const BATCH_ROWS: usize = 500;

/// Expands `impl Store for $store` plus its row decoders.
///
/// `$store` must have `fn w(&self) -> &Pool<$db>` (writes) and `fn r(&self) -> &Pool<$db>`
/// (reads), `async fn close_pools(&self)`, `async fn consume_impl(&self, device_id, expected,
/// next) -> Result<bool>` (which may use the generated `consume_direct`), `async fn record_session_impl(&self, &SessionRecord)
/// -> Result<()>` (which may use the generated `record_one`), `async fn take_queued_impl(&self,
/// device_id, session_id, limit, now) -> Result<Vec<Job>>` (which may use the generated
/// `take_queued_direct`), and the in-memory helpers `fn accounts(&self) ->
/// Option<&AccountCache>` and `fn hint(&self) -> Option<&QueuedHint>`; `$sql` is a module with
/// `TAKE_QUEUED`.
macro_rules! impl_store {
    ($store:ty, $db:ty, $conn:ty, $row:ty, $sql:ident) => {
        use std::collections::{BTreeMap, HashMap};

        use sqlx::Row as _;

        use crate::backend::BATCH_ROWS;
        use crate::fanout::{Fanout, FanoutFilter, FanoutId, FanoutState, GatewayGroup, NewFanout};
        use crate::session::dedup_tree_values;
        use crate::tree::subtree_range;
        use crate::{
            AuthType, CommandResult, Counts, DeviceAccount, DeviceFilter, DeviceKind,
            DeviceLink, DeviceView, Error, Event, EventFilter, EventId, Job, JobCommand,
            JobFilter, JobId, JobResults, JobState, LinkCounts, LinkFilter, LinkMode,
            LinkReport, NewEvent, NewJob, NonceUpdate, REGISTRY_ONLY_PREFIX, Registry,
            RegistryUpdate, RequeueScope, Result, ResultItem, Secret, SentIn, SessionRecord,
            Store, TreeValue, UnixMillis, page_size,
        };

        fn corrupt(what: &'static str, detail: impl ToString) -> Error {
            Error::Corrupt {
                what,
                detail: detail.to_string(),
            }
        }

        fn to_u32(what: &'static str, v: i64) -> Result<u32> {
            u32::try_from(v).map_err(|_| corrupt(what, v))
        }

        fn to_u16(what: &'static str, v: i64) -> Result<u16> {
            u16::try_from(v).map_err(|_| corrupt(what, v))
        }

        fn to_u64(v: i64) -> u64 {
            u64::try_from(v).unwrap_or(0)
        }

        fn device_from_row(row: &$row) -> Result<DeviceAccount> {
            let addrs: String = row.try_get("notify_addrs")?;
            Ok(DeviceAccount {
                device_id: row.try_get("device_id")?,
                auth_name: row.try_get("auth_name")?,
                client_auth: AuthType::parse(&row.try_get::<String, _>("client_auth")?)?,
                client_verifier: Secret::new(row.try_get::<String, _>("client_verifier")?),
                server_auth: AuthType::parse(&row.try_get::<String, _>("server_auth")?)?,
                server_auth_name: row.try_get("server_auth_name")?,
                server_secret: Secret::new(row.try_get::<String, _>("server_secret")?),
                client_nonce: row.try_get("client_nonce")?,
                server_nonce: row.try_get("server_nonce")?,
                notify_addrs: serde_json::from_str(&addrs)
                    .map_err(|e| corrupt("notify_addrs", e))?,
                kind: DeviceKind::parse(&row.try_get::<String, _>("kind")?)?,
                enabled: row.try_get("enabled")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        /// Registry columns (`r_*`); `None` when the left join found no entry.
        fn registry_from_row(row: &$row) -> Result<Option<Registry>> {
            let id: Option<String> = row.try_get("r_device_id")?;
            if id.is_none() {
                return Ok(None);
            }
            let devinfo: Option<String> = row.try_get("r_devinfo")?;
            let devinfo: BTreeMap<String, String> = match devinfo {
                Some(j) => serde_json::from_str(&j).map_err(|e| corrupt("devinfo", e))?,
                None => BTreeMap::new(),
            };
            Ok(Some(Registry {
                devinfo,
                last_contact: row.try_get("r_last_contact")?,
                last_addr: row.try_get("r_last_addr")?,
                last_session_id: row.try_get("r_last_session")?,
            }))
        }

        fn tree_from_row(row: &$row) -> Result<TreeValue> {
            Ok(TreeValue {
                path: row.try_get("path")?,
                format: row.try_get("format")?,
                mime_type: row.try_get("mime_type")?,
                value: row.try_get("value")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        pub(super) fn job_from_row(row: &$row) -> Result<Job> {
            let commands: String = row.try_get("commands")?;
            let commands: Vec<JobCommand> =
                serde_json::from_str(&commands).map_err(|e| corrupt("job commands", e))?;
            let session: Option<String> = row.try_get("sent_session")?;
            let sent = match session {
                Some(session_id) => {
                    let msg_id: Option<i64> = row.try_get("sent_msg_id")?;
                    let cmd_ids: Option<String> = row.try_get("sent_cmd_ids")?;
                    Some(SentIn {
                        session_id,
                        msg_id: msg_id.map(|m| to_u32("sent_msg_id", m)).transpose()?,
                        cmd_ids: match cmd_ids {
                            Some(j) => serde_json::from_str(&j)
                                .map_err(|e| corrupt("sent_cmd_ids", e))?,
                            None => Vec::new(),
                        },
                        at: row.try_get::<Option<i64>, _>("sent_at")?.unwrap_or_default(),
                    })
                }
                None => None,
            };
            Ok(Job {
                id: row.try_get("id")?,
                device_id: row.try_get("device_id")?,
                state: JobState::parse(&row.try_get::<String, _>("state")?)?,
                commands,
                attempts: to_u32("attempts", row.try_get("attempts")?)?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                sent,
                completed_at: row.try_get("completed_at")?,
                gateway: row.try_get("gateway_id")?,
                awaiting_since: row.try_get("awaiting_since")?,
                results: Vec::new(),
            })
        }

        /// A link from columns named `{p}id`, `{p}device_id`, ...; `None` when a left join
        /// found none.
        fn link_from_row(row: &$row, p: &str) -> Result<Option<DeviceLink>> {
            let col = |c: &str| format!("{p}{c}");
            let id: Option<i64> = row.try_get(col("id").as_str())?;
            let Some(id) = id else { return Ok(None) };
            let addresses: String = row.try_get(col("addresses").as_str())?;
            Ok(Some(DeviceLink {
                id,
                device_id: row.try_get(col("device_id").as_str())?,
                gateway_id: row.try_get(col("gateway_id").as_str())?,
                mode: LinkMode::parse(&row.try_get::<String, _>(col("mode").as_str())?)?,
                since: row.try_get(col("since").as_str())?,
                until: row.try_get(col("until").as_str())?,
                attached: row.try_get(col("attached").as_str())?,
                addresses: serde_json::from_str(&addresses)
                    .map_err(|e| corrupt("link addresses", e))?,
                updated_at: row.try_get(col("updated_at").as_str())?,
            }))
        }

        fn view_from_row(row: &$row) -> Result<DeviceView> {
            Ok(DeviceView {
                account: device_from_row(row)?,
                registry: registry_from_row(row)?,
                link: link_from_row(row, "l_")?,
            })
        }

        fn group_from_row(row: &$row) -> Result<GatewayGroup> {
            let members: String = row.try_get("members")?;
            Ok(GatewayGroup {
                gateway_id: row.try_get("gateway_id")?,
                name: row.try_get("name")?,
                members: serde_json::from_str(&members)
                    .map_err(|e| corrupt("gateway_groups.members", e))?,
                match_rule: row.try_get("match_rule")?,
                job_id: row.try_get("job_id")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn fanout_from_row(row: &$row) -> Result<Fanout> {
            let state: String = row.try_get("state")?;
            Ok(Fanout {
                id: row.try_get("id")?,
                gateway_id: row.try_get("gateway_id")?,
                state: FanoutState::parse(&state)?,
                job_id: row.try_get("job_id")?,
                detail: row.try_get("detail")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                completed_at: row.try_get("completed_at")?,
            })
        }

        fn event_from_row(row: &$row) -> Result<Event> {
            Ok(Event {
                id: row.try_get("id")?,
                event: NewEvent {
                    device_id: row.try_get("device_id")?,
                    at: row.try_get("at")?,
                    alert_code: to_u16("alert_code", row.try_get("alert_code")?)?,
                    alert_type: row.try_get("alert_type")?,
                    format: row.try_get("format")?,
                    mark: row.try_get("mark")?,
                    source_uri: row.try_get("source_uri")?,
                    correlator: row.try_get("correlator")?,
                    data: row.try_get("data")?,
                },
            })
        }

        /// Fills `results` of the given jobs.
        pub(super) async fn load_results(conn: &mut $conn, jobs: &mut [Job]) -> Result<()> {
            if jobs.is_empty() {
                return Ok(());
            }
            let pos: HashMap<JobId, usize> =
                jobs.iter().enumerate().map(|(i, j)| (j.id, i)).collect();
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT job_id, cmd_index, cmd_id, status, items, completed_at, error \
                 FROM job_results WHERE job_id IN (",
            );
            let mut sep = qb.separated(", ");
            for j in jobs.iter() {
                sep.push_bind(j.id);
            }
            qb.push(") ORDER BY job_id, cmd_index");
            let rows = qb.build().fetch_all(&mut *conn).await?;
            for row in &rows {
                let job_id: JobId = row.try_get("job_id")?;
                let items: String = row.try_get("items")?;
                let cmd_id: Option<i64> = row.try_get("cmd_id")?;
                let result = CommandResult {
                    index: to_u32("cmd_index", row.try_get("cmd_index")?)?,
                    cmd_id: cmd_id.map(|c| to_u32("cmd_id", c)).transpose()?,
                    status: to_u16("status", row.try_get("status")?)?,
                    items: serde_json::from_str::<Vec<ResultItem>>(&items)
                        .map_err(|e| corrupt("result items", e))?,
                    completed_at: row.try_get("completed_at")?,
                    error: row.try_get("error")?,
                };
                if let Some(job) = pos.get(&job_id).and_then(|&i| jobs.get_mut(i)) {
                    job.results.push(result);
                }
            }
            Ok(())
        }

        async fn fetch_job(conn: &mut $conn, id: JobId) -> Result<Option<Job>> {
            let row = sqlx::query(concat!("SELECT ", job_cols!(), " FROM jobs WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let mut jobs = [job_from_row(&row)?];
            load_results(conn, &mut jobs).await?;
            let [job] = jobs;
            Ok(Some(job))
        }

        /// Decodes `RETURNING` job rows, loads their results, sorts by id.
        async fn jobs_from_rows(conn: &mut $conn, rows: &[$row]) -> Result<Vec<Job>> {
            let mut jobs = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
            jobs.sort_by_key(|j| j.id);
            load_results(conn, &mut jobs).await?;
            Ok(jobs)
        }

        /// The error for a job update that matched no row.
        async fn job_state_error(conn: &mut $conn, id: JobId, action: &'static str) -> Error {
            let state = sqlx::query("SELECT state FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await;
            match state {
                Ok(Some(row)) => match row.try_get::<String, _>("state") {
                    Ok(state) => Error::InvalidState {
                        job_id: id,
                        state,
                        action,
                    },
                    Err(e) => e.into(),
                },
                Ok(None) => Error::NotFound {
                    what: "job",
                    id: id.to_string(),
                },
                Err(e) => e.into(),
            }
        }

        fn check_completion(state: JobState) -> Result<()> {
            match state {
                JobState::Done | JobState::Failed => Ok(()),
                other => Err(Error::InvalidArgument(format!(
                    "a job completes as done or failed, not {}",
                    other.as_str()
                ))),
            }
        }

        async fn write_registry(
            conn: &mut $conn,
            device_id: &str,
            u: &RegistryUpdate,
        ) -> Result<()> {
            let devinfo = u
                .devinfo
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            let man = u.devinfo.as_ref().and_then(|d| d.get("Man"));
            let model = u.devinfo.as_ref().and_then(|d| d.get("Mod"));
            sqlx::query(
                "INSERT INTO registry \
                   (device_id, devinfo, man, model, last_contact, last_addr, last_session) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (device_id) DO UPDATE SET \
                   devinfo = COALESCE(excluded.devinfo, registry.devinfo), \
                   man = CASE WHEN excluded.devinfo IS NULL THEN registry.man \
                         ELSE excluded.man END, \
                   model = CASE WHEN excluded.devinfo IS NULL THEN registry.model \
                           ELSE excluded.model END, \
                   last_contact = COALESCE(excluded.last_contact, registry.last_contact), \
                   last_addr = COALESCE(excluded.last_addr, registry.last_addr), \
                   last_session = COALESCE(excluded.last_session, registry.last_session)",
            )
            .bind(device_id)
            .bind(devinfo)
            .bind(man)
            .bind(model)
            .bind(u.last_contact)
            .bind(u.last_addr.as_deref())
            .bind(u.last_session_id.as_deref())
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::on_write(e, "registry", device_id, "device", device_id))?;
            Ok(())
        }

        async fn write_nonces(conn: &mut $conn, device_id: &str, n: &NonceUpdate) -> Result<()> {
            if n.client.is_none() && n.server.is_none() {
                return Ok(());
            }
            let done = sqlx::query(
                "UPDATE devices SET client_nonce = COALESCE($2, client_nonce), \
                 server_nonce = COALESCE($3, server_nonce) WHERE device_id = $1",
            )
            .bind(device_id)
            .bind(n.client.as_deref())
            .bind(n.server.as_deref())
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 0 {
                return Err(Error::NotFound {
                    what: "device",
                    id: device_id.to_owned(),
                });
            }
            Ok(())
        }

        async fn write_tree(conn: &mut $conn, device_id: &str, values: &[TreeValue]) -> Result<()> {
            let values = dedup_tree_values(values);
            for chunk in values.chunks(BATCH_ROWS) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO tree_values \
                     (device_id, path, format, mime_type, value, updated_at) ",
                );
                qb.push_values(chunk, |mut b, v| {
                    b.push_bind(device_id)
                        .push_bind(v.path.as_str())
                        .push_bind(v.format.as_deref())
                        .push_bind(v.mime_type.as_deref())
                        .push_bind(v.value.as_slice())
                        .push_bind(v.updated_at);
                });
                qb.push(
                    " ON CONFLICT (device_id, path) DO UPDATE SET format = excluded.format, \
                     mime_type = excluded.mime_type, value = excluded.value, \
                     updated_at = excluded.updated_at",
                );
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| Error::on_write(e, "tree value", device_id, "device", device_id))?;
            }
            Ok(())
        }

        async fn write_job_results(conn: &mut $conn, jr: &JobResults, now: UnixMillis) -> Result<()> {
            if let Some(state) = jr.complete {
                check_completion(state)?;
            }
            let not_found = || Error::NotFound {
                what: "job",
                id: jr.job_id.to_string(),
            };
            // Last result per command index wins.
            let mut by_index: BTreeMap<u32, &CommandResult> = BTreeMap::new();
            for r in &jr.results {
                by_index.insert(r.index, r);
            }
            let mut items = Vec::with_capacity(by_index.len());
            for r in by_index.values() {
                items.push(
                    serde_json::to_string(&r.items)
                        .map_err(|e| Error::InvalidArgument(e.to_string()))?,
                );
            }
            let rows: Vec<(&CommandResult, String)> =
                by_index.values().copied().zip(items).collect();
            for chunk in rows.chunks(BATCH_ROWS) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO job_results \
                     (job_id, cmd_index, cmd_id, status, items, completed_at, error) ",
                );
                qb.push_values(chunk, |mut b, (r, items)| {
                    b.push_bind(jr.job_id)
                        .push_bind(i64::from(r.index))
                        .push_bind(r.cmd_id.map(i64::from))
                        .push_bind(i64::from(r.status))
                        .push_bind(items.as_str())
                        .push_bind(r.completed_at)
                        .push_bind(r.error.as_deref());
                });
                qb.push(
                    " ON CONFLICT (job_id, cmd_index) DO UPDATE SET cmd_id = excluded.cmd_id, \
                     status = excluded.status, items = excluded.items, \
                     completed_at = excluded.completed_at, error = excluded.error",
                );
                qb.build().execute(&mut *conn).await.map_err(|e| {
                    let id = jr.job_id.to_string();
                    Error::on_write(e, "job result", &id, "job", &id)
                })?;
            }
            let done = match jr.complete {
                Some(state) => sqlx::query(
                    "UPDATE jobs SET state = $2, updated_at = $3, completed_at = $3 \
                     WHERE id = $1 AND state IN ('queued', 'sent')",
                )
                .bind(jr.job_id)
                .bind(state.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
                None => 0,
            };
            if done == 0 && rows.is_empty() {
                // Nothing written: make sure the job exists at all.
                let exists = sqlx::query("SELECT 1 AS one FROM jobs WHERE id = $1")
                    .bind(jr.job_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                if exists.is_none() {
                    return Err(not_found());
                }
            }
            Ok(())
        }

        async fn write_events(
            conn: &mut $conn,
            device_id: &str,
            events: &[NewEvent],
        ) -> Result<()> {
            for chunk in events.chunks(BATCH_ROWS) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO events (device_id, at, alert_code, alert_type, format, mark, \
                     source_uri, correlator, data) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(device_id)
                        .push_bind(e.at)
                        .push_bind(i64::from(e.alert_code))
                        .push_bind(e.alert_type.as_deref())
                        .push_bind(e.format.as_deref())
                        .push_bind(e.mark.as_deref())
                        .push_bind(e.source_uri.as_deref())
                        .push_bind(e.correlator.as_deref())
                        .push_bind(e.data.as_deref());
                });
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| Error::on_write(e, "event", device_id, "device", device_id))?;
            }
            Ok(())
        }

        /// Rejects a record that can never be stored (bad completion state).
        pub(super) fn check_record(rec: &SessionRecord) -> Result<()> {
            for jr in &rec.job_results {
                if let Some(state) = jr.complete {
                    check_completion(state)?;
                }
            }
            Ok(())
        }

        /// Writes one session record in the caller's transaction.
        pub(super) async fn record_one(conn: &mut $conn, rec: &SessionRecord) -> Result<()> {
            write_registry(&mut *conn, &rec.device_id, &rec.registry).await?;
            write_nonces(&mut *conn, &rec.device_id, &rec.nonces).await?;
            write_tree(&mut *conn, &rec.device_id, &rec.tree_values).await?;
            for jr in &rec.job_results {
                write_job_results(&mut *conn, jr, rec.at).await?;
            }
            write_events(&mut *conn, &rec.device_id, &rec.events).await?;
            if rec.has_gateway_parts() {
                write_gateway_parts(&mut *conn, rec).await?;
            }
            Ok(())
        }

        /// The links, proxied tree values and awaiting marks of a gateway's session.
        async fn write_gateway_parts(conn: &mut $conn, rec: &SessionRecord) -> Result<()> {
            mark_gateway(&mut *conn, &rec.device_id, rec.at).await?;
            write_links(&mut *conn, &rec.device_id, &rec.links, rec.at).await?;
            for p in &rec.proxied {
                if device_exists(&mut *conn, &p.device_id).await?.is_some() {
                    write_tree(&mut *conn, &p.device_id, &p.values).await?;
                }
            }
            for id in &rec.awaiting {
                sqlx::query(
                    "UPDATE jobs SET awaiting_since = $3, updated_at = $3 \
                     WHERE id = $1 AND state = 'sent' AND gateway_id = $2",
                )
                .bind(*id)
                .bind(rec.device_id.as_str())
                .bind(rec.at)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        }

        /// The client auth type of a device, if it exists.
        async fn device_exists(conn: &mut $conn, device_id: &str) -> Result<Option<String>> {
            let row = sqlx::query("SELECT client_auth FROM devices WHERE device_id = $1")
                .bind(device_id)
                .fetch_optional(&mut *conn)
                .await?;
            row.map(|r| r.try_get::<String, _>("client_auth").map_err(Error::from))
                .transpose()
        }

        async fn mark_gateway(conn: &mut $conn, device_id: &str, now: UnixMillis) -> Result<()> {
            sqlx::query(
                "UPDATE devices SET kind = 'gateway', updated_at = $2 \
                 WHERE device_id = $1 AND kind <> 'gateway'",
            )
            .bind(device_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Applies a gateway's reports (see the `link` module docs): a registry-only entry
        /// for a device without one, its kind and DevInfo, then its current link.
        async fn write_links(
            conn: &mut $conn,
            gateway_id: &str,
            reports: &[LinkReport],
            now: UnixMillis,
        ) -> Result<()> {
            for r in reports {
                if r.device_id.is_empty() || r.device_id == gateway_id {
                    continue;
                }
                let client_auth = match device_exists(&mut *conn, &r.device_id).await? {
                    Some(auth) => auth,
                    None => {
                        let entry = DeviceAccount::registry_only(&r.device_id, r.kind, now);
                        sqlx::query(
                            "INSERT INTO devices (device_id, auth_name, client_auth, \
                             client_verifier, server_auth, server_auth_name, server_secret, \
                             client_nonce, server_nonce, notify_addrs, kind, enabled, \
                             created_at, updated_at) VALUES ($1, $2, 'none', '', 'none', NULL, \
                             '', $3, $3, '[]', $4, $5, $6, $6) ON CONFLICT DO NOTHING",
                        )
                        .bind(&entry.device_id)
                        .bind(&entry.auth_name)
                        .bind(Vec::<u8>::new())
                        .bind(entry.kind.as_str())
                        .bind(false)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                        // An auth name taken by an account (refused for accounts since
                        // version 3, possible before): the report is skipped.
                        match device_exists(&mut *conn, &r.device_id).await? {
                            Some(auth) => auth,
                            None => continue,
                        }
                    }
                };
                if r.kind == DeviceKind::Gateway {
                    mark_gateway(&mut *conn, &r.device_id, now).await?;
                }
                if !r.devinfo.is_empty() {
                    let devinfo = json_text(&r.devinfo)?;
                    sqlx::query(
                        "INSERT INTO registry (device_id, devinfo, man, model) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (device_id) DO UPDATE SET \
                         devinfo = CASE WHEN registry.devinfo IS NULL OR $5 \
                                   THEN excluded.devinfo ELSE registry.devinfo END, \
                         man = CASE WHEN registry.devinfo IS NULL OR $5 \
                               THEN excluded.man ELSE registry.man END, \
                         model = CASE WHEN registry.devinfo IS NULL OR $5 \
                                 THEN excluded.model ELSE registry.model END",
                    )
                    .bind(&r.device_id)
                    .bind(devinfo)
                    .bind(r.devinfo.get("Man"))
                    .bind(r.devinfo.get("Mod"))
                    .bind(client_auth == AuthType::None.as_str())
                    .execute(&mut *conn)
                    .await?;
                }
                write_link(&mut *conn, gateway_id, r, now).await?;
            }
            Ok(())
        }

        /// Opens, updates or closes the device's current link for one report.
        async fn write_link(
            conn: &mut $conn,
            gateway_id: &str,
            r: &LinkReport,
            now: UnixMillis,
        ) -> Result<()> {
            let addresses = json_text(&r.addresses)?;
            let current = sqlx::query(
                "SELECT id, gateway_id, mode FROM device_links \
                 WHERE device_id = $1 AND until IS NULL",
            )
            .bind(&r.device_id)
            .fetch_optional(&mut *conn)
            .await?;
            let current = match current {
                Some(row) => Some((
                    row.try_get::<i64, _>("id")?,
                    row.try_get::<String, _>("gateway_id")?,
                    LinkMode::parse(&row.try_get::<String, _>("mode")?)?,
                )),
                None => None,
            };
            let same_gateway = current.as_ref().is_some_and(|(_, g, _)| g == gateway_id);
            let keep = match &current {
                // Same gateway, same mode; or a detach of the current gateway in any mode.
                Some((_, _, mode)) => same_gateway && (*mode == r.mode || !r.attached),
                None => false,
            };
            if let (true, Some((id, _, _))) = (keep, &current) {
                sqlx::query(
                    "UPDATE device_links SET attached = $2, addresses = $3, updated_at = $4 \
                     WHERE id = $1",
                )
                .bind(*id)
                .bind(r.attached)
                .bind(addresses)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                return Ok(());
            }
            if !r.attached && current.is_some() {
                // A detach from a gateway that is not the device's current one: stale.
                return Ok(());
            }
            if let Some((id, _, _)) = &current {
                sqlx::query("UPDATE device_links SET until = $2, updated_at = $2 WHERE id = $1")
                    .bind(*id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO device_links (device_id, gateway_id, mode, since, until, attached, \
                 addresses, updated_at) VALUES ($1, $2, $3, $4, NULL, $5, $6, $4)",
            )
            .bind(&r.device_id)
            .bind(gateway_id)
            .bind(r.mode.as_str())
            .bind(now)
            .bind(r.attached)
            .bind(addresses)
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::on_write(e, "link", &r.device_id, "device", gateway_id))?;
            Ok(())
        }

        /// `WHERE` clauses of the device filter (the query must join `registry r`).
        fn push_device_filter<'a>(qb: &mut sqlx::QueryBuilder<'a, $db>, f: &'a DeviceFilter) {
            qb.push(" WHERE 1 = 1");
            if let Some(p) = f.id_prefix.as_deref().filter(|p| !p.is_empty()) {
                qb.push(" AND d.device_id >= ")
                    .push_bind(p)
                    .push(" AND d.device_id < ")
                    .push_bind(format!("{p}\u{10FFFF}"));
            }
            if let Some(m) = f.manufacturer.as_deref() {
                qb.push(" AND r.man = ").push_bind(m);
            }
            if let Some(m) = f.model.as_deref() {
                qb.push(" AND r.model = ").push_bind(m);
            }
            if let Some(t) = f.seen_since {
                qb.push(" AND r.last_contact >= ").push_bind(t);
            }
            if let Some(k) = f.kind {
                qb.push(" AND d.kind = ").push_bind(k.as_str());
            }
            if let Some(g) = f.gateway_id.as_deref() {
                qb.push(" AND l.gateway_id = ").push_bind(g);
            }
        }

        fn check_device_fields(a: &DeviceAccount) -> Result<()> {
            if a.device_id.is_empty() || a.auth_name.is_empty() {
                return Err(Error::InvalidArgument(
                    "device id and auth name must not be empty".into(),
                ));
            }
            if !a.is_registry_only() && a.auth_name.starts_with(REGISTRY_ONLY_PREFIX) {
                return Err(Error::InvalidArgument(format!(
                    "auth names starting with {REGISTRY_ONLY_PREFIX:?} are reserved"
                )));
            }
            Ok(())
        }

        fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> Result<String> {
            serde_json::to_string(v).map_err(|e| Error::InvalidArgument(e.to_string()))
        }

        /// Consumes a client nonce with one compare-and-set statement (PostgreSQL's path;
        /// SQLite batches them in its group-commit task).
        #[allow(dead_code)]
        pub(super) async fn consume_direct(
            store: &$store,
            device_id: &str,
            expected: &[u8],
            next: &[u8],
        ) -> Result<bool> {
            let done = sqlx::query(
                "UPDATE devices SET client_nonce = $3 WHERE device_id = $1 AND client_nonce = $2",
            )
            .bind(device_id)
            .bind(expected)
            .bind(next)
            .execute(store.w())
            .await?;
            Ok(done.rows_affected() == 1)
        }

        /// Takes queued jobs with direct statements (no batching): a reader checks that there
        /// is any, one `UPDATE ... RETURNING` on the writer takes them. (PostgreSQL's path;
        /// SQLite batches its takes in its group-commit task.)
        #[allow(dead_code)]
        pub(super) async fn take_queued_direct(
            store: &$store,
            device_id: &str,
            session_id: &str,
            limit: u32,
            now: UnixMillis,
        ) -> Result<Vec<Job>> {
            // Most sessions find nothing queued: check on a reader before using the writer.
            // (A job queued right after this check goes out in the next session.)
            let any = sqlx::query(
                "SELECT 1 AS one FROM jobs WHERE device_id = $1 AND state = 'queued' LIMIT 1",
            )
            .bind(device_id)
            .fetch_optional(store.r())
            .await?;
            if any.is_none() {
                return Ok(Vec::new());
            }
            take_with(store, $sql::TAKE_QUEUED, device_id, session_id, limit, now).await
        }

        /// Runs a take statement (`$1` device or gateway, `$2` session, `$3` now, `$4` limit):
        /// one statement, atomic on its own (no explicit transaction, one writer hop); results
        /// exist only for requeued jobs and are read on a reader connection.
        async fn take_with(
            store: &$store,
            sql: &'static str,
            key: &str,
            session_id: &str,
            limit: u32,
            now: UnixMillis,
        ) -> Result<Vec<Job>> {
            let rows = sqlx::query(sql)
                .bind(key)
                .bind(session_id)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(store.w())
                .await?;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let mut conn = store.r().acquire().await?;
            jobs_from_rows(&mut conn, &rows).await
        }

        impl Store for $store {
            async fn create_device(&self, a: &DeviceAccount) -> Result<()> {
                check_device_fields(a)?;
                let addrs = json_text(&a.notify_addrs)?;
                // A registry-only entry of the same id (a device known from a gateway's
                // report) becomes this account, keeping its kind if it is a gateway.
                let done = sqlx::query(
                    "INSERT INTO devices (device_id, auth_name, client_auth, client_verifier, \
                     server_auth, server_auth_name, server_secret, client_nonce, server_nonce, \
                     notify_addrs, kind, enabled, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT (device_id) DO UPDATE SET auth_name = excluded.auth_name, \
                     client_auth = excluded.client_auth, \
                     client_verifier = excluded.client_verifier, \
                     server_auth = excluded.server_auth, \
                     server_auth_name = excluded.server_auth_name, \
                     server_secret = excluded.server_secret, \
                     client_nonce = excluded.client_nonce, server_nonce = excluded.server_nonce, \
                     notify_addrs = excluded.notify_addrs, \
                     kind = CASE WHEN devices.kind = 'gateway' THEN 'gateway' \
                            ELSE excluded.kind END, \
                     enabled = excluded.enabled, updated_at = excluded.updated_at \
                     WHERE devices.client_auth = 'none' AND excluded.client_auth <> 'none'",
                )
                .bind(&a.device_id)
                .bind(&a.auth_name)
                .bind(a.client_auth.as_str())
                .bind(a.client_verifier.expose())
                .bind(a.server_auth.as_str())
                .bind(a.server_auth_name.as_deref())
                .bind(a.server_secret.expose())
                .bind(a.client_nonce.as_slice())
                .bind(a.server_nonce.as_slice())
                .bind(addrs)
                .bind(a.kind.as_str())
                .bind(a.enabled)
                .bind(a.created_at)
                .bind(a.updated_at)
                .execute(self.w())
                .await;
                if let Some(c) = self.accounts() {
                    c.invalidate(&a.device_id);
                }
                let done = done
                    .map_err(|e| Error::on_write(e, "device", &a.device_id, "device", &a.device_id))?;
                if done.rows_affected() == 0 {
                    return Err(Error::Conflict {
                        what: "device",
                        id: a.device_id.clone(),
                    });
                }
                Ok(())
            }

            async fn get_device(&self, device_id: &str) -> Result<Option<DeviceAccount>> {
                let cache = self.accounts();
                if let Some(a) = cache.and_then(|c| c.get(device_id)) {
                    return Ok(Some(a));
                }
                let ticket = cache.map(|c| c.begin_fill());
                let account = sqlx::query(concat!(
                    "SELECT ",
                    device_cols!(),
                    " FROM devices d WHERE d.device_id = $1"
                ))
                .bind(device_id)
                .fetch_optional(self.r())
                .await?
                .as_ref()
                .map(device_from_row)
                .transpose()?;
                if let (Some(c), Some(t), Some(a)) = (cache, ticket, &account) {
                    c.fill(t, a);
                }
                Ok(account)
            }

            async fn get_device_by_auth_name(
                &self,
                auth_name: &str,
            ) -> Result<Option<DeviceAccount>> {
                let cache = self.accounts();
                if let Some(a) = cache.and_then(|c| c.get_by_auth_name(auth_name)) {
                    return Ok(Some(a));
                }
                let ticket = cache.map(|c| c.begin_fill());
                let account = sqlx::query(concat!(
                    "SELECT ",
                    device_cols!(),
                    " FROM devices d WHERE d.auth_name = $1"
                ))
                .bind(auth_name)
                .fetch_optional(self.r())
                .await?
                .as_ref()
                .map(device_from_row)
                .transpose()?;
                if let (Some(c), Some(t), Some(a)) = (cache, ticket, &account) {
                    c.fill(t, a);
                }
                Ok(account)
            }

            async fn update_device(&self, a: &DeviceAccount) -> Result<()> {
                check_device_fields(a)?;
                let addrs = json_text(&a.notify_addrs)?;
                let done = sqlx::query(
                    "UPDATE devices SET auth_name = $2, client_auth = $3, client_verifier = $4, \
                     server_auth = $5, server_auth_name = $6, server_secret = $7, \
                     client_nonce = $8, server_nonce = $9, notify_addrs = $10, kind = $11, \
                     enabled = $12, updated_at = $13 WHERE device_id = $1",
                )
                .bind(&a.device_id)
                .bind(&a.auth_name)
                .bind(a.client_auth.as_str())
                .bind(a.client_verifier.expose())
                .bind(a.server_auth.as_str())
                .bind(a.server_auth_name.as_deref())
                .bind(a.server_secret.expose())
                .bind(a.client_nonce.as_slice())
                .bind(a.server_nonce.as_slice())
                .bind(addrs)
                .bind(a.kind.as_str())
                .bind(a.enabled)
                .bind(a.updated_at)
                .execute(self.w())
                .await;
                if let Some(c) = self.accounts() {
                    c.invalidate(&a.device_id);
                }
                let done = done.map_err(|e| {
                    Error::on_write(e, "auth name", &a.auth_name, "device", &a.device_id)
                })?;
                if done.rows_affected() == 0 {
                    return Err(Error::NotFound {
                        what: "device",
                        id: a.device_id.clone(),
                    });
                }
                Ok(())
            }

            async fn delete_device(&self, device_id: &str) -> Result<()> {
                let done = sqlx::query("DELETE FROM devices WHERE device_id = $1")
                    .bind(device_id)
                    .execute(self.w())
                    .await;
                if let Some(c) = self.accounts() {
                    c.invalidate(device_id);
                }
                let done = done?;
                if done.rows_affected() == 0 {
                    return Err(Error::NotFound {
                        what: "device",
                        id: device_id.to_owned(),
                    });
                }
                Ok(())
            }

            async fn set_nonces(&self, device_id: &str, nonces: &NonceUpdate) -> Result<()> {
                let mut conn = self.w().acquire().await?;
                let done = write_nonces(&mut conn, device_id, nonces).await;
                if let Some(c) = self.accounts() {
                    c.invalidate(device_id);
                }
                done
            }

            async fn consume_client_nonce(
                &self,
                device_id: &str,
                expected: &[u8],
                next: &[u8],
            ) -> Result<bool> {
                self.consume_impl(device_id, expected, next).await
            }

            async fn list_devices(&self, f: &DeviceFilter) -> Result<Vec<DeviceView>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ",
                    device_cols!(),
                    ", ",
                    registry_cols!(),
                    ", ",
                    current_link_cols!(),
                    devices_joined!()
                ));
                push_device_filter(&mut qb, f);
                if let Some(after) = f.after.as_deref() {
                    qb.push(" AND d.device_id > ").push_bind(after);
                }
                qb.push(" ORDER BY d.device_id LIMIT ")
                    .push_bind(page_size(f.limit));
                let rows = qb.build().fetch_all(self.r()).await?;
                rows.iter().map(view_from_row).collect()
            }

            async fn count_devices(&self, f: &DeviceFilter) -> Result<u64> {
                let mut qb =
                    sqlx::QueryBuilder::<$db>::new(concat!("SELECT COUNT(*) AS n", devices_joined!()));
                push_device_filter(&mut qb, f);
                let row = qb.build().fetch_one(self.r()).await?;
                Ok(to_u64(row.try_get("n")?))
            }

            async fn update_registry(&self, device_id: &str, u: &RegistryUpdate) -> Result<()> {
                let mut conn = self.w().acquire().await?;
                write_registry(&mut conn, device_id, u).await
            }

            async fn get_registry(&self, device_id: &str) -> Result<Option<Registry>> {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    registry_cols!(),
                    " FROM registry r WHERE r.device_id = $1"
                ))
                .bind(device_id)
                .fetch_optional(self.r())
                .await?;
                match row {
                    Some(row) => registry_from_row(&row),
                    None => Ok(None),
                }
            }

            async fn put_tree_values(&self, device_id: &str, values: &[TreeValue]) -> Result<()> {
                let mut tx = self.w().begin().await?;
                write_tree(&mut tx, device_id, values).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_tree_value(&self, device_id: &str, path: &str) -> Result<Option<TreeValue>> {
                sqlx::query(
                    "SELECT path, format, mime_type, value, updated_at FROM tree_values \
                     WHERE device_id = $1 AND path = $2",
                )
                .bind(device_id)
                .bind(path)
                .fetch_optional(self.r())
                .await?
                .as_ref()
                .map(tree_from_row)
                .transpose()
            }

            async fn list_tree_values(&self, device_id: &str, prefix: &str) -> Result<Vec<TreeValue>> {
                let (exact, lo, hi) = subtree_range(prefix);
                let rows = sqlx::query(
                    "SELECT path, format, mime_type, value, updated_at FROM tree_values \
                     WHERE device_id = $1 AND (path = $2 OR (path >= $3 AND path < $4)) \
                     ORDER BY path",
                )
                .bind(device_id)
                .bind(exact)
                .bind(lo)
                .bind(hi)
                .fetch_all(self.r())
                .await?;
                rows.iter().map(tree_from_row).collect()
            }

            async fn delete_tree_values(&self, device_id: &str, prefix: &str) -> Result<u64> {
                let (exact, lo, hi) = subtree_range(prefix);
                let done = sqlx::query(
                    "DELETE FROM tree_values \
                     WHERE device_id = $1 AND (path = $2 OR (path >= $3 AND path < $4))",
                )
                .bind(device_id)
                .bind(exact)
                .bind(lo)
                .bind(hi)
                .execute(self.w())
                .await?;
                Ok(done.rows_affected())
            }

            async fn create_job(&self, job: &NewJob) -> Result<Job> {
                if job.commands.is_empty() {
                    return Err(Error::InvalidArgument("a job needs at least one command".into()));
                }
                for c in &job.commands {
                    c.validate()?;
                }
                let commands = json_text(&job.commands)?;
                let row = sqlx::query(concat!(
                    "INSERT INTO jobs (device_id, state, commands, attempts, created_at, \
                     updated_at) VALUES ($1, 'queued', $2, 0, $3, $3) RETURNING ",
                    job_cols!()
                ))
                .bind(&job.device_id)
                .bind(commands)
                .bind(job.created_at)
                .fetch_one(self.w())
                .await
                .map_err(|e| Error::on_write(e, "job", "", "device", &job.device_id))?;
                if let Some(h) = self.hint() {
                    h.queued(&job.device_id);
                }
                job_from_row(&row)
            }

            async fn get_job(&self, id: JobId) -> Result<Option<Job>> {
                let mut conn = self.r().acquire().await?;
                fetch_job(&mut conn, id).await
            }

            async fn list_jobs(&self, f: &JobFilter) -> Result<Vec<Job>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ",
                    job_cols!(),
                    " FROM jobs WHERE 1 = 1"
                ));
                if let Some(d) = f.device_id.as_deref() {
                    qb.push(" AND device_id = ").push_bind(d);
                }
                if let Some(s) = f.state {
                    qb.push(" AND state = ").push_bind(s.as_str());
                }
                if let Some(a) = f.after_id {
                    qb.push(" AND id > ").push_bind(a);
                }
                qb.push(" ORDER BY id LIMIT ").push_bind(page_size(f.limit));
                let mut conn = self.r().acquire().await?;
                let rows = qb.build().fetch_all(&mut *conn).await?;
                jobs_from_rows(&mut conn, &rows).await
            }

            async fn cancel_job(&self, id: JobId, now: UnixMillis) -> Result<Job> {
                let mut tx = self.w().begin().await?;
                let row = sqlx::query(concat!(
                    "UPDATE jobs SET state = 'cancelled', updated_at = $2, completed_at = $2 \
                     WHERE id = $1 AND state IN ('queued', 'sent') RETURNING ",
                    job_cols!()
                ))
                .bind(id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(job_state_error(&mut tx, id, "cancel").await);
                };
                let mut jobs = jobs_from_rows(&mut tx, std::slice::from_ref(&row)).await?;
                tx.commit().await?;
                jobs.pop().ok_or_else(|| corrupt("job", "vanished"))
            }

            async fn take_queued_jobs(
                &self,
                device_id: &str,
                session_id: &str,
                limit: u32,
                now: UnixMillis,
            ) -> Result<Vec<Job>> {
                if limit == 0 {
                    return Err(Error::InvalidArgument("limit must be at least 1".into()));
                }
                self.take_queued_impl(device_id, session_id, limit, now).await
            }

            async fn set_sent_ids(&self, id: JobId, msg_id: u32, cmd_ids: &[u32]) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE jobs SET sent_msg_id = $2, sent_cmd_ids = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(i64::from(msg_id))
                .bind(json_text(cmd_ids)?)
                .execute(self.w())
                .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::NotFound {
                        what: "job",
                        id: id.to_string(),
                    });
                }
                Ok(())
            }

            async fn requeue_unanswered(
                &self,
                scope: &RequeueScope,
                now: UnixMillis,
            ) -> Result<Vec<Job>> {
                let mut tx = self.w().begin().await?;
                let rows = match scope {
                    RequeueScope::SentBefore(t) => {
                        sqlx::query(concat!(
                            "UPDATE jobs SET state = 'queued', updated_at = $2 \
                             WHERE state = 'sent' AND sent_at <= $1 \
                             AND awaiting_since IS NULL RETURNING ",
                            job_cols!()
                        ))
                        .bind(*t)
                        .bind(now)
                        .fetch_all(&mut *tx)
                        .await?
                    }
                    RequeueScope::Session(s) => {
                        sqlx::query(concat!(
                            "UPDATE jobs SET state = 'queued', updated_at = $2 \
                             WHERE state = 'sent' AND sent_session = $1 \
                             AND awaiting_since IS NULL RETURNING ",
                            job_cols!()
                        ))
                        .bind(s.as_str())
                        .bind(now)
                        .fetch_all(&mut *tx)
                        .await?
                    }
                };
                let jobs = jobs_from_rows(&mut tx, &rows).await?;
                tx.commit().await?;
                if let Some(h) = self.hint() {
                    for j in &jobs {
                        h.queued(&j.device_id);
                    }
                }
                Ok(jobs)
            }

            async fn record_job_results(&self, results: &JobResults, now: UnixMillis) -> Result<()> {
                let mut tx = self.w().begin().await?;
                write_job_results(&mut tx, results, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn complete_job(&self, id: JobId, state: JobState, now: UnixMillis) -> Result<Job> {
                check_completion(state)?;
                let mut tx = self.w().begin().await?;
                let row = sqlx::query(concat!(
                    "UPDATE jobs SET state = $2, updated_at = $3, completed_at = $3 \
                     WHERE id = $1 AND state IN ('queued', 'sent') RETURNING ",
                    job_cols!()
                ))
                .bind(id)
                .bind(state.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(job_state_error(&mut tx, id, "complete").await);
                };
                let mut jobs = jobs_from_rows(&mut tx, std::slice::from_ref(&row)).await?;
                tx.commit().await?;
                jobs.pop().ok_or_else(|| corrupt("job", "vanished"))
            }

            async fn take_gateway_jobs(
                &self,
                gateway_id: &str,
                session_id: &str,
                limit: u32,
                now: UnixMillis,
            ) -> Result<Vec<Job>> {
                if limit == 0 {
                    return Err(Error::InvalidArgument("limit must be at least 1".into()));
                }
                take_with(self, $sql::TAKE_GATEWAY, gateway_id, session_id, limit, now).await
            }

            async fn current_link(&self, device_id: &str) -> Result<Option<DeviceLink>> {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    link_cols!(),
                    " FROM device_links WHERE device_id = $1 AND until IS NULL"
                ))
                .bind(device_id)
                .fetch_optional(self.r())
                .await?;
                match row {
                    Some(row) => link_from_row(&row, ""),
                    None => Ok(None),
                }
            }

            async fn list_links(&self, f: &LinkFilter) -> Result<Vec<DeviceLink>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ",
                    link_cols!(),
                    " FROM device_links WHERE 1 = 1"
                ));
                if let Some(d) = f.device_id.as_deref() {
                    qb.push(" AND device_id = ").push_bind(d);
                }
                if let Some(g) = f.gateway_id.as_deref() {
                    qb.push(" AND gateway_id = ").push_bind(g);
                }
                if f.current {
                    qb.push(" AND until IS NULL");
                }
                if let Some(a) = f.after_id {
                    qb.push(" AND id > ").push_bind(a);
                }
                qb.push(" ORDER BY id LIMIT ").push_bind(page_size(f.limit));
                let rows = qb.build().fetch_all(self.r()).await?;
                rows.iter()
                    .filter_map(|row| link_from_row(row, "").transpose())
                    .collect()
            }

            async fn link_counts(&self, gateway_id: &str) -> Result<LinkCounts> {
                let rows = sqlx::query(
                    "SELECT l.mode AS mode, l.attached AS attached, d.kind AS kind, \
                     COUNT(*) AS n FROM device_links l \
                     JOIN devices d ON d.device_id = l.device_id \
                     WHERE l.gateway_id = $1 AND l.until IS NULL \
                     GROUP BY l.mode, l.attached, d.kind",
                )
                .bind(gateway_id)
                .fetch_all(self.r())
                .await?;
                let mut c = LinkCounts::default();
                for row in &rows {
                    let n = to_u64(row.try_get("n")?);
                    c.total += n;
                    if row.try_get::<bool, _>("attached")? {
                        c.attached += n;
                    }
                    match LinkMode::parse(&row.try_get::<String, _>("mode")?)? {
                        LinkMode::Proxy => c.proxy += n,
                        LinkMode::Transparent => c.transparent += n,
                        LinkMode::Adaptation => c.adaptation += n,
                    }
                    if DeviceKind::parse(&row.try_get::<String, _>("kind")?)? == DeviceKind::Gateway
                    {
                        c.gateways += n;
                    }
                }
                Ok(c)
            }

            async fn apply_link_reports(
                &self,
                gateway_id: &str,
                reports: &[LinkReport],
                now: UnixMillis,
            ) -> Result<()> {
                let mut tx = self.w().begin().await?;
                if device_exists(&mut tx, gateway_id).await?.is_none() {
                    return Err(Error::NotFound {
                        what: "device",
                        id: gateway_id.to_owned(),
                    });
                }
                mark_gateway(&mut tx, gateway_id, now).await?;
                write_links(&mut tx, gateway_id, reports, now).await?;
                tx.commit().await?;
                if let Some(c) = self.accounts() {
                    c.invalidate(gateway_id);
                    for r in reports {
                        c.invalidate(&r.device_id);
                    }
                }
                Ok(())
            }

            async fn append_event(&self, e: &NewEvent) -> Result<EventId> {
                let row = sqlx::query(
                    "INSERT INTO events (device_id, at, alert_code, alert_type, format, mark, \
                     source_uri, correlator, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     RETURNING id",
                )
                .bind(&e.device_id)
                .bind(e.at)
                .bind(i64::from(e.alert_code))
                .bind(e.alert_type.as_deref())
                .bind(e.format.as_deref())
                .bind(e.mark.as_deref())
                .bind(e.source_uri.as_deref())
                .bind(e.correlator.as_deref())
                .bind(e.data.as_deref())
                .fetch_one(self.w())
                .await
                .map_err(|err| Error::on_write(err, "event", "", "device", &e.device_id))?;
                Ok(row.try_get("id")?)
            }

            async fn list_events(&self, f: &EventFilter) -> Result<Vec<Event>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ",
                    event_cols!(),
                    " FROM events WHERE 1 = 1"
                ));
                if let Some(d) = f.device_id.as_deref() {
                    qb.push(" AND device_id = ").push_bind(d);
                }
                if let Some(c) = f.alert_code {
                    qb.push(" AND alert_code = ").push_bind(i64::from(c));
                }
                if let Some(t) = f.alert_type.as_deref() {
                    qb.push(" AND alert_type = ").push_bind(t);
                }
                if let Some(s) = f.since {
                    qb.push(" AND at >= ").push_bind(s);
                }
                if let Some(a) = f.after_id {
                    qb.push(" AND id > ").push_bind(a);
                }
                qb.push(" ORDER BY id LIMIT ").push_bind(page_size(f.limit));
                let rows = qb.build().fetch_all(self.r()).await?;
                rows.iter().map(event_from_row).collect()
            }

            async fn record_session(&self, rec: &SessionRecord) -> Result<()> {
                check_record(rec)?;
                self.record_session_impl(rec).await
            }

            async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
                let row = sqlx::query("SELECT value FROM server_kv WHERE name = $1")
                    .bind(key)
                    .fetch_optional(self.r())
                    .await?;
                Ok(match row {
                    Some(row) => Some(row.try_get("value")?),
                    None => None,
                })
            }

            async fn put_kv(&self, key: &str, value: &[u8], now: UnixMillis) -> Result<()> {
                sqlx::query(
                    "INSERT INTO server_kv (name, value, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
                     updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(value)
                .bind(now)
                .execute(self.w())
                .await?;
                Ok(())
            }

            async fn put_group(&self, g: &GatewayGroup) -> Result<()> {
                let members = serde_json::to_string(&g.members)
                    .map_err(|e| corrupt("gateway_groups.members", e))?;
                sqlx::query(
                    "INSERT INTO gateway_groups (gateway_id, name, members, match_rule, job_id, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (gateway_id, name) DO UPDATE SET members = excluded.members, \
                     match_rule = excluded.match_rule, job_id = excluded.job_id, \
                     updated_at = excluded.updated_at",
                )
                .bind(&g.gateway_id)
                .bind(&g.name)
                .bind(members)
                .bind(g.match_rule.as_deref())
                .bind(g.job_id)
                .bind(g.updated_at)
                .execute(self.w())
                .await
                .map_err(|err| Error::on_write(err, "group", &g.name, "device", &g.gateway_id))?;
                Ok(())
            }

            async fn get_group(&self, gateway_id: &str, name: &str) -> Result<Option<GatewayGroup>> {
                let row = sqlx::query(
                    "SELECT gateway_id, name, members, match_rule, job_id, updated_at \
                     FROM gateway_groups WHERE gateway_id = $1 AND name = $2",
                )
                .bind(gateway_id)
                .bind(name)
                .fetch_optional(self.r())
                .await?;
                row.as_ref().map(group_from_row).transpose()
            }

            async fn list_groups(&self, gateway_id: &str) -> Result<Vec<GatewayGroup>> {
                let rows = sqlx::query(
                    "SELECT gateway_id, name, members, match_rule, job_id, updated_at \
                     FROM gateway_groups WHERE gateway_id = $1 ORDER BY name",
                )
                .bind(gateway_id)
                .fetch_all(self.r())
                .await?;
                rows.iter().map(group_from_row).collect()
            }

            async fn delete_group(&self, gateway_id: &str, name: &str) -> Result<bool> {
                let done = sqlx::query(
                    "DELETE FROM gateway_groups WHERE gateway_id = $1 AND name = $2",
                )
                .bind(gateway_id)
                .bind(name)
                .execute(self.w())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn create_fanout(&self, f: &NewFanout) -> Result<Fanout> {
                let row = sqlx::query(concat!(
                    "INSERT INTO fanouts (gateway_id, state, job_id, detail, created_at, \
                     updated_at, completed_at) VALUES ($1, 'queued', NULL, $2, $3, $3, NULL) \
                     RETURNING ",
                    fanout_cols!()
                ))
                .bind(&f.gateway_id)
                .bind(&f.detail)
                .bind(f.created_at)
                .fetch_one(self.w())
                .await
                .map_err(|err| Error::on_write(err, "fanout", "", "device", &f.gateway_id))?;
                fanout_from_row(&row)
            }

            async fn get_fanout(&self, id: FanoutId) -> Result<Option<Fanout>> {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    fanout_cols!(),
                    " FROM fanouts WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(self.r())
                .await?;
                row.as_ref().map(fanout_from_row).transpose()
            }

            async fn list_fanouts(&self, f: &FanoutFilter) -> Result<Vec<Fanout>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ",
                    fanout_cols!(),
                    " FROM fanouts WHERE 1 = 1"
                ));
                if let Some(g) = f.gateway_id.as_deref() {
                    qb.push(" AND gateway_id = ").push_bind(g);
                }
                if let Some(s) = f.state {
                    qb.push(" AND state = ").push_bind(s.as_str());
                }
                if let Some(a) = f.after_id {
                    qb.push(" AND id > ").push_bind(a);
                }
                qb.push(" ORDER BY id LIMIT ").push_bind(page_size(f.limit));
                let rows = qb.build().fetch_all(self.r()).await?;
                rows.iter().map(fanout_from_row).collect()
            }

            async fn update_fanout(&self, f: &Fanout) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE fanouts SET state = $2, job_id = $3, detail = $4, updated_at = $5, \
                     completed_at = $6 WHERE id = $1 \
                     AND state NOT IN ('done', 'failed', 'cancelled')",
                )
                .bind(f.id)
                .bind(f.state.as_str())
                .bind(f.job_id)
                .bind(&f.detail)
                .bind(f.updated_at)
                .bind(f.completed_at)
                .execute(self.w())
                .await?;
                if done.rows_affected() > 0 {
                    return Ok(true);
                }
                match self.get_fanout(f.id).await? {
                    Some(_) => Ok(false),
                    None => Err(Error::NotFound {
                        what: "fanout",
                        id: f.id.to_string(),
                    }),
                }
            }

            async fn counts(&self) -> Result<Counts> {
                let mut conn = self.r().acquire().await?;
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM devices) AS devices, \
                     (SELECT COUNT(*) FROM devices WHERE enabled) AS enabled, \
                     (SELECT COUNT(*) FROM events) AS events",
                )
                .fetch_one(&mut *conn)
                .await?;
                let mut c = Counts {
                    devices: to_u64(row.try_get("devices")?),
                    enabled_devices: to_u64(row.try_get("enabled")?),
                    events: to_u64(row.try_get("events")?),
                    ..Counts::default()
                };
                let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
                    .fetch_all(&mut *conn)
                    .await?;
                for row in &rows {
                    let n = to_u64(row.try_get("n")?);
                    match JobState::parse(&row.try_get::<String, _>("state")?)? {
                        JobState::Queued => c.jobs_queued = n,
                        JobState::Sent => c.jobs_sent = n,
                        JobState::Done => c.jobs_done = n,
                        JobState::Failed => c.jobs_failed = n,
                        JobState::Cancelled => c.jobs_cancelled = n,
                    }
                }
                Ok(c)
            }

            async fn close(&self) {
                self.close_pools().await;
            }
        }
    };
}
