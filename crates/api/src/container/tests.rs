//! What clients send to and read from the container endpoints.

use std::collections::BTreeSet;

use super::*;
use crate::testutil::{compact, fixture, keys_in_order};

fn parse_create(text: &str) -> ContainerCreateRequest {
    serde_json::from_str(text).unwrap()
}

#[test]
fn docker_run_it_rm_publish_volume_env_memory_capdrop() {
    // docker run -it --rm -p 8080:80 -v data:/d -e A=b --memory 64m --cap-drop ALL --name web busybox sh
    let req = parse_create(fixture!("create_docker_run_it.json"));
    let c = &req.config;
    assert!(c.attach_stdin && c.attach_stdout && c.attach_stderr);
    assert!(c.tty && c.open_stdin && c.stdin_once);
    assert_eq!(c.exposed_ports, BTreeSet::from(["80/tcp".to_string()]));
    assert_eq!(c.env.as_deref(), Some(&["A=b".to_string()][..]));
    assert_eq!(c.cmd.as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(c.entrypoint, None);
    assert_eq!(c.image, "busybox");
    assert_eq!(c.volumes, Some(BTreeSet::new()));
    assert_eq!(c.labels.as_ref().map(|l| l.len()), Some(0));

    let h = req.host_config.as_ref().unwrap();
    assert_eq!(h.binds.as_deref(), Some(&["data:/d".to_string()][..]));
    let pb = h.port_bindings.as_ref().unwrap();
    let b = pb["80/tcp"].as_ref().unwrap();
    assert_eq!(
        (b[0].host_ip.as_str(), b[0].host_port.as_str()),
        ("", "8080")
    );
    assert!(h.auto_remove);
    assert_eq!(h.cap_drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert_eq!(h.cap_add, None);
    assert_eq!(h.resources.memory, 64 * 1024 * 1024);
    assert_eq!(h.resources.memory_swappiness, Some(-1));
    assert_eq!(h.resources.pids_limit, None);
    assert_eq!(h.console_size, [50, 200]);
    assert_eq!(h.network_mode, "default");
    assert_eq!(h.restart_policy.name, "no");

    // Newer CLIs send endpoint fields unknown at 1.41 (GwPriority, DNSNames): ignored.
    let eps = &req.networking_config.as_ref().unwrap().endpoints_config;
    assert_eq!(eps.keys().collect::<Vec<_>>(), ["default"]);
    assert_eq!(eps["default"].aliases, None);
}

#[test]
fn compose_create_body() {
    let req = parse_create(fixture!("create_compose.json"));
    let labels = req.config.labels.as_ref().unwrap();
    assert_eq!(labels["com.docker.compose.project"], "p");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(
        req.config.volumes,
        Some(BTreeSet::from(["/data".to_string()]))
    );
    assert_eq!(req.config.env, Some(vec![]));
    // Fields docker-py leaves out take their zero values.
    assert_eq!(req.config.hostname, "");
    assert!(!req.config.tty);
    let h = req.host_config.as_ref().unwrap();
    assert_eq!(h.network_mode, "p_front");
    assert_eq!(
        h.binds.as_deref(),
        Some(&["p_data:/data:rw".to_string()][..])
    );
    assert_eq!(h.links, Some(vec![]));
    assert!(h.mounts.is_empty());
    assert_eq!(h.resources.memory_swappiness, None);
    let ep = &req.networking_config.as_ref().unwrap().endpoints_config["p_front"];
    assert_eq!(ep.aliases.as_deref(), Some(&["web".to_string()][..]));
    assert_eq!(ep.ipam_config, Some(Default::default()));
}

#[test]
fn go_leniency_nulls_strings_for_lists_unknown_fields() {
    let req = parse_create(fixture!("create_docker_py_nulls.json"));
    let c = &req.config;
    // StrSlice: a JSON string is a one-element command.
    assert_eq!(c.cmd.as_deref(), Some(&["sh -c 'echo hi'".to_string()][..]));
    assert_eq!(c.hostname, "");
    assert_eq!(c.env, None);
    assert_eq!(c.labels, None);
    assert_eq!(c.stop_timeout, Some(5));
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!(hc.interval, 1_000_000_000);
    assert_eq!((hc.timeout, hc.retries), (0, 0));

    let h = req.host_config.as_ref().unwrap();
    assert_eq!(h.log_config, LogConfig::default());
    assert_eq!(h.restart_policy, RestartPolicy::default());
    // docker-py's Mount writes "Source": null for tmpfs.
    assert_eq!(h.mounts.len(), 1);
    assert_eq!(h.mounts[0].source, "");
    assert_eq!(h.mounts[0].r#type, "tmpfs");
    assert_eq!(
        h.mounts[0].tmpfs_options.as_ref().unwrap().size_bytes,
        1 << 20
    );
    assert_eq!(h.cap_add.as_deref(), Some(&["NET_ADMIN".to_string()][..]));
    assert_eq!(h.tmpfs["/run"], "");
    assert_eq!(h.init, Some(true));
    assert_eq!(h.resources.nano_cpus, 500_000_000);
    assert_eq!(h.resources.pids_limit, Some(50));
    assert_eq!(h.resources.oom_kill_disable, None);
    let ul = &h.resources.ulimits.as_ref().unwrap()[0];
    assert_eq!((ul.name.as_str(), ul.soft, ul.hard), ("nofile", 1024, 2048));
    // A null endpoint is an endpoint with default settings.
    let eps = &req.networking_config.as_ref().unwrap().endpoints_config;
    assert_eq!(eps["bridge"], crate::network::EndpointSettings::default());

    for text in [
        "{}",
        r#"{"Image":"x","HostConfig":null,"NetworkingConfig":null}"#,
        r#"{"Image":"x","Tty":null,"ExposedPorts":null,"Volumes":null,"Cmd":null}"#,
        r#"{"Image":"x","SomethingNew":{"a":[1,2]},"HostConfig":{"Future":1}}"#,
    ] {
        let req = parse_create(text);
        assert!(req.config.exposed_ports.is_empty(), "{text}");
        assert_eq!(req.config.cmd, None, "{text}");
    }
}

#[test]
fn api_reference_example() {
    // The yaml's example body: Entrypoint as a string, a typo'd key, empty objects in lists.
    let req = parse_create(fixture!("create_api_example.json"));
    assert_eq!(req.config.entrypoint, Some(vec![String::new()]));
    assert_eq!(req.config.stop_signal, "SIGTERM");
    assert_eq!(req.config.mac_address, "12:34:56:78:9a:bc");
    let h = req.host_config.as_ref().unwrap();
    let r = &h.resources;
    assert_eq!((r.cpu_shares, r.cpu_quota, r.cpu_percent), (512, 50000, 80));
    assert_eq!(r.blkio_weight, 300);
    assert_eq!(r.blkio_device_read_iops.as_ref().unwrap().len(), 1);
    let dr = &r.device_requests.as_ref().unwrap()[0];
    assert_eq!((dr.driver.as_str(), dr.count), ("nvidia", -1));
    assert_eq!(dr.device_ids, None);
    assert_eq!(r.memory_swappiness, Some(60));
    assert_eq!(r.oom_kill_disable, Some(false));
    assert_eq!(h.oom_score_adj, 500);
    assert_eq!(h.shm_size, 67108864);
    let pb = h.port_bindings.as_ref().unwrap()["22/tcp"]
        .as_ref()
        .unwrap();
    assert_eq!(pb[0].host_ip, "");
    let ipam = req.networking_config.as_ref().unwrap().endpoints_config["isolated_nw"]
        .ipam_config
        .clone()
        .unwrap();
    assert_eq!(ipam.ipv4_address, "172.20.30.33");
    assert_eq!(ipam.link_local_ips.len(), 2);
}

#[test]
fn create_request_round_trips_and_keeps_config_at_top_level() {
    for text in [
        fixture!("create_docker_run_it.json"),
        fixture!("create_compose.json"),
        fixture!("create_docker_py_nulls.json"),
        fixture!("create_api_example.json"),
    ] {
        let req = parse_create(text);
        let out = serde_json::to_string(&req).unwrap();
        assert_eq!(parse_create(&out), req);
        let keys = keys_in_order(&out);
        assert!(keys.iter().any(|k| k == "Image") && !keys.iter().any(|k| k == "Config"));
    }
    // What our CLI writes for a bare `berth create busybox`: no HostConfig-less surprises.
    let req = ContainerCreateRequest {
        config: ContainerConfig {
            image: "busybox".into(),
            ..Default::default()
        },
        host_config: Some(HostConfig::default()),
        networking_config: None,
    };
    let out = serde_json::to_string(&req).unwrap();
    assert!(out.starts_with(r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false"#));
    assert!(out.contains(r#""Image":"busybox","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null,"HostConfig":{"#));
    assert!(!out.contains("NetworkingConfig"));
}

#[test]
fn inspect_matches_dockerd_byte_for_byte() {
    let text = fixture!("inspect_dockerd_20_10.json");
    let inspect: ContainerInspect = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_string(&inspect).unwrap(), compact(text));
    // What compose and the CLI read.
    assert_eq!(inspect.state.status, "running");
    assert!(inspect.state.running);
    assert_eq!(
        inspect.config.labels.as_ref().unwrap()["com.docker.compose.project"],
        "p"
    );
    assert!(!inspect.config.tty);
    assert_eq!(inspect.name, "/web");
    let ports = &inspect.network_settings.ports;
    assert_eq!(ports["80/tcp"].as_ref().unwrap()[0].host_port, "8080");
    assert_eq!(ports["81/udp"], None);
}

#[test]
fn default_inspect_writes_go_zero_values() {
    let v: serde_json::Value = serde_json::to_value(ContainerInspect::default()).unwrap();
    assert_eq!(v["Args"], serde_json::json!([]));
    assert_eq!(v["ExecIDs"], serde_json::Value::Null);
    assert_eq!(v["Mounts"], serde_json::json!([]));
    assert!(v.get("SizeRw").is_none() && v.get("SizeRootFs").is_none());
    assert_eq!(v["State"]["OOMKilled"], false);
    assert!(v["State"].get("Health").is_none());
    let hc = &v["HostConfig"];
    assert_eq!(hc["Binds"], serde_json::Value::Null);
    assert_eq!(hc["ConsoleSize"], serde_json::json!([0, 0]));
    assert_eq!(hc["PidsLimit"], serde_json::Value::Null);
    assert_eq!(hc["IOMaximumIOps"], 0);
    for omitted in [
        "Mounts",
        "Tmpfs",
        "Sysctls",
        "StorageOpt",
        "Runtime",
        "Init",
    ] {
        assert!(hc.get(omitted).is_none(), "{omitted}");
    }
    assert_eq!(v["Config"]["Volumes"], serde_json::Value::Null);
    assert!(v["Config"].get("ExposedPorts").is_none());
    assert_eq!(v["NetworkSettings"]["Networks"], serde_json::json!({}));
}

#[test]
fn health_state_when_configured() {
    let state = ContainerState {
        status: "running".into(),
        health: Some(Health {
            status: "healthy".into(),
            failing_streak: 0,
            log: vec![HealthcheckResult {
                start: "2024-05-01T10:00:01Z".into(),
                end: "2024-05-01T10:00:01.1Z".into(),
                exit_code: 0,
                output: "ok\n".into(),
            }],
        }),
        ..Default::default()
    };
    let out = serde_json::to_string(&state).unwrap();
    assert!(out.ends_with(r#""Health":{"Status":"healthy","FailingStreak":0,"Log":[{"Start":"2024-05-01T10:00:01Z","End":"2024-05-01T10:00:01.1Z","ExitCode":0,"Output":"ok\n"}]}}"#));
}

#[test]
fn ps_matches_dockerd_byte_for_byte() {
    let text = fixture!("ps_dockerd_20_10.json");
    let list: Vec<ContainerSummary> = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_string(&list).unwrap(), compact(text));
    assert_eq!(list[0].names, ["/web"]);
    assert_eq!(list[0].ports[2].public_port, 0);
}

#[test]
fn summary_always_writes_lists_and_maps() {
    let s = ContainerSummary {
        id: "abc".into(),
        state: "created".into(),
        status: "Created".into(),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        r#"{"Id":"abc","Names":[],"Image":"","ImageID":"","Command":"","Created":0,"Ports":[],"Labels":{},"State":"created","Status":"Created","HostConfig":{},"NetworkSettings":{"Networks":{}},"Mounts":[]}"#
    );
    // A dockerd summary with nulls (older daemons) still reads.
    let s: ContainerSummary = serde_json::from_str(
        r#"{"Id":"x","Names":null,"Ports":null,"Labels":null,"NetworkSettings":null}"#,
    )
    .unwrap();
    assert!(s.names.is_empty() && s.ports.is_empty() && s.labels.is_empty());
}

#[test]
fn create_and_wait_responses() {
    let r = ContainerCreateResponse {
        id: "e90e34656806".into(),
        warnings: vec![],
    };
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"Id":"e90e34656806","Warnings":[]}"#
    );
    let w = ContainerWaitResponse {
        error: None,
        status_code: 3,
    };
    assert_eq!(
        serde_json::to_string(&w).unwrap(),
        r#"{"Error":null,"StatusCode":3}"#
    );
    let w = ContainerWaitResponse {
        error: Some(WaitError {
            message: "context canceled".into(),
        }),
        status_code: -1,
    };
    assert_eq!(
        serde_json::to_string(&w).unwrap(),
        r#"{"Error":{"Message":"context canceled"},"StatusCode":-1}"#
    );
}

#[test]
fn top_changes_update_prune() {
    let top = ContainerTopResponse {
        titles: vec!["PID".into(), "COMMAND".into()],
        processes: vec![vec!["9880".into(), "sh".into()]],
    };
    assert_eq!(
        serde_json::to_string(&top).unwrap(),
        r#"{"Processes":[["9880","sh"]],"Titles":["PID","COMMAND"]}"#
    );
    let changes = vec![
        ContainerChange {
            path: "/tmp".into(),
            kind: ContainerChange::MODIFIED,
        },
        ContainerChange {
            path: "/tmp/h.txt".into(),
            kind: ContainerChange::ADDED,
        },
    ];
    assert_eq!(
        serde_json::to_string(&changes).unwrap(),
        r#"[{"Path":"/tmp","Kind":0},{"Path":"/tmp/h.txt","Kind":1}]"#
    );

    // docker update --memory 128m --memory-swap 256m --cpus 1.5 --restart always web
    let upd: ContainerUpdateRequest = serde_json::from_str(
        r#"{"CpuShares":0,"Memory":134217728,"NanoCpus":1500000000,"MemorySwap":268435456,"PidsLimit":null,"RestartPolicy":{"Name":"always","MaximumRetryCount":0}}"#,
    )
    .unwrap();
    assert_eq!(upd.resources.memory, 134217728);
    assert_eq!(upd.resources.nano_cpus, 1_500_000_000);
    assert_eq!(upd.restart_policy.name, "always");
    let upd: ContainerUpdateRequest = serde_json::from_str(r#"{"Memory":1}"#).unwrap();
    assert_eq!(upd.restart_policy.name, "");
    assert_eq!(
        serde_json::to_string(&ContainerUpdateResponse::default()).unwrap(),
        r#"{"Warnings":null}"#
    );
    assert_eq!(
        serde_json::to_string(&ContainerPruneResponse::default()).unwrap(),
        r#"{"ContainersDeleted":[],"SpaceReclaimed":0}"#
    );
}

#[test]
fn exec_bodies() {
    // docker exec -it -e X=1 -w /tmp web sh
    let req: ExecCreateRequest = serde_json::from_str(
        r#"{"User":"","Privileged":false,"Tty":true,"ConsoleSize":[30,100],"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":["X=1"],"WorkingDir":"/tmp","Cmd":["sh"]}"#,
    )
    .unwrap();
    assert!(req.tty && req.attach_stdin);
    assert_eq!(req.cmd.as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(req.console_size, Some([30, 100]));
    // docker-py: exec_create(cmd="echo hi") sends a split list; a raw string still works.
    let req: ExecCreateRequest = serde_json::from_str(r#"{"Cmd":"uptime","Env":null}"#).unwrap();
    assert_eq!(req.cmd, Some(vec!["uptime".into()]));

    let start: ExecStartRequest = serde_json::from_str(r#"{"Detach":false,"Tty":false}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&start).unwrap(),
        r#"{"Detach":false,"Tty":false}"#
    );

    let running = ExecInspect {
        id: "abc".into(),
        running: true,
        process_config: ExecProcessConfig {
            tty: false,
            entrypoint: "sh".into(),
            arguments: vec!["-c".into(), "exit 3".into()],
            privileged: Some(false),
            user: String::new(),
        },
        open_stdout: true,
        open_stderr: true,
        container_id: "c1".into(),
        detach_keys: Some(vec![16, 17]),
        pid: 77,
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&running).unwrap(),
        r#"{"ID":"abc","Running":true,"ExitCode":null,"ProcessConfig":{"tty":false,"entrypoint":"sh","arguments":["-c","exit 3"],"privileged":false},"OpenStdin":false,"OpenStderr":true,"OpenStdout":true,"CanRemove":false,"ContainerID":"c1","DetachKeys":"EBE=","Pid":77}"#
    );
    let done = ExecInspect {
        running: false,
        exit_code: Some(3),
        ..running
    };
    let back: ExecInspect = serde_json::from_str(&serde_json::to_string(&done).unwrap()).unwrap();
    assert_eq!(back.exit_code, Some(3));
    assert_eq!(back.detach_keys, Some(vec![16, 17]));
}

#[test]
fn stats_as_docker_stats_reads_them() {
    let text = fixture!("stats_cgroup_v1.json");
    let s: Stats = serde_json::from_str(text).unwrap();
    assert_eq!(s.cpu_stats.online_cpus, 2);
    assert_eq!(s.memory_stats.stats["total_inactive_file"], 4096);
    assert_eq!(s.networks["eth0"].rx_bytes, 1296);
    assert_eq!(
        s.blkio_stats.io_service_bytes_recursive.as_ref().unwrap()[0].op,
        "Read"
    );
    assert_eq!(serde_json::to_string(&s).unwrap(), compact(text));

    // A first sample: preread is Go's zero time, precpu all zeros but present.
    let first = Stats {
        read: "2024-05-01T10:00:01.000000001Z".into(),
        name: "/web".into(),
        id: "abc".into(),
        ..Default::default()
    };
    let v: serde_json::Value = serde_json::to_value(&first).unwrap();
    assert_eq!(v["preread"], crate::ZERO_TIME);
    assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    assert_eq!(
        v["blkio_stats"]["io_service_bytes_recursive"],
        serde_json::Value::Null
    );
    assert_eq!(v["memory_stats"], serde_json::json!({}));
    assert!(v.get("networks").is_none());
}
