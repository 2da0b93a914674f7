//! The store test-suite, written once and run against every backend (tests/sqlite.rs,
//! tests/postgres.rs). Each function gets a fresh, empty, migrated store.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashSet};

use dm_store::{
    AnyStore, AuthType, CommandKind, CommandResult, DeviceAccount, DeviceFilter, DeviceKind, Error,
    EventFilter, JobCommand, JobFilter, JobItem, JobResults, JobState, LinkFilter, LinkMode,
    LinkReport, NewEvent, NewJob, NonceUpdate, ProxiedValues, RegistryUpdate, RequeueScope,
    ResultItem, SessionRecord, Store, TreeValue, md5_verifier,
};

/// Generates one `#[tokio::test]` per suite function; `$open` yields `Option<Harness>`.
#[macro_export]
macro_rules! suite_tests {
    ($open:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(h) = $open(stringify!($name)).await else { return };
                suite::$name(&h.store).await;
                h.finish().await;
            }
        )*
    };
}

/// Expands the list of every suite function for `suite_tests!`.
#[macro_export]
macro_rules! all_suite_tests {
    ($open:path) => {
        $crate::suite_tests!($open;
            device_crud_and_conflicts,
            device_list_filters_and_pages,
            registry_updates,
            tree_values_by_prefix,
            job_life_cycle,
            job_take_is_exclusive_under_concurrency,
            requeue_by_session_and_time,
            record_session_writes_everything,
            record_session_is_all_or_nothing,
            concurrent_sessions_keep_their_own_outcome,
            events_filters_and_pages,
            kv_and_counts,
            delete_device_cascades,
            account_reads_follow_every_write,
            takes_of_many_devices_at_once_are_exclusive,
            job_queued_after_an_empty_take_is_found,
            client_nonce_is_consumed_once,
            result_error_round_trips,
            gwmo_di_004_gateway_reports_become_links_with_history,
            gwmo_pmode_001_proxy_jobs_taken_for_the_gateway_and_awaited,
            gwmo_group_001_groups_and_fanouts_round_trip,
        );
    };
}

pub const T0: i64 = 1_700_000_000_000;

pub fn account(id: &str, auth: &str) -> DeviceAccount {
    let mut a = DeviceAccount::new(id, auth, AuthType::Md5, "secret-pw", T0);
    a.server_auth = AuthType::Hmac;
    a.server_auth_name = Some("dm-server".into());
    a.server_secret = dm_store::Secret::new("srv-pw");
    a.client_nonce = vec![1, 2, 3, 0xff];
    a.server_nonce = vec![9, 8];
    a.notify_addrs = vec![
        "udp:127.0.0.1:2948".into(),
        "http://127.0.0.1:8081/n".into(),
    ];
    a
}

