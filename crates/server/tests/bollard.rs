//! Black-box with a typed Rust client: bollard against a real berthd (the harness of
//! `common/`). What a program using the Engine API sees: version negotiation, a full
//! HostConfig round-tripping through create and inspect, errors decoded with Docker's status
//! codes and messages, attach with stdin over the hijacked stream, exec exit codes, logs with
//! timestamps and `since`, wait conditions, a filtered event stream, images, a failing pull.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as BErr;
use bollard::models::{
    ContainerCreateBody, ExecConfig, HostConfig, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters as q;
use bollard::Docker;
use common::Berthd;
use futures_util::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

async fn client(b: &Berthd) -> Docker {
    Docker::connect_with_unix(b.sock().to_str().unwrap(), 60, bollard::API_DEFAULT_VERSION)
        .expect("connect")
        .negotiate_version()
        .await
        .expect("negotiate")
}

fn server_error(e: BErr) -> (u16, String) {
    match e {
        BErr::DockerResponseServerError {
            status_code,
            message,
        } => (status_code, message),
        other => panic!("not a server error: {other:?}"),
    }
}

fn body(cmd: &[&str]) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some("busybox".into()),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

fn named(n: &str) -> Option<q::CreateContainerOptions> {
    Some(q::CreateContainerOptions {
        name: Some(n.into()),
        ..Default::default()
    })
}

async fn output(
    mut s: impl futures_util::Stream<Item = Result<bollard::container::LogOutput, BErr>> + Unpin,
) -> String {
    let mut text = String::new();
    while let Some(chunk) = s.next().await {
        text.push_str(&chunk.expect("stream").to_string());
    }
    text
}

#[test]
fn a_typed_client_sees_dockers_api() {
    need_root!();
    let b = Berthd::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let d = client(&b).await;
        // Negotiated down to what berthd announces.
        let v = d.version().await.expect("version");
        let api = v.api_version.clone().unwrap();
        let cv = d.client_version();
        assert_eq!(format!("{}.{}", cv.major_version, cv.minor_version), api);
        assert!(v.min_api_version.is_some());

        round_trip(&d).await;
        errors(&d).await;
        attach_stdin(&d).await;
        exec_exit_code(&d).await;
        logs(&d).await;
        waits(&d).await;
        events(&d).await;
        images(&d).await;
    });
}

async fn round_trip(d: &Docker) {
    let mut labels = HashMap::new();
    labels.insert("com.example.tier".to_string(), "web".to_string());
    let hc = HostConfig {
        memory: Some(64 << 20),
        memory_swap: Some(128 << 20),
        nano_cpus: Some(500_000_000),
        cpu_shares: Some(512),
        pids_limit: Some(50),
        ulimits: Some(vec![ResourcesUlimits {
            name: Some("nofile".into()),
            soft: Some(1024),
            hard: Some(2048),
        }]),
        cap_add: Some(vec!["NET_ADMIN".into()]),
        cap_drop: Some(vec!["MKNOD".into()]),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::ON_FAILURE),
            maximum_retry_count: Some(3),
        }),
        ..Default::default()
    };
    let created = d
        .create_container(
            named("full"),
            ContainerCreateBody {
                env: Some(vec!["GREETING=hello".into()]),
                labels: Some(labels),
                host_config: Some(hc),
                ..body(&["sh", "-c", "ulimit -n; echo $GREETING"])
            },
        )
        .await
        .expect("create");
    assert_eq!(created.id.len(), 64);
    let i = d
        .inspect_container("full", None::<q::InspectContainerOptions>)
        .await
        .expect("inspect");
    assert_eq!(i.id.as_deref(), Some(created.id.as_str()));
    assert_eq!(i.name.as_deref(), Some("/full"));
    let h = i.host_config.unwrap();
    assert_eq!(h.memory, Some(64 << 20));
    assert_eq!(h.memory_swap, Some(128 << 20));
    assert_eq!(h.nano_cpus, Some(500_000_000));
    assert_eq!(h.cpu_shares, Some(512));
    assert_eq!(h.pids_limit, Some(50));
    let u = &h.ulimits.unwrap()[0];
    assert_eq!(
        (u.name.as_deref(), u.soft, u.hard),
        (Some("nofile"), Some(1024), Some(2048))
    );
    assert_eq!(h.cap_add, Some(vec!["NET_ADMIN".to_string()]));
    assert_eq!(h.cap_drop, Some(vec!["MKNOD".to_string()]));
    let rp = h.restart_policy.unwrap();
    assert_eq!(rp.name, Some(RestartPolicyNameEnum::ON_FAILURE));
    assert_eq!(rp.maximum_retry_count, Some(3));
    let c = i.config.unwrap();
    assert!(c
        .env
        .unwrap_or_default()
        .contains(&"GREETING=hello".to_string()));
    assert_eq!(
        c.labels.unwrap_or_default().get("com.example.tier"),
        Some(&"web".to_string())
    );
    // And the container runs with them.
    d.start_container("full", None::<q::StartContainerOptions>)
        .await
        .expect("start");
    let w: Vec<_> = d
        .wait_container("full", None::<q::WaitContainerOptions>)
        .try_collect()
        .await
        .expect("wait");
    assert_eq!(w[0].status_code, 0);
    let out = output(d.logs(
        "full",
        Some(q::LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }),
    ))
    .await;
    assert_eq!(out, "1024\nhello\n");
}