fn devinfo(man: &str, model: &str) -> BTreeMap<String, String> {
    [
        ("Man", man),
        ("Mod", model),
        ("DmV", "1.2"),
        ("Lang", "en-US"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn get_cmd(paths: &[&str]) -> JobCommand {
    JobCommand::on_paths(CommandKind::Get, paths.iter().copied())
}

fn new_job(device: &str, at: i64) -> NewJob {
    NewJob {
        device_id: device.into(),
        commands: vec![
            get_cmd(&["./DevDetail/SwV"]),
            JobCommand {
                kind: CommandKind::Replace,
                items: vec![JobItem {
                    path: "./Vendor/X".into(),
                    value: Some("42".into()),
                    format: Some("int".into()),
                    ..JobItem::default()
                }],
                children: vec![],
            },
        ],
        created_at: at,
    }
}

fn tv(path: &str, value: &[u8], at: i64) -> TreeValue {
    TreeValue {
        path: path.into(),
        format: Some("chr".into()),
        mime_type: Some("text/plain".into()),
        value: value.to_vec(),
        updated_at: at,
    }
}

pub async fn device_crud_and_conflicts(s: &AnyStore) {
    let a = account("IMEI:111", "dev111");
    s.create_device(&a).await.unwrap();
    let got = s.get_device("IMEI:111").await.unwrap().unwrap();
    assert_eq!(got, a);
    assert_eq!(got.client_verifier, md5_verifier("dev111", "secret-pw"));
    assert!(got.check_basic("dev111", "secret-pw"));
    // Secrets never show in Debug output.
    let dbg = format!("{got:?}");
    assert!(!dbg.contains("srv-pw") && !dbg.contains(got.client_verifier.expose()));

    assert_eq!(
        s.get_device_by_auth_name("dev111").await.unwrap().unwrap(),
        a
    );
    assert!(s.get_device("IMEI:nope").await.unwrap().is_none());
    assert!(s.get_device_by_auth_name("nope").await.unwrap().is_none());

    // Same device id, or same auth name: conflict.
    let e = s
        .create_device(&account("IMEI:111", "other"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    let e = s
        .create_device(&account("IMEI:222", "dev111"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    let e = s.create_device(&account("", "x")).await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");

    // Update every mutable field.
    s.create_device(&account("IMEI:222", "dev222"))
        .await
        .unwrap();
    let mut b = got.clone();
    b.auth_name = "dev111-new".into();
    b.client_auth = AuthType::Basic;
    b.client_verifier = md5_verifier("dev111-new", "pw2");
    b.server_auth = AuthType::None;
    b.server_auth_name = None;
    b.notify_addrs = vec!["http://127.0.0.1:9/x".into()];
    b.kind = DeviceKind::Gateway;
    b.enabled = false;
    b.updated_at = T0 + 5;
    s.update_device(&b).await.unwrap();
    assert_eq!(s.get_device("IMEI:111").await.unwrap().unwrap(), b);
    assert!(s.get_device_by_auth_name("dev111").await.unwrap().is_none());

    let mut c = b.clone();
    c.auth_name = "dev222".into();
    let e = s.update_device(&c).await.unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    let e = s
        .update_device(&account("IMEI:none", "zz"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");

    // Nonces alone.
    s.set_nonces(
        "IMEI:222",
        &NonceUpdate {
            client: Some(b"next-client".to_vec()),
            server: None,
        },
    )
    .await
    .unwrap();
    let d = s.get_device("IMEI:222").await.unwrap().unwrap();
    assert_eq!(d.client_nonce, b"next-client");
    assert_eq!(d.server_nonce, vec![9, 8]);
    assert_eq!(d.updated_at, T0);
    let e = s
        .set_nonces(
            "IMEI:none",
            &NonceUpdate {
                client: Some(vec![1]),
                server: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");

    s.delete_device("IMEI:222").await.unwrap();
    assert!(s.get_device("IMEI:222").await.unwrap().is_none());
    let e = s.delete_device("IMEI:222").await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

pub async fn device_list_filters_and_pages(s: &AnyStore) {
    // 30 devices: ids IMEI:00..29 plus 5 MAC: ones; maker A for even, B for odd.
    for i in 0..30 {
        let id = format!("IMEI:{i:02}");
        s.create_device(&account(&id, &format!("a{i}")))
            .await
            .unwrap();
        if i < 25 {
            let (man, model) = if i % 2 == 0 { ("A", "m1") } else { ("B", "m2") };
            s.update_registry(
                &id,
                &RegistryUpdate {
                    devinfo: Some(devinfo(man, model)),
                    last_contact: Some(T0 + i64::from(i) * 1000),
                    last_addr: Some("127.0.0.1:5000".into()),
                    last_session_id: Some("1".into()),
                },
            )
            .await
            .unwrap();
        }
    }
    for i in 0..5 {
        s.create_device(&account(&format!("MAC:{i}"), &format!("m{i}")))
            .await
            .unwrap();
    }
    // A sibling whose id shares the "IMEI" letters but not the "IMEI:" prefix.
    s.create_device(&account("IMEIX", "x")).await.unwrap();

    let all = DeviceFilter {
        limit: 1000,
        ..DeviceFilter::default()
    };
    assert_eq!(s.list_devices(&all).await.unwrap().len(), 36);
    assert_eq!(s.count_devices(&all).await.unwrap(), 36);

    let imei = DeviceFilter {
        id_prefix: Some("IMEI:".into()),
        limit: 1000,
        ..DeviceFilter::default()
    };
    let got = s.list_devices(&imei).await.unwrap();
    assert_eq!(got.len(), 30);
    assert!(got.iter().all(|v| v.account.device_id.starts_with("IMEI:")));
    assert!(
        got.windows(2)
            .all(|w| w[0].account.device_id < w[1].account.device_id)
    );
    assert_eq!(got[29].registry, None);
    let reg = got[3].registry.as_ref().unwrap();
    assert_eq!(reg.devinfo.get("Man").map(String::as_str), Some("B"));

    let a = DeviceFilter {
        manufacturer: Some("A".into()),
        ..DeviceFilter::default()
    };
    assert_eq!(s.count_devices(&a).await.unwrap(), 13);
    let m2 = DeviceFilter {
        model: Some("m2".into()),
        ..DeviceFilter::default()
    };
    assert_eq!(s.count_devices(&m2).await.unwrap(), 12);
    let recent = DeviceFilter {
        seen_since: Some(T0 + 20_000),
        ..DeviceFilter::default()
    };
    let ids: Vec<String> = s
        .list_devices(&recent)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.account.device_id)
        .collect();
    assert_eq!(ids, ["IMEI:20", "IMEI:21", "IMEI:22", "IMEI:23", "IMEI:24"]);

    // Keyset pages of 7 over the IMEI: devices cover all 30, without overlap.
    let mut seen = Vec::new();
    let mut page = DeviceFilter {
        id_prefix: Some("IMEI:".into()),
        limit: 7,
        ..DeviceFilter::default()
    };
    loop {
        let got = s.list_devices(&page).await.unwrap();
        if got.is_empty() {
            break;
        }
        assert!(got.len() <= 7);
        page.after = got.last().map(|v| v.account.device_id.clone());
        seen.extend(got.into_iter().map(|v| v.account.device_id));
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30);
}

pub async fn registry_updates(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    assert!(s.get_registry("IMEI:1").await.unwrap().is_none());
    s.update_registry(
        "IMEI:1",
        &RegistryUpdate {
            devinfo: Some(devinfo("Acme", "Rocket")),
            last_contact: Some(T0),
            last_addr: Some("127.0.0.1:1000".into()),
            last_session_id: Some("A1".into()),
        },
    )
    .await
    .unwrap();
    // `None` fields keep what is stored.
    s.update_registry(
        "IMEI:1",
        &RegistryUpdate {
            last_contact: Some(T0 + 1),
            ..RegistryUpdate::default()
        },
    )
    .await
    .unwrap();
    let r = s.get_registry("IMEI:1").await.unwrap().unwrap();
    assert_eq!(r.devinfo, devinfo("Acme", "Rocket"));
    assert_eq!(r.last_contact, Some(T0 + 1));
    assert_eq!(r.last_addr.as_deref(), Some("127.0.0.1:1000"));
    assert_eq!(r.last_session_id.as_deref(), Some("A1"));
    // A new DevInfo replaces the old one, and the manufacturer filter follows it.
    let mut di = devinfo("Other", "Rocket");
    di.insert("DevId".into(), "IMEI:1".into());
    s.update_registry(
        "IMEI:1",
        &RegistryUpdate {
            devinfo: Some(di.clone()),
            ..RegistryUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.get_registry("IMEI:1").await.unwrap().unwrap().devinfo, di);
    let acme = DeviceFilter {
        manufacturer: Some("Acme".into()),
        ..DeviceFilter::default()
    };
    assert_eq!(s.count_devices(&acme).await.unwrap(), 0);
    // No account: not found.
    let e = s
        .update_registry("IMEI:none", &RegistryUpdate::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { what: "device", .. }), "{e:?}");
}

pub async fn tree_values_by_prefix(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    s.create_device(&account("IMEI:2", "a2")).await.unwrap();
    let vals = vec![
        tv("./DevInfo/Man", b"Acme", T0),
        tv("./DevInfo/Mod", b"R1", T0),
        tv("./DevInfoX/Y", b"sibling", T0),
        tv("./DevInfo", b"", T0),
        tv("./DevDetail/SwV", &[0, 0xff, 0x10], T0),
        // Duplicate path in one batch: the later value wins.
        tv("./DevInfo/Man", b"Acme2", T0 + 1),
    ];
    s.put_tree_values("IMEI:1", &vals).await.unwrap();
    s.put_tree_values("IMEI:2", &[tv("./DevInfo/Man", b"Other", T0)])
        .await
        .unwrap();

    let man = s
        .get_tree_value("IMEI:1", "./DevInfo/Man")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(man.value, b"Acme2");
    assert_eq!(man.updated_at, T0 + 1);
    let bin = s
        .get_tree_value("IMEI:1", "./DevDetail/SwV")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bin.value, vec![0, 0xff, 0x10]);
    assert!(
        s.get_tree_value("IMEI:1", "./Nope")
            .await
            .unwrap()
            .is_none()
    );

    let paths = |v: Vec<TreeValue>| v.into_iter().map(|t| t.path).collect::<Vec<_>>();
    assert_eq!(
        paths(s.list_tree_values("IMEI:1", "./DevInfo").await.unwrap()),
        ["./DevInfo", "./DevInfo/Man", "./DevInfo/Mod"]
    );
    assert_eq!(
        paths(s.list_tree_values("IMEI:1", "./DevInfo/").await.unwrap()),
        ["./DevInfo", "./DevInfo/Man", "./DevInfo/Mod"]
    );
    assert_eq!(s.list_tree_values("IMEI:1", ".").await.unwrap().len(), 5);
    assert_eq!(s.list_tree_values("IMEI:1", "").await.unwrap().len(), 5);

    // Upsert replaces format/type/value.
    let mut upd = tv("./DevInfo/Mod", b"R2", T0 + 9);
    upd.format = Some("b64".into());
    upd.mime_type = None;
    s.put_tree_values("IMEI:1", std::slice::from_ref(&upd))
        .await
        .unwrap();
    assert_eq!(
        s.get_tree_value("IMEI:1", "./DevInfo/Mod")
            .await
            .unwrap()
            .unwrap(),
        upd
    );

    assert_eq!(
        s.delete_tree_values("IMEI:1", "./DevInfo").await.unwrap(),
        3
    );
    assert_eq!(
        paths(s.list_tree_values("IMEI:1", "").await.unwrap()),
        ["./DevDetail/SwV", "./DevInfoX/Y"]
    );
    // The other device is untouched.
    assert_eq!(s.list_tree_values("IMEI:2", ".").await.unwrap().len(), 1);
    let e = s
        .put_tree_values("IMEI:none", &[tv("./A", b"1", T0)])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

pub async fn job_life_cycle(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    s.create_device(&account("IMEI:2", "a2")).await.unwrap();

    // Rejected inputs.
    let e = s
        .create_job(&NewJob {
            device_id: "IMEI:1".into(),
            commands: vec![],
            created_at: T0,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = s.create_job(&new_job("IMEI:none", T0)).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { what: "device", .. }), "{e:?}");

    let j1 = s.create_job(&new_job("IMEI:1", T0)).await.unwrap();
    let j2 = s.create_job(&new_job("IMEI:1", T0 + 1)).await.unwrap();
    let j3 = s.create_job(&new_job("IMEI:2", T0 + 2)).await.unwrap();
    assert!(j1.id < j2.id && j2.id < j3.id);
    assert_eq!(j1.state, JobState::Queued);
    assert_eq!(j1.attempts, 0);
    assert_eq!(j1.sent, None);
    assert_eq!(j1.commands, new_job("IMEI:1", T0).commands);
    assert_eq!(s.get_job(j1.id).await.unwrap().unwrap(), j1);
    assert!(s.get_job(j3.id + 100).await.unwrap().is_none());

    let by_dev = JobFilter {
        device_id: Some("IMEI:1".into()),
        ..JobFilter::default()
    };
    assert_eq!(s.list_jobs(&by_dev).await.unwrap().len(), 2);

    // Take one, then the rest.
    let taken = s
        .take_queued_jobs("IMEI:1", "S1", 1, T0 + 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, j1.id);
    assert_eq!(taken[0].state, JobState::Sent);
    assert_eq!(taken[0].attempts, 1);
    let sent = taken[0].sent.clone().unwrap();
    assert_eq!((sent.session_id.as_str(), sent.at), ("S1", T0 + 10));
    let taken = s
        .take_queued_jobs("IMEI:1", "S1", 10, T0 + 11)
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [j2.id]);
    assert!(
        s.take_queued_jobs("IMEI:1", "S1", 10, T0 + 12)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.take_queued_jobs("IMEI:1", "S1", 0, T0).await.is_err());

    s.set_sent_ids(j1.id, 2, &[3, 4]).await.unwrap();
    let got = s.get_job(j1.id).await.unwrap().unwrap();
    let sent = got.sent.unwrap();
    assert_eq!((sent.msg_id, sent.cmd_ids), (Some(2), vec![3, 4]));
    assert!(matches!(
        s.set_sent_ids(j3.id + 100, 1, &[]).await.unwrap_err(),
        Error::NotFound { .. }
    ));

    let sent_filter = JobFilter {
        state: Some(JobState::Sent),
        ..JobFilter::default()
    };
    assert_eq!(s.list_jobs(&sent_filter).await.unwrap().len(), 2);

    // Results, then completion.
    let r0 = CommandResult {
        index: 0,
        cmd_id: Some(3),
        status: 200,
        items: vec![ResultItem {
            path: "./DevDetail/SwV".into(),
            format: Some("chr".into()),
            mime_type: None,
            data: b"1.0.3".to_vec(),
        }],
        completed_at: T0 + 20,
        error: None,
    };
    s.record_job_results(
        &JobResults {
            job_id: j1.id,
            results: vec![r0.clone()],
            complete: None,
        },
        T0 + 20,
    )
    .await
    .unwrap();
    let r1 = CommandResult {
        index: 1,
        cmd_id: Some(4),
        status: 405,
        items: vec![],
        completed_at: T0 + 21,
        error: None,
    };
    s.record_job_results(
        &JobResults {
            job_id: j1.id,
            results: vec![r1.clone()],
            complete: Some(JobState::Done),
        },
        T0 + 21,
    )
    .await
    .unwrap();
    let done = s.get_job(j1.id).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.completed_at, Some(T0 + 21));
    assert_eq!(done.results, vec![r0, r1]);
    let e = s.cancel_job(j1.id, T0 + 30).await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidState { ref state, .. } if state == "done"),
        "{e:?}"
    );
    let e = s
        .complete_job(j1.id, JobState::Failed, T0 + 30)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidState { .. }), "{e:?}");
    let e = s
        .record_job_results(
            &JobResults {
                job_id: j3.id + 100,
                results: vec![],
                complete: Some(JobState::Done),
            },
            T0,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { what: "job", .. }), "{e:?}");
    let e = s
        .record_job_results(
            &JobResults {
                job_id: j3.id + 100,
                results: vec![CommandResult::default()],
                complete: None,
            },
            T0,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { what: "job", .. }), "{e:?}");

    // Complete as failed; cancel a queued one.
    let failed = s
        .complete_job(j2.id, JobState::Failed, T0 + 40)
        .await
        .unwrap();
    assert_eq!(failed.state, JobState::Failed);
    let e = s.complete_job(j3.id, JobState::Sent, T0).await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let c = s.cancel_job(j3.id, T0 + 50).await.unwrap();
    assert_eq!(
        (c.state, c.completed_at),
        (JobState::Cancelled, Some(T0 + 50))
    );
    assert!(
        s.take_queued_jobs("IMEI:2", "S2", 10, T0 + 60)
            .await
            .unwrap()
            .is_empty()
    );
    let e = s.cancel_job(j3.id + 100, T0).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");

    let counts = s.counts().await.unwrap();
    assert_eq!(
        (
            counts.jobs_done,
            counts.jobs_failed,
            counts.jobs_cancelled,
            counts.jobs_queued
        ),
        (1, 1, 1, 0)
    );
}

pub async fn job_take_is_exclusive_under_concurrency(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    let mut ids = HashSet::new();
    for i in 0..40 {
        ids.insert(s.create_job(&new_job("IMEI:1", T0 + i)).await.unwrap().id);
    }
    let mut tasks = Vec::new();
    for t in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s
                    .take_queued_jobs("IMEI:1", &format!("S{t}"), 3, T0 + 100)
                    .await
                    .unwrap();
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|j| j.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), 40, "every job taken exactly once");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), ids);
}

pub async fn requeue_by_session_and_time(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    s.create_device(&account("IMEI:2", "a2")).await.unwrap();
    let a = s.create_job(&new_job("IMEI:1", T0)).await.unwrap();
    let b = s.create_job(&new_job("IMEI:2", T0)).await.unwrap();
    s.take_queued_jobs("IMEI:1", "SA", 10, T0 + 10)
        .await
        .unwrap();
    s.take_queued_jobs("IMEI:2", "SB", 10, T0 + 20)
        .await
        .unwrap();

    let back = s
        .requeue_unanswered(&RequeueScope::Session("SA".into()), T0 + 30)
        .await
        .unwrap();
    assert_eq!(back.iter().map(|j| j.id).collect::<Vec<_>>(), [a.id]);
    assert_eq!(back[0].state, JobState::Queued);
    assert_eq!(back[0].attempts, 1);
    // Sent before T0+15: only b is sent now and it went out at T0+20.
    assert!(
        s.requeue_unanswered(&RequeueScope::SentBefore(T0 + 15), T0 + 31)
            .await
            .unwrap()
            .is_empty()
    );
    let back = s
        .requeue_unanswered(&RequeueScope::SentBefore(T0 + 20), T0 + 32)
        .await
        .unwrap();
    assert_eq!(back.iter().map(|j| j.id).collect::<Vec<_>>(), [b.id]);
    // Taken again: a second attempt.
    let again = s
        .take_queued_jobs("IMEI:1", "SC", 10, T0 + 40)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].sent.as_ref().unwrap().session_id, "SC");
}