async fn errors(d: &Docker) {
    let (code, msg) = server_error(
        d.inspect_container("nope", None::<q::InspectContainerOptions>)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, msg.as_str()), (404, "No such container: nope"));
    let (code, msg) = server_error(
        d.create_container(named("full"), body(&["true"]))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
    assert!(
        msg.starts_with("Conflict. The container name \"/full\" is already in use by container"),
        "{msg}"
    );
    let (code, msg) = server_error(
        d.create_container(
            None::<q::CreateContainerOptions>,
            ContainerCreateBody {
                image: Some("no-such-image:1".into()),
                ..body(&["true"])
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 404);
    assert!(msg.contains("No such image: no-such-image:1"), "{msg}");
    d.create_container(named("busy"), body(&["sleep", "60"]))
        .await
        .expect("create");
    d.start_container("busy", None::<q::StartContainerOptions>)
        .await
        .expect("start");
    let (code, msg) = server_error(
        d.remove_container("busy", None::<q::RemoveContainerOptions>)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
    assert!(msg.contains("cannot remove a running container"), "{msg}");
    d.remove_container(
        "busy",
        Some(q::RemoveContainerOptions {
            force: true,
            ..Default::default()
        }),
    )
    .await
    .expect("rm -f");
}

async fn attach_stdin(d: &Docker) {
    d.create_container(
        named("cat"),
        ContainerCreateBody {
            open_stdin: Some(true),
            stdin_once: Some(true),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            ..body(&["sh", "-c", "cat; echo done"])
        },
    )
    .await
    .expect("create");
    let mut a = d
        .attach_container(
            "cat",
            Some(q::AttachContainerOptions {
                stream: true,
                stdin: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        )
        .await
        .expect("attach");
    d.start_container("cat", None::<q::StartContainerOptions>)
        .await
        .expect("start");
    a.input
        .write_all(b"through the hijacked stream\n")
        .await
        .unwrap();
    a.input.shutdown().await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), output(a.output))
        .await
        .expect("attach output ends");
    assert_eq!(out, "through the hijacked stream\ndone\n");
}

async fn exec_exit_code(d: &Docker) {
    d.create_container(named("ex"), body(&["sleep", "60"]))
        .await
        .expect("create");
    d.start_container("ex", None::<q::StartContainerOptions>)
        .await
        .expect("start");
    let e = d
        .create_exec(
            "ex",
            ExecConfig {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "echo out; echo err >&2; exit 3".into(),
                ]),
                ..Default::default()
            },
        )
        .await
        .expect("create exec");
    match d.start_exec(&e.id, None).await.expect("start exec") {
        bollard::exec::StartExecResults::Attached { output: o, .. } => {
            let mut out = String::new();
            let mut err = String::new();
            let mut o = o;
            while let Some(x) = o.next().await {
                match x.expect("exec stream") {
                    bollard::container::LogOutput::StdOut { message } => {
                        out.push_str(&String::from_utf8_lossy(&message))
                    }
                    bollard::container::LogOutput::StdErr { message } => {
                        err.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
        }
        bollard::exec::StartExecResults::Detached => panic!("detached"),
    }
    let i = d.inspect_exec(&e.id).await.expect("inspect exec");
    assert_eq!(i.exit_code, Some(3));
    assert_eq!(i.running, Some(false));
    let (code, _) = server_error(d.inspect_exec("nope").await.unwrap_err());
    assert_eq!(code, 404);
}

async fn logs(d: &Docker) {
    d.create_container(
        named("lg"),
        body(&["sh", "-c", "echo one; sleep 1.5; echo two"]),
    )
    .await
    .expect("create");
    d.start_container("lg", None::<q::StartContainerOptions>)
        .await
        .expect("start");
    let _: Vec<_> = d
        .wait_container("lg", None::<q::WaitContainerOptions>)
        .try_collect()
        .await
        .expect("wait");
    let all = output(d.logs(
        "lg",
        Some(q::LogsOptions {
            stdout: true,
            timestamps: true,
            ..Default::default()
        }),
    ))
    .await;
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 2, "{all}");
    // RFC 3339 with nanoseconds, then the line.
    let (ts, text) = lines[1].split_once(' ').unwrap();
    assert_eq!(text, "two");
    assert!(
        ts.ends_with('Z') && ts.contains('T') && ts.len() >= 30,
        "{ts}"
    );
    // since: whole seconds; "two" came 1.5 s after "one".
    let secs = civil_to_unix(ts);
    let since = output(d.logs(
        "lg",
        Some(q::LogsOptions {
            stdout: true,
            since: secs as i32,
            ..Default::default()
        }),
    ))
    .await;
    assert_eq!(since, "two\n");
}

/// `2026-11-23T04:05:06.123456789Z` → Unix seconds.
fn civil_to_unix(ts: &str) -> i64 {
    let n = |a: usize, b: usize| ts[a..b].parse::<i64>().unwrap();
    let (y, m, day) = (n(0, 4), n(5, 7), n(8, 10));
    let (hh, mm, ss) = (n(11, 13), n(14, 16), n(17, 19));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    days * 86400 + hh * 3600 + mm * 60 + ss
}

async fn waits(d: &Docker) {
    d.create_container(named("wt"), body(&["sh", "-c", "exit 2"]))
        .await
        .expect("create");
    // not-running answers at once for a container that is not running.
    let w: Vec<_> = d
        .wait_container(
            "wt",
            Some(q::WaitContainerOptions {
                condition: "not-running".into(),
            }),
        )
        .try_collect()
        .await
        .expect("wait not-running");
    assert_eq!(w[0].status_code, 0);
    // next-exit waits for the exit after the start; bollard turns a non-zero code into an error.
    let d2 = d.clone();
    let waiter = tokio::spawn(async move {
        d2.wait_container(
            "wt",
            Some(q::WaitContainerOptions {
                condition: "next-exit".into(),
            }),
        )
        .try_collect::<Vec<_>>()
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.start_container("wt", None::<q::StartContainerOptions>)
        .await
        .expect("start");
    let r = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("next-exit answered")
        .unwrap();
    match r {
        Err(BErr::DockerContainerWaitError { code, .. }) => assert_eq!(code, 2),
        other => panic!("wait next-exit: {other:?}"),
    }
    let e = d
        .wait_container("nope", None::<q::WaitContainerOptions>)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(server_error(e).0, 404);
}

async fn events(d: &Docker) {
    d.create_container(named("ev"), body(&["true"]))
        .await
        .expect("create");
    let mut filters = HashMap::new();
    filters.insert("type".to_string(), vec!["container".to_string()]);
    filters.insert("event".to_string(), vec!["die".to_string()]);
    filters.insert("container".to_string(), vec!["ev".to_string()]);
    let mut s = d.events(Some(q::EventsOptions {
        filters: Some(filters),
        ..Default::default()
    }));
    // The stream is open once the server answered: start the container after a moment.
    let d2 = d.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = d2
            .start_container("ev", None::<q::StartContainerOptions>)
            .await;
        // A start of another container must not pass the filter.
        let _ = d2.create_container(named("other"), body(&["true"])).await;
        let _ = d2
            .start_container("other", None::<q::StartContainerOptions>)
            .await;
    });
    let ev = tokio::time::timeout(Duration::from_secs(20), s.next())
        .await
        .expect("an event")
        .unwrap()
        .expect("event");
    assert_eq!(ev.action.as_deref(), Some("die"));
    let actor = ev.actor.unwrap();
    let attrs = actor.attributes.unwrap_or_default();
    assert_eq!(attrs.get("name").map(String::as_str), Some("ev"));
    assert_eq!(attrs.get("exitCode").map(String::as_str), Some("0"));
}

async fn images(d: &Docker) {
    let list = d
        .list_images(None::<q::ListImagesOptions>)
        .await
        .expect("images");
    let bb = list
        .iter()
        .find(|i| i.repo_tags.contains(&"busybox:latest".to_string()))
        .expect("busybox listed");
    let i = d.inspect_image("busybox").await.expect("inspect image");
    assert_eq!(i.id.as_deref(), Some(bb.id.as_str()));
    d.tag_image(
        "busybox",
        Some(q::TagImageOptions {
            repo: Some("example.test/bb".into()),
            tag: Some("v1".into()),
        }),
    )
    .await
    .expect("tag");
    let tagged = d
        .inspect_image("example.test/bb:v1")
        .await
        .expect("inspect tag");
    assert_eq!(tagged.id, i.id);
    let removed = d
        .remove_image("example.test/bb:v1", None::<q::RemoveImageOptions>, None)
        .await
        .expect("rmi");
    assert_eq!(removed[0].untagged.as_deref(), Some("example.test/bb:v1"));
    let (code, msg) = server_error(d.inspect_image("example.test/bb:v1").await.unwrap_err());
    assert_eq!(code, 404);
    assert!(msg.contains("No such image: example.test/bb:v1"), "{msg}");
    // The base stays.
    d.inspect_image("busybox").await.expect("busybox kept");

    // A pull from a registry nobody serves fails in the stream or with a status, and
    // leaves no image.
    let r: Result<Vec<_>, BErr> = tokio::time::timeout(
        Duration::from_secs(60),
        d.create_image(
            Some(q::CreateImageOptions {
                from_image: Some("127.0.0.1:9/nothing/here".into()),
                tag: Some("v0".into()),
                ..Default::default()
            }),
            None,
            None,
        )
        .try_collect(),
    )
    .await
    .expect("pull answered");
    let msg = match r.unwrap_err() {
        BErr::DockerStreamError { error } => error,
        e => server_error(e).1,
    };
    assert!(msg.contains("127.0.0.1:9"), "{msg}");
    assert!(d
        .inspect_image("127.0.0.1:9/nothing/here:v0")
        .await
        .is_err());
}