fn session_record(device: &str, job_id: i64) -> SessionRecord {
    SessionRecord {
        device_id: device.into(),
        at: T0 + 100,
        registry: RegistryUpdate {
            devinfo: Some(devinfo("Acme", "R1")),
            last_contact: Some(T0 + 100),
            last_addr: Some("127.0.0.1:4000".into()),
            last_session_id: Some("S9".into()),
        },
        nonces: NonceUpdate {
            client: Some(b"cn2".to_vec()),
            server: Some(b"sn2".to_vec()),
        },
        tree_values: vec![
            tv("./DevDetail/SwV", b"2.0", T0 + 100),
            tv("./DevDetail/HwV", b"B", T0 + 100),
        ],
        job_results: vec![JobResults {
            job_id,
            results: vec![CommandResult {
                index: 0,
                cmd_id: Some(2),
                status: 200,
                items: vec![ResultItem {
                    path: "./DevDetail/SwV".into(),
                    data: b"2.0".to_vec(),
                    ..ResultItem::default()
                }],
                completed_at: T0 + 100,
                error: None,
            }],
            complete: Some(JobState::Done),
        }],
        events: vec![NewEvent {
            device_id: device.into(),
            at: T0 + 100,
            alert_code: 1226,
            alert_type: Some("urn:oma:at:gwmo:1.0:deviceattached".into()),
            format: Some("chr".into()),
            mark: Some("informational".into()),
            source_uri: Some("./GwMO/Inventory/1".into()),
            correlator: Some("c1".into()),
            data: Some("ok".into()),
        }],
        ..SessionRecord::default()
    }
}

pub async fn record_session_writes_everything(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    let job = s.create_job(&new_job("IMEI:1", T0)).await.unwrap();
    s.take_queued_jobs("IMEI:1", "S9", 10, T0 + 50)
        .await
        .unwrap();
    let rec = session_record("IMEI:1", job.id);
    s.record_session(&rec).await.unwrap();

    let reg = s.get_registry("IMEI:1").await.unwrap().unwrap();
    assert_eq!(reg.devinfo, devinfo("Acme", "R1"));
    assert_eq!(reg.last_session_id.as_deref(), Some("S9"));
    let dev = s.get_device("IMEI:1").await.unwrap().unwrap();
    assert_eq!(
        (dev.client_nonce.as_slice(), dev.server_nonce.as_slice()),
        (&b"cn2"[..], &b"sn2"[..])
    );
    assert_eq!(
        s.list_tree_values("IMEI:1", "./DevDetail")
            .await
            .unwrap()
            .len(),
        2
    );
    let j = s.get_job(job.id).await.unwrap().unwrap();
    assert_eq!(j.state, JobState::Done);
    assert_eq!(j.completed_at, Some(T0 + 100));
    assert_eq!(j.results, rec.job_results[0].results);
    let ev = s.list_events(&EventFilter::default()).await.unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].event, rec.events[0]);

    // A session on a job that is already done keeps its state but stores the results.
    let mut again = session_record("IMEI:1", job.id);
    again.job_results[0].complete = Some(JobState::Failed);
    again.job_results[0].results[0].status = 500;
    s.record_session(&again).await.unwrap();
    let j = s.get_job(job.id).await.unwrap().unwrap();
    assert_eq!(j.state, JobState::Done);
    assert_eq!(j.results[0].status, 500);
}

pub async fn record_session_is_all_or_nothing(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    // The job does not exist: nothing of the session may be stored.
    let rec = session_record("IMEI:1", 987_654);
    let e = s.record_session(&rec).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { what: "job", .. }), "{e:?}");
    assert!(s.get_registry("IMEI:1").await.unwrap().is_none());
    assert!(s.list_tree_values("IMEI:1", "").await.unwrap().is_empty());
    assert!(
        s.list_events(&EventFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let dev = s.get_device("IMEI:1").await.unwrap().unwrap();
    assert_eq!(dev.client_nonce, vec![1, 2, 3, 0xff]);

    // Unknown device: not found.
    let job = s.create_job(&new_job("IMEI:1", T0)).await.unwrap();
    let e = s
        .record_session(&session_record("IMEI:none", job.id))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { what: "device", .. }), "{e:?}");
    // Bad completion state: rejected before writing.
    let mut bad = session_record("IMEI:1", job.id);
    bad.job_results[0].complete = Some(JobState::Queued);
    assert!(matches!(
        s.record_session(&bad).await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert_eq!(
        s.get_job(job.id).await.unwrap().unwrap().state,
        JobState::Queued
    );
}

/// Many sessions at once (on SQLite they share group-committed transactions): each caller gets
/// its own outcome, a bad record does not spoil the others, and repeated sessions of one device
/// end as if written in order.
pub async fn concurrent_sessions_keep_their_own_outcome(s: &AnyStore) {
    let n = 40;
    let mut jobs = Vec::new();
    for i in 0..n {
        let dev = format!("IMEI:{i:02}");
        s.create_device(&account(&dev, &format!("a{i}")))
            .await
            .unwrap();
        let j = s.create_job(&new_job(&dev, T0)).await.unwrap();
        s.take_queued_jobs(&dev, "S", 10, T0 + 1).await.unwrap();
        jobs.push(j.id);
    }
    let mut tasks = Vec::new();
    for i in 0..n {
        let st = s.clone();
        let dev = format!("IMEI:{i:02}");
        // Every 7th record names a job that does not exist.
        let job = if i % 7 == 3 { 999_999 } else { jobs[i] };
        tasks.push(tokio::spawn(async move {
            let mut rec = session_record(&dev, job);
            for e in &mut rec.events {
                e.device_id = dev.clone();
            }
            st.record_session(&rec).await
        }));
        // A second, later session of device 0 in the same burst: newer nonce, same job.
        if i == 0 {
            let st = s.clone();
            let job = jobs[0];
            tasks.push(tokio::spawn(async move {
                let mut rec = session_record("IMEI:00", job);
                rec.registry.devinfo = None;
                rec.nonces.client = Some(b"cn3".to_vec());
                rec.nonces.server = None;
                rec.events.clear();
                rec.tree_values.clear();
                rec.job_results[0].results[0].status = 200;
                st.record_session(&rec).await
            }));
        }
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    assert_eq!(failed, (0..n).filter(|i| i % 7 == 3).count());
    for (i, &job_id) in jobs.iter().enumerate() {
        let dev = format!("IMEI:{i:02}");
        let job = s.get_job(job_id).await.unwrap().unwrap();
        let reg = s.get_registry(&dev).await.unwrap();
        let trees = s.list_tree_values(&dev, "").await.unwrap();
        if i % 7 == 3 {
            assert_eq!(job.state, JobState::Sent, "{dev}");
            assert!(reg.is_none() && trees.is_empty(), "{dev}");
        } else {
            assert_eq!(job.state, JobState::Done, "{dev}");
            assert_eq!(reg.unwrap().devinfo, devinfo("Acme", "R1"), "{dev}");
            assert_eq!(trees.len(), 2, "{dev}");
        }
    }
    let d0 = s.get_device("IMEI:00").await.unwrap().unwrap();
    // Either order of the two device-0 sessions is a valid serialisation; the server nonce
    // comes only from the first record.
    assert!(d0.client_nonce == b"cn3" || d0.client_nonce == b"cn2");
    assert_eq!(d0.server_nonce, b"sn2");
    let ok_devices = (0..n).filter(|i| i % 7 != 3).count();
    assert_eq!(
        s.list_events(&EventFilter {
            limit: 1000,
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .len(),
        ok_devices
    );
}

pub async fn events_filters_and_pages(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    s.create_device(&account("IMEI:2", "a2")).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..12_i64 {
        let dev = if i % 3 == 0 { "IMEI:2" } else { "IMEI:1" };
        let code = if i % 2 == 0 { 1226 } else { 1224 };
        ids.push(
            s.append_event(&NewEvent {
                device_id: dev.into(),
                at: T0 + i,
                alert_code: code,
                alert_type: (code == 1226).then(|| format!("type{}", i % 4)),
                data: Some(format!("d{i}")),
                ..NewEvent::default()
            })
            .await
            .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let e = s
        .append_event(&NewEvent {
            device_id: "IMEI:none".into(),
            alert_code: 1226,
            ..NewEvent::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");

    let f = |f: EventFilter| async move { s.list_events(&f).await.unwrap() };
    assert_eq!(
        f(EventFilter {
            device_id: Some("IMEI:2".into()),
            ..EventFilter::default()
        })
        .await
        .len(),
        4
    );
    assert_eq!(
        f(EventFilter {
            alert_code: Some(1226),
            ..EventFilter::default()
        })
        .await
        .len(),
        6
    );
    assert_eq!(
        f(EventFilter {
            alert_type: Some("type0".into()),
            ..EventFilter::default()
        })
        .await
        .len(),
        3
    );
    let since = f(EventFilter {
        since: Some(T0 + 10),
        ..EventFilter::default()
    })
    .await;
    assert_eq!(
        since
            .iter()
            .map(|e| e.event.data.clone().unwrap())
            .collect::<Vec<_>>(),
        ["d10", "d11"]
    );
    let page = f(EventFilter {
        after_id: Some(ids[4]),
        limit: 3,
        ..EventFilter::default()
    })
    .await;
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids[5..8].to_vec()
    );
}

pub async fn kv_and_counts(s: &AnyStore) {
    assert!(s.get_kv("nonce-seed").await.unwrap().is_none());
    s.put_kv("nonce-seed", &[1, 2, 3], T0).await.unwrap();
    s.put_kv("nonce-seed", &[4, 5], T0 + 1).await.unwrap();
    assert_eq!(s.get_kv("nonce-seed").await.unwrap().unwrap(), vec![4, 5]);

    assert_eq!(s.counts().await.unwrap(), dm_store::Counts::default());
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    let mut off = account("IMEI:2", "a2");
    off.enabled = false;
    s.create_device(&off).await.unwrap();
    s.create_job(&new_job("IMEI:1", T0)).await.unwrap();
    s.create_job(&new_job("IMEI:1", T0)).await.unwrap();
    s.take_queued_jobs("IMEI:1", "S", 1, T0).await.unwrap();
    s.append_event(&NewEvent {
        device_id: "IMEI:1".into(),
        alert_code: 1226,
        ..NewEvent::default()
    })
    .await
    .unwrap();
    let c = s.counts().await.unwrap();
    assert_eq!(
        c,
        dm_store::Counts {
            devices: 2,
            enabled_devices: 1,
            jobs_queued: 1,
            jobs_sent: 1,
            events: 1,
            ..dm_store::Counts::default()
        }
    );
}

pub async fn delete_device_cascades(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    let job = s.create_job(&new_job("IMEI:1", T0)).await.unwrap();
    s.take_queued_jobs("IMEI:1", "S9", 10, T0 + 50)
        .await
        .unwrap();
    s.record_session(&session_record("IMEI:1", job.id))
        .await
        .unwrap();
    s.delete_device("IMEI:1").await.unwrap();
    assert!(s.get_registry("IMEI:1").await.unwrap().is_none());
    assert!(s.get_job(job.id).await.unwrap().is_none());
    assert!(s.list_tree_values("IMEI:1", "").await.unwrap().is_empty());
    assert!(
        s.list_events(&EventFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.counts().await.unwrap(), dm_store::Counts::default());
    // The auth name is free again.
    s.create_device(&account("IMEI:9", "a1")).await.unwrap();
}

/// The account a session looks up always reflects the last write (SQLite caches accounts in
/// memory; the cache must follow record_session nonces, updates, nonce writes and deletes).
pub async fn account_reads_follow_every_write(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    let job = s.create_job(&new_job("IMEI:1", T0)).await.unwrap();
    // Fill whatever cache there is, by both keys.
    assert_eq!(
        s.get_device_by_auth_name("a1")
            .await
            .unwrap()
            .unwrap()
            .client_nonce,
        vec![1, 2, 3, 0xff]
    );
    assert!(s.get_device("IMEI:1").await.unwrap().is_some());
    // A session stores new nonces.
    s.record_session(&session_record("IMEI:1", job.id))
        .await
        .unwrap();
    let a = s.get_device_by_auth_name("a1").await.unwrap().unwrap();
    assert_eq!(
        (a.client_nonce.as_slice(), a.server_nonce.as_slice()),
        (&b"cn2"[..], &b"sn2"[..])
    );
    assert_eq!(
        s.get_device("IMEI:1").await.unwrap().unwrap().client_nonce,
        b"cn2"
    );
    // An explicit nonce write.
    s.set_nonces(
        "IMEI:1",
        &NonceUpdate {
            client: Some(b"cn3".to_vec()),
            server: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_device_by_auth_name("a1")
            .await
            .unwrap()
            .unwrap()
            .client_nonce,
        b"cn3"
    );
    // An update that renames the account and changes its secret.
    let mut updated = s.get_device("IMEI:1").await.unwrap().unwrap();
    updated.auth_name = "a1-new".into();
    updated.client_verifier = md5_verifier("a1-new", "other-pw");
    updated.enabled = false;
    updated.updated_at = T0 + 200;
    s.update_device(&updated).await.unwrap();
    assert!(s.get_device_by_auth_name("a1").await.unwrap().is_none());
    let a = s.get_device_by_auth_name("a1-new").await.unwrap().unwrap();
    assert_eq!(
        a.client_verifier.expose(),
        md5_verifier("a1-new", "other-pw").expose()
    );
    assert!(!a.enabled);
    assert!(!s.get_device("IMEI:1").await.unwrap().unwrap().enabled);
    // Delete, then a new account under the old name.
    s.delete_device("IMEI:1").await.unwrap();
    assert!(s.get_device("IMEI:1").await.unwrap().is_none());
    assert!(s.get_device_by_auth_name("a1-new").await.unwrap().is_none());
    let mut again = account("IMEI:1", "a1");
    again.client_nonce = b"fresh".to_vec();
    s.create_device(&again).await.unwrap();
    assert_eq!(
        s.get_device_by_auth_name("a1")
            .await
            .unwrap()
            .unwrap()
            .client_nonce,
        b"fresh"
    );
}

/// Many sessions taking jobs at the same time, some devices twice: every job goes out once,
/// oldest first, never more than the limit per take (SQLite batches these takes).
pub async fn takes_of_many_devices_at_once_are_exclusive(s: &AnyStore) {
    let devices = 24;
    let mut all_ids = HashSet::new();
    for d in 0..devices {
        let dev = format!("IMEI:{d:02}");
        s.create_device(&account(&dev, &format!("a{d}")))
            .await
            .unwrap();
        for k in 0..3 {
            all_ids.insert(s.create_job(&new_job(&dev, T0 + k)).await.unwrap().id);
        }
    }
    let mut tasks = Vec::new();
    for d in 0..devices {
        for attempt in 0..2 {
            let st = s.clone();
            let dev = format!("IMEI:{d:02}");
            tasks.push(tokio::spawn(async move {
                let got = st
                    .take_queued_jobs(&dev, &format!("S{d}-{attempt}"), 2, T0 + 50)
                    .await
                    .unwrap();
                (d, dev, attempt, got)
            }));
        }
    }
    let mut taken = Vec::new();
    for t in tasks {
        let (d, dev, attempt, got) = t.await.unwrap();
        assert!(got.len() <= 2, "{dev}: limit respected");
        for j in &got {
            assert_eq!(j.device_id, dev);
            assert_eq!(j.state, JobState::Sent);
            assert_eq!(j.attempts, 1);
            assert_eq!(
                j.sent.as_ref().unwrap().session_id,
                format!("S{d}-{attempt}")
            );
        }
        assert!(
            got.windows(2).all(|w| w[0].id < w[1].id),
            "{dev}: oldest first"
        );
        taken.extend(got.into_iter().map(|j| j.id));
    }
    assert_eq!(taken.len(), all_ids.len(), "every job taken exactly once");
    assert_eq!(taken.into_iter().collect::<HashSet<_>>(), all_ids);
    let c = s.counts().await.unwrap();
    assert_eq!((c.jobs_queued, c.jobs_sent), (0, all_ids.len() as u64));
}

/// A device found with nothing queued gets the jobs queued (or re-queued) later.
pub async fn job_queued_after_an_empty_take_is_found(s: &AnyStore) {
    s.create_device(&account("IMEI:1", "a1")).await.unwrap();
    assert!(
        s.take_queued_jobs("IMEI:1", "S1", 4, T0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.take_queued_jobs("IMEI:1", "S2", 4, T0)
            .await
            .unwrap()
            .is_empty()
    );
    let job = s.create_job(&new_job("IMEI:1", T0 + 1)).await.unwrap();
    let got = s.take_queued_jobs("IMEI:1", "S3", 4, T0 + 2).await.unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job.id]);
    assert!(
        s.take_queued_jobs("IMEI:1", "S4", 4, T0 + 3)
            .await
            .unwrap()
            .is_empty()
    );
    // Unanswered: back in the queue, found again, results of the first attempt kept.
    s.record_job_results(
        &JobResults {
            job_id: job.id,
            results: vec![CommandResult {
                index: 0,
                cmd_id: Some(3),
                status: 200,
                items: vec![],
                completed_at: T0 + 3,
                error: None,
            }],
            complete: None,
        },
        T0 + 3,
    )
    .await
    .unwrap();
    let requeued = s
        .requeue_unanswered(&RequeueScope::Session("S3".into()), T0 + 4)
        .await
        .unwrap();
    assert_eq!(requeued.len(), 1);
    let got = s.take_queued_jobs("IMEI:1", "S5", 4, T0 + 5).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attempts, 2);
    assert_eq!(
        got[0].results.len(),
        1,
        "results of the first attempt come along"
    );
}

/// Issue 6 item 10a: a nonce authenticates one session once. The compare-and-set succeeds
/// for the stored nonce only, once, also for concurrent callers; reads (cached or not) follow.
pub async fn client_nonce_is_consumed_once(s: &AnyStore) {
    let mut a = account("IMEI:N", "nonce-dev");
    a.client_nonce = b"n1".to_vec();
    s.create_device(&a).await.unwrap();
    assert_eq!(
        s.get_device("IMEI:N").await.unwrap().unwrap().client_nonce,
        b"n1"
    );
    assert!(
        !s.consume_client_nonce("IMEI:N", b"other", b"n2")
            .await
            .unwrap()
    );
    assert!(
        !s.consume_client_nonce("IMEI:none", b"n1", b"n2")
            .await
            .unwrap()
    );
    assert!(
        s.consume_client_nonce("IMEI:N", b"n1", b"n2")
            .await
            .unwrap()
    );
    assert!(
        !s.consume_client_nonce("IMEI:N", b"n1", b"n3")
            .await
            .unwrap(),
        "spent"
    );
    assert_eq!(
        s.get_device("IMEI:N").await.unwrap().unwrap().client_nonce,
        b"n2"
    );
    assert_eq!(
        s.get_device_by_auth_name("nonce-dev")
            .await
            .unwrap()
            .unwrap()
            .client_nonce,
        b"n2"
    );
    // Racing consumers of the same nonce: exactly one wins.
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.consume_client_nonce("IMEI:N", b"n2", &[b'x', i]).await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    let stored = s.get_device("IMEI:N").await.unwrap().unwrap().client_nonce;
    assert_eq!(stored.first(), Some(&b'x'));
}

/// A command result's `error` (why it has no status) is stored and read back, through both
/// write paths (job results and session records).
pub async fn result_error_round_trips(s: &AnyStore) {
    s.create_device(&account("IMEI:E", "err-dev"))
        .await
        .unwrap();
    let job = s
        .create_job(&NewJob {
            device_id: "IMEI:E".into(),
            commands: vec![
                JobCommand::on_paths(CommandKind::Get, ["./A"]),
                JobCommand::on_paths(CommandKind::Get, ["./B"]),
            ],
            created_at: T0,
        })
        .await
        .unwrap();
    let none = |index| CommandResult {
        index,
        status: 0,
        completed_at: T0 + 5,
        error: Some(dm_store::NO_STATUS.into()),
        ..CommandResult::default()
    };
    s.record_job_results(
        &JobResults {
            job_id: job.id,
            results: vec![none(0)],
            complete: None,
        },
        T0 + 5,
    )
    .await
    .unwrap();
    s.record_session(&SessionRecord {
        device_id: "IMEI:E".into(),
        at: T0 + 6,
        job_results: vec![JobResults {
            job_id: job.id,
            results: vec![none(1)],
            complete: Some(JobState::Failed),
        }],
        ..SessionRecord::default()
    })
    .await
    .unwrap();
    let j = s.get_job(job.id).await.unwrap().unwrap();
    assert_eq!(j.state, JobState::Failed);
    assert_eq!(j.updated_at, T0 + 6);
    assert_eq!(j.completed_at, Some(T0 + 6));
    assert_eq!(j.results.len(), 2);
    for r in &j.results {
        assert_eq!(r.error.as_deref(), Some(dm_store::NO_STATUS));
        assert_eq!(r.status, 0);
    }
}

fn report(id: &str, mode: LinkMode, attached: bool) -> LinkReport {
    LinkReport {
        device_id: id.into(),
        kind: DeviceKind::Device,
        mode,
        attached,
        addresses: vec!["udp:10.0.0.7:2948".into()],
        devinfo: BTreeMap::new(),
    }
}

/// Seed 001 X.3 / GwMO-DI-003/004: a gateway's attach and detach reports are stored as the
/// <gateway, device, mode> relationship with its history; unknown devices get registry-only
/// entries; a gateway behind a gateway is a link like any other.
pub async fn gwmo_di_004_gateway_reports_become_links_with_history(s: &AnyStore) {
    for (id, auth) in [("GW:1", "g1"), ("GW:2", "g2"), ("IMEI:1", "d1")] {
        s.create_device(&account(id, auth)).await.unwrap();
    }
    s.update_registry(
        "IMEI:1",
        &RegistryUpdate {
            devinfo: Some(devinfo("Own", "Self")),
            ..RegistryUpdate::default()
        },
    )
    .await
    .unwrap();
    let mut unknown = report("IMEI:9", LinkMode::Transparent, true);
    unknown.devinfo = devinfo("Acme", "T9");
    let mut child = report("GW:CHILD", LinkMode::Proxy, true);
    child.kind = DeviceKind::Gateway;
    let mut known = report("IMEI:1", LinkMode::Proxy, true);
    known.devinfo = devinfo("Reported", "Other");
    s.apply_link_reports("GW:1", &[known, unknown, child], T0 + 10)
        .await
        .unwrap();
    assert_eq!(
        s.get_device("GW:1").await.unwrap().unwrap().kind,
        DeviceKind::Gateway
    );
    // The registry-only entry: no credentials, disabled, DevInfo from the report.
    let nine = s.get_device("IMEI:9").await.unwrap().unwrap();
    assert!(nine.is_registry_only() && !nine.enabled);
    assert_eq!(nine.kind, DeviceKind::Device);
    let reg = s.get_registry("IMEI:9").await.unwrap().unwrap();
    assert_eq!(reg.devinfo.get("Mod").map(String::as_str), Some("T9"));
    // A device with DevInfo of its own sessions keeps it.
    let reg = s.get_registry("IMEI:1").await.unwrap().unwrap();
    assert_eq!(reg.devinfo.get("Man").map(String::as_str), Some("Own"));
    assert_eq!(
        s.get_device("GW:CHILD").await.unwrap().unwrap().kind,
        DeviceKind::Gateway
    );
    let first = s.current_link("IMEI:1").await.unwrap().unwrap();
    assert_eq!(
        (
            first.gateway_id.as_str(),
            first.mode,
            first.attached,
            first.since,
            first.until
        ),
        ("GW:1", LinkMode::Proxy, true, T0 + 10, None)
    );
    assert_eq!(first.addresses, ["udp:10.0.0.7:2948"]);

    // Detach and re-attach: the same row, attached flips.
    s.apply_link_reports("GW:1", &[report("IMEI:1", LinkMode::Proxy, false)], T0 + 20)
        .await
        .unwrap();
    let l = s.current_link("IMEI:1").await.unwrap().unwrap();
    assert_eq!((l.id, l.attached, l.updated_at), (first.id, false, T0 + 20));
    s.apply_link_reports("GW:1", &[report("IMEI:1", LinkMode::Proxy, true)], T0 + 30)
        .await
        .unwrap();
    assert!(s.current_link("IMEI:1").await.unwrap().unwrap().attached);

    // Reported by another gateway: the old link closes, a new one opens.
    s.apply_link_reports(
        "GW:2",
        &[report("IMEI:1", LinkMode::Transparent, true)],
        T0 + 40,
    )
    .await
    .unwrap();
    // A late detach from the old gateway changes nothing.
    s.apply_link_reports("GW:1", &[report("IMEI:1", LinkMode::Proxy, false)], T0 + 50)
        .await
        .unwrap();
    let now = s.current_link("IMEI:1").await.unwrap().unwrap();
    assert_eq!(
        (now.gateway_id.as_str(), now.mode, now.attached),
        ("GW:2", LinkMode::Transparent, true)
    );
    let history = s
        .list_links(&LinkFilter {
            device_id: Some("IMEI:1".into()),
            ..LinkFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[0].id, history[0].until), (first.id, Some(T0 + 40)));
    assert_eq!(history[1].until, None);
    // A mode change on the same gateway is history too.
    s.apply_link_reports("GW:2", &[report("IMEI:1", LinkMode::Proxy, true)], T0 + 60)
        .await
        .unwrap();
    let modes: Vec<LinkMode> = s
        .list_links(&LinkFilter {
            device_id: Some("IMEI:1".into()),
            ..LinkFilter::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|l| l.mode)
        .collect();
    assert_eq!(
        modes,
        [LinkMode::Proxy, LinkMode::Transparent, LinkMode::Proxy]
    );

    // Device views carry the current link; filters by gateway and kind.
    let behind = s
        .list_devices(&DeviceFilter {
            gateway_id: Some("GW:1".into()),
            ..DeviceFilter::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = behind
        .iter()
        .map(|v| v.account.device_id.as_str())
        .collect();
    assert_eq!(ids, ["GW:CHILD", "IMEI:9"]);
    assert_eq!(
        behind[1].link.as_ref().map(|l| l.mode),
        Some(LinkMode::Transparent)
    );
    let gateways = DeviceFilter {
        kind: Some(DeviceKind::Gateway),
        ..DeviceFilter::default()
    };
    assert_eq!(s.count_devices(&gateways).await.unwrap(), 3);
    let counts = s.link_counts("GW:1").await.unwrap();
    assert_eq!(
        (
            counts.total,
            counts.attached,
            counts.proxy,
            counts.transparent,
            counts.gateways
        ),
        (2, 2, 1, 1, 1)
    );
    assert_eq!(
        s.list_links(&LinkFilter {
            gateway_id: Some("GW:1".into()),
            current: true,
            ..LinkFilter::default()
        })
        .await
        .unwrap()
        .len(),
        2
    );

    // An account for a registry-only device takes its place (the link stays); a real
    // account's id still conflicts; reserved auth names are refused.
    let mut upgrade = account("IMEI:9", "d9");
    upgrade.updated_at = T0 + 70;
    s.create_device(&upgrade).await.unwrap();
    let nine = s.get_device("IMEI:9").await.unwrap().unwrap();
    assert!(!nine.is_registry_only() && nine.enabled);
    assert_eq!(nine.auth_name, "d9");
    assert!(s.current_link("IMEI:9").await.unwrap().is_some());
    let e = s
        .create_device(&account("IMEI:9", "d9b"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    let e = s
        .create_device(&account("IMEI:77", "registry-only:IMEI:77"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = s
        .apply_link_reports("GW:none", &[report("X", LinkMode::Proxy, true)], T0)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");

    // Deleting a gateway removes its links.
    s.delete_device("GW:2").await.unwrap();
    assert!(s.current_link("IMEI:1").await.unwrap().is_none());
}

/// GwMO-PMode-001, seed 001 Y/Y': jobs of Proxy-mode devices are taken for their gateway's
/// session (stored under the End Device), may wait for the gateway's completion alert without
/// being re-queued, and their results and tree values land under the End Device.
pub async fn gwmo_pmode_001_proxy_jobs_taken_for_the_gateway_and_awaited(s: &AnyStore) {
    for (id, auth) in [("GW:1", "g1"), ("GW:2", "g2"), ("D:direct", "dd")] {
        s.create_device(&account(id, auth)).await.unwrap();
    }
    s.apply_link_reports(
        "GW:1",
        &[
            report("D:proxy", LinkMode::Proxy, true),
            report("D:transp", LinkMode::Transparent, true),
        ],
        T0,
    )
    .await
    .unwrap();
    let j1 = s.create_job(&new_job("D:proxy", T0)).await.unwrap();
    let j2 = s.create_job(&new_job("D:transp", T0)).await.unwrap();
    let j3 = s.create_job(&new_job("D:direct", T0)).await.unwrap();
    let j4 = s.create_job(&new_job("D:proxy", T0)).await.unwrap();

    assert!(
        s.take_gateway_jobs("GW:2", "S0", 10, T0 + 1)
            .await
            .unwrap()
            .is_empty()
    );
    let taken = s.take_gateway_jobs("GW:1", "S1", 10, T0 + 1).await.unwrap();
    assert_eq!(
        taken.iter().map(|j| j.id).collect::<Vec<_>>(),
        [j1.id, j4.id]
    );
    assert!(taken.iter().all(|j| j.device_id == "D:proxy"
        && j.state == JobState::Sent
        && j.gateway.as_deref() == Some("GW:1")
        && j.attempts == 1));
    assert!(
        s.take_gateway_jobs("GW:1", "S2", 10, T0 + 2)
            .await
            .unwrap()
            .is_empty()
    );
    // A Transparent-mode device's jobs stay for its own session; direct ones too.
    let own = s
        .take_queued_jobs("D:transp", "S3", 10, T0 + 2)
        .await
        .unwrap();
    assert_eq!(own.iter().map(|j| j.id).collect::<Vec<_>>(), [j2.id]);
    assert_eq!(own[0].gateway, None);
    assert_eq!(
        s.take_queued_jobs("D:direct", "S4", 10, T0 + 2)
            .await
            .unwrap()
            .len(),
        1
    );
    let _ = j3;

    // The gateway's session: j4 answered (Y), j1 accepted for later (Y'), a proxied value.
    let result = CommandResult {
        index: 0,
        cmd_id: Some(1),
        status: 200,
        items: vec![],
        completed_at: T0 + 5,
        error: None,
    };
    let rec = SessionRecord {
        device_id: "GW:1".into(),
        at: T0 + 5,
        job_results: vec![JobResults {
            job_id: j4.id,
            results: vec![result.clone()],
            complete: Some(JobState::Done),
        }],
        proxied: vec![
            ProxiedValues {
                device_id: "D:proxy".into(),
                values: vec![tv("./DevInfo/Mod", b"P1", T0 + 5)],
            },
            // A device that is gone is skipped, the rest is stored.
            ProxiedValues {
                device_id: "D:gone".into(),
                values: vec![tv("./DevInfo/Mod", b"X", T0 + 5)],
            },
        ],
        awaiting: vec![j1.id],
        ..SessionRecord::default()
    };
    s.record_session(&rec).await.unwrap();
    assert_eq!(
        s.get_job(j4.id).await.unwrap().unwrap().state,
        JobState::Done
    );
    let awaited = s.get_job(j1.id).await.unwrap().unwrap();
    assert_eq!(
        (awaited.state, awaited.awaiting_since),
        (JobState::Sent, Some(T0 + 5))
    );
    assert_eq!(
        s.get_tree_value("D:proxy", "./DevInfo/Mod")
            .await
            .unwrap()
            .unwrap()
            .value,
        b"P1"
    );
    assert!(
        s.get_tree_value("GW:1", "./DevInfo/Mod")
            .await
            .unwrap()
            .is_none()
    );
    // Neither the session's end nor a restart puts an awaited job back in the queue.
    assert!(
        s.requeue_unanswered(&RequeueScope::Session("S1".into()), T0 + 6)
            .await
            .unwrap()
            .is_empty()
    );
    let back = s
        .requeue_unanswered(&RequeueScope::SentBefore(T0 + 10), T0 + 10)
        .await
        .unwrap();
    assert!(back.iter().all(|j| j.id != j1.id), "{back:?}");
    // Another gateway cannot mark it.
    let other = SessionRecord {
        device_id: "GW:2".into(),
        at: T0 + 7,
        awaiting: vec![j4.id],
        ..SessionRecord::default()
    };
    s.record_session(&other).await.unwrap();
    assert_eq!(
        s.get_job(j4.id).await.unwrap().unwrap().awaiting_since,
        None
    );
    // The completion alert's session completes it.
    let done = SessionRecord {
        device_id: "GW:1".into(),
        at: T0 + 8,
        job_results: vec![JobResults {
            job_id: j1.id,
            results: vec![result],
            complete: Some(JobState::Done),
        }],
        ..SessionRecord::default()
    };
    s.record_session(&done).await.unwrap();
    assert_eq!(
        s.get_job(j1.id).await.unwrap().unwrap().state,
        JobState::Done
    );
}

/// What a store migrated from a version-2 database with the data of `tests/v2_delta.sql` holds
/// (schema version 3): the old gateway columns became an open link (and the gateway's kind), a
/// dangling one was dropped, jobs and results are kept and read with no gateway.
pub async fn check_migrated_v2(s: &AnyStore) {
    let gw = s.get_device("GW:OLD").await.unwrap().unwrap();
    assert_eq!(
        (gw.kind, gw.auth_name.as_str()),
        (DeviceKind::Gateway, "gw")
    );
    let behind = s.get_device("IMEI:BEHIND").await.unwrap().unwrap();
    assert_eq!(behind.kind, DeviceKind::Device);
    let link = s.current_link("IMEI:BEHIND").await.unwrap().unwrap();
    assert_eq!(
        (
            link.gateway_id.as_str(),
            link.mode,
            link.attached,
            link.since
        ),
        ("GW:OLD", LinkMode::Transparent, true, 7)
    );
    assert!(s.current_link("IMEI:DANGLING").await.unwrap().is_none());
    assert!(s.get_device("IMEI:DANGLING").await.unwrap().is_some());
    let jobs = s
        .list_jobs(&JobFilter {
            device_id: Some("IMEI:BEHIND".into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    let job = &jobs[0];
    assert_eq!(
        (job.state, job.gateway.as_deref(), job.awaiting_since),
        (JobState::Sent, None, None)
    );
    assert_eq!(job.results[0].status, 200);
    // The new columns work on the old rows.
    let again = s
        .requeue_unanswered(&RequeueScope::SentBefore(T0), T0)
        .await
        .unwrap();
    assert_eq!(again.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
}

/// GwMO-Group-001 / GwMO-FORA-001: the server's group definitions and fanouts are stored per
/// gateway; a terminal fanout is not changed again; a gateway's deletion takes them along.
pub async fn gwmo_group_001_groups_and_fanouts_round_trip(s: &AnyStore) {
    use dm_store::{FanoutFilter, FanoutState, GatewayGroup, NewFanout};
    let group = |name: &str| GatewayGroup {
        gateway_id: "GW:1".into(),
        name: name.into(),
        members: vec!["IMEI:1".into(), "IMEI:2".into()],
        match_rule: Some("man=Acme".into()),
        job_id: Some(7),
        updated_at: T0,
    };
    assert!(matches!(
        s.put_group(&group("meters")).await,
        Err(Error::NotFound { .. })
    ));
    s.create_device(&account("GW:1", "gw1")).await.unwrap();
    s.put_group(&group("meters")).await.unwrap();
    s.put_group(&group("cams")).await.unwrap();
    let mut changed = group("meters");
    changed.members = vec!["IMEI:3".into()];
    changed.match_rule = None;
    s.put_group(&changed).await.unwrap();
    assert_eq!(s.get_group("GW:1", "meters").await.unwrap(), Some(changed));
    let names: Vec<String> = s
        .list_groups("GW:1")
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["cams", "meters"]);
    assert!(s.delete_group("GW:1", "cams").await.unwrap());
    assert!(!s.delete_group("GW:1", "cams").await.unwrap());

    let f = s
        .create_fanout(&NewFanout {
            gateway_id: "GW:1".into(),
            detail: "{}".into(),
            created_at: T0,
        })
        .await
        .unwrap();
    assert_eq!(f.state, FanoutState::Queued);
    let mut running = f.clone();
    running.state = FanoutState::Running;
    running.job_id = Some(3);
    running.detail = r#"{"finished":1}"#.into();
    running.updated_at = T0 + 5;
    assert!(s.update_fanout(&running).await.unwrap());
    let mut done = running.clone();
    done.state = FanoutState::Done;
    done.completed_at = Some(T0 + 9);
    assert!(s.update_fanout(&done).await.unwrap());
    let mut late = done.clone();
    late.state = FanoutState::Running;
    assert!(
        !s.update_fanout(&late).await.unwrap(),
        "a terminal fanout stays"
    );
    assert_eq!(s.get_fanout(f.id).await.unwrap(), Some(done));
    let listed = s
        .list_fanouts(&FanoutFilter {
            gateway_id: Some("GW:1".into()),
            state: Some(FanoutState::Done),
            ..FanoutFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let mut missing = late;
    missing.id += 100;
    assert!(matches!(
        s.update_fanout(&missing).await,
        Err(Error::NotFound { .. })
    ));
    s.delete_device("GW:1").await.unwrap();
    assert!(s.list_groups("GW:1").await.unwrap().is_empty());
    assert!(s.get_fanout(f.id).await.unwrap().is_none());
}
