use super::*;
use serde_json::json;

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).expect("valid LinuxResources json")
}

/// The plan as `file=value` strings.
fn writes(v: serde_json::Value, version: Version) -> Vec<String> {
    plan(&res(v), version)
        .expect("plan")
        .writes
        .iter()
        .map(|w| w.to_string())
        .collect()
}

fn err(v: serde_json::Value, version: Version) -> String {
    plan(&res(v), version)
        .expect_err("plan must fail")
        .to_string()
}

fn warnings(v: serde_json::Value, version: Version) -> Vec<String> {
    plan(&res(v), version)
        .expect("plan")
        .warnings
        .iter()
        .map(|w| w.field.clone())
        .collect()
}

use Version::{V1, V2};

#[test]
fn empty_resources_plan_nothing() {
    for v in [V1, V2] {
        let p = plan(&LinuxResources::default(), v).unwrap();
        assert!(p.writes.is_empty() && p.warnings.is_empty() && p.devices.is_none());
    }
}

#[test]
fn memory_v1() {
    let w = writes(
        json!({"memory": {"limit": 33554432, "reservation": 16777216, "swap": 67108864,
                          "swappiness": 10, "disableOOMKiller": true}}),
        V1,
    );
    assert_eq!(
        w,
        [
            "memory.limit_in_bytes=33554432",
            "memory.memsw.limit_in_bytes=67108864",
            "memory.soft_limit_in_bytes=16777216",
            "memory.swappiness=10",
            "memory.oom_control=1",
        ]
    );
    // Unlimited memory without swap: unlimited memsw too, skipped if swap isn't accounted.
    let p = plan(&res(json!({"memory": {"limit": -1}})), V1).unwrap();
    assert_eq!(p.writes.len(), 2);
    assert_eq!(p.writes[1].to_string(), "memory.memsw.limit_in_bytes=-1");
    assert!(p.writes[1].optional && !p.writes[0].optional);
    // 0 means unset.
    assert!(writes(
        json!({"memory": {"limit": 0, "swap": 0, "reservation": 0}}),
        V1
    )
    .is_empty());
    assert_eq!(
        writes(json!({"memory": {"disableOOMKiller": false}}), V1),
        ["memory.oom_control=0"]
    );
}

#[test]
fn memory_v2() {
    let w = writes(
        json!({"memory": {"limit": 33554432, "reservation": 16777216, "swap": 67108864}}),
        V2,
    );
    assert_eq!(
        w,
        [
            "memory.swap.max=33554432",
            "memory.max=33554432",
            "memory.low=16777216",
        ]
    );
    // swap == limit: no swap at all.
    let p = plan(
        &res(json!({"memory": {"limit": 1048576, "swap": 1048576}})),
        V2,
    )
    .unwrap();
    assert_eq!(p.writes[0].to_string(), "memory.swap.max=0");
    assert!(p.writes[0].optional);
    assert_eq!(
        writes(json!({"memory": {"limit": -1}}), V2),
        ["memory.swap.max=max", "memory.max=max"]
    );
    assert_eq!(
        writes(json!({"memory": {"limit": 1048576, "swap": -1}}), V2),
        ["memory.swap.max=max", "memory.max=1048576"]
    );
    assert!(err(json!({"memory": {"swap": 1048576}}), V2).contains("needs a memory limit"));
}

#[test]
fn memory_warnings_and_errors() {
    let spec = json!({"memory": {"kernel": 1048576, "kernelTCP": 1048576, "swappiness": 60,
                                 "disableOOMKiller": true}});
    assert_eq!(
        warnings(spec.clone(), V1),
        ["linux.resources.memory.kernel"]
    );
    assert_eq!(
        warnings(spec, V2),
        [
            "linux.resources.memory.swappiness",
            "linux.resources.memory.disableOOMKiller",
            "linux.resources.memory.kernel",
            "linux.resources.memory.kernelTCP",
        ]
    );
    assert_eq!(
        writes(json!({"memory": {"kernel": 1, "kernelTCP": 1048576}}), V1),
        ["memory.kmem.tcp.limit_in_bytes=1048576"]
    );
    assert_eq!(
        err(json!({"memory": {"limit": -2}}), V1),
        "linux.resources.memory.limit: -2 is negative (only -1, unlimited, is allowed)"
    );
    assert!(err(json!({"memory": {"reservation": -5}}), V2)
        .starts_with("linux.resources.memory.reservation:"));
    assert_eq!(
        err(json!({"memory": {"swappiness": 101}}), V1),
        "linux.resources.memory.swappiness: 101 is above the maximum of 100"
    );
    assert!(
        err(json!({"memory": {"limit": 2000000, "swap": 1000000}}), V1)
            .starts_with("linux.resources.memory.swap: 1000000 is below the memory limit")
    );
}

#[test]
fn cpu_v1() {
    let w = writes(
        json!({"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000,
                       "realtimeRuntime": 950, "realtimePeriod": 1000000, "idle": 0,
                       "cpus": "0-1", "mems": "0"}}),
        V1,
    );
    assert_eq!(
        w,
        [
            "cpu.shares=512",
            "cpu.cfs_period_us=100000",
            "cpu.cfs_quota_us=50000",
            "cpu.cfs_burst_us=1000",
            "cpu.rt_period_us=1000000",
            "cpu.rt_runtime_us=950",
            "cpu.idle=0",
            "cpuset.cpus=0-1",
            "cpuset.mems=0",
        ]
    );
    assert_eq!(
        writes(json!({"cpu": {"quota": -1}}), V1),
        ["cpu.cfs_quota_us=-1"]
    );
    assert!(writes(json!({"cpu": {"shares": 0, "quota": 0, "cpus": ""}}), V1).is_empty());
}

#[test]
fn cpu_v2() {
    let w = writes(
        json!({"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000,
                       "idle": 1, "cpus": "0,1", "mems": "0"}}),
        V2,
    );
    assert_eq!(
        w,
        [
            "cpu.weight=39",
            "cpu.max=50000 100000",
            "cpu.max.burst=1000",
            "cpu.idle=1",
            "cpuset.cpus=0,1",
            "cpuset.mems=0",
        ]
    );
    assert_eq!(
        writes(json!({"cpu": {"quota": -1, "period": 50000}}), V2),
        ["cpu.max=max 50000"]
    );
    assert_eq!(
        writes(json!({"cpu": {"period": 50000}}), V2),
        ["cpu.max=max 50000"]
    );
    assert_eq!(
        writes(json!({"cpu": {"quota": 20000}}), V2),
        ["cpu.max=20000"]
    );
    let p = plan(&res(json!({"cpu": {"cpus": "0"}})), V2).unwrap();
    assert_eq!(p.writes[0].controller, Controller::Cpuset);
    assert!(
        err(json!({"cpu": {"realtimeRuntime": 950}}), V2).contains("not supported on cgroup v2")
    );
}

#[test]
fn cpu_errors_name_the_field() {
    for v in [V1, V2] {
        assert!(err(json!({"cpu": {"quota": -7}}), v).starts_with("linux.resources.cpu.quota:"));
        assert!(err(json!({"cpu": {"cpus": "0-"}}), v).starts_with("linux.resources.cpu.cpus:"));
        assert!(err(json!({"cpu": {"mems": "a"}}), v).starts_with("linux.resources.cpu.mems:"));
        assert!(err(json!({"cpu": {"idle": 2}}), v).starts_with("linux.resources.cpu.idle:"));
    }
    assert!(err(json!({"cpu": {"realtimeRuntime": -3}}), V1)
        .starts_with("linux.resources.cpu.realtimeRuntime:"));
}

#[test]
fn zero_means_unset_like_runc() {
    // What Docker sends: `docker run` has {"cpu":{"shares":0},"blockIO":{"weight":0}},
    // `docker update` has {"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}.
    let none: Vec<String> = Vec::new();
    for v in [V1, V2] {
        assert_eq!(
            writes(json!({"cpu": {"shares": 0, "quota": 0, "period": 0}}), v),
            none
        );
        assert_eq!(
            writes(json!({"blockIO": {"weight": 0, "leafWeight": 0}}), v),
            none
        );
        assert_eq!(
            writes(
                json!({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 0}]}}),
                v
            ),
            none
        );
        assert!(warnings(json!({"blockIO": {"leafWeight": 0}}), v).is_empty());
    }
    assert_eq!(writes(json!({"cpu": {"realtimePeriod": 0}}), V1), none);
}

#[test]
fn cpu_lists() {
    for ok in ["0", "0-3", "0-3,5,7-8", " 1 "] {
        validate_cpu_list("f", ok).unwrap();
    }
    for bad in [
        "",
        ",",
        "0,",
        "3-1",
        "a",
        "0-1-2",
        "-1",
        "1,,2",
        "99999999999",
    ] {
        assert!(validate_cpu_list("f", bad).is_err(), "{bad:?}");
    }
}

#[test]
fn shares_to_weight_matches_runc() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10000);
    assert_eq!(shares_to_weight(512), 20);
    // Out-of-range shares are clamped, as the v1 kernel would.
    assert_eq!(shares_to_weight(1), 1);
    assert_eq!(shares_to_weight(1 << 40), 10000);
}

#[test]
fn blkio_weight_conversion_matches_runc() {
    assert_eq!(blkio_weight_to_io_weight(10), 1);
    assert_eq!(blkio_weight_to_io_weight(500), 4950);
    assert_eq!(blkio_weight_to_io_weight(1000), 10000);
}

#[test]
fn pids() {
    for v in [V1, V2] {
        assert_eq!(writes(json!({"pids": {"limit": 20}}), v), ["pids.max=20"]);
        assert_eq!(writes(json!({"pids": {"limit": 0}}), v), ["pids.max=max"]);
        assert_eq!(writes(json!({"pids": {"limit": -1}}), v), ["pids.max=max"]);
    }
}

fn blkio_spec() -> serde_json::Value {
    json!({"blockIO": {
        "weight": 500, "leafWeight": 300,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 100}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 2097152}],
        "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]
    }})
}

#[test]
fn blkio_v1() {
    assert_eq!(
        writes(blkio_spec(), V1),
        [
            "blkio.weight=500",
            "blkio.leaf_weight=300",
            "blkio.weight_device=8:0 600",
            "blkio.leaf_weight_device=8:0 100",
            "blkio.throttle.read_bps_device=8:0 1048576",
            "blkio.throttle.write_bps_device=8:16 2097152",
            "blkio.throttle.read_iops_device=8:0 100",
            "blkio.throttle.write_iops_device=8:0 0",
        ]
    );
}

#[test]
fn io_v2() {
    let p = plan(&res(blkio_spec()), V2).unwrap();
    let w: Vec<String> = p.writes.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "io.weight=4950",
            "io.weight=8:0 5960",
            "io.max=8:0 rbps=1048576",
            "io.max=8:16 wbps=2097152",
            "io.max=8:0 riops=100",
            "io.max=8:0 wiops=max",
        ]
    );
    assert!(p.writes.iter().all(|w| w.controller == Controller::Io));
    assert_eq!(p.warnings.len(), 2);
}

#[test]
fn blkio_errors() {
    for v in [V1, V2] {
        assert_eq!(
            err(json!({"blockIO": {"weight": 5}}), v),
            "linux.resources.blockIO.weight: 5 is outside 10..1000"
        );
        assert!(err(
            json!({"blockIO": {"throttleReadBpsDevice": [{"major": -8, "minor": 0, "rate": 1}]}}),
            v
        )
        .starts_with("linux.resources.blockIO.throttleReadBpsDevice[0]:"));
    }
}

#[test]
fn hugepages() {
    let spec = json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304},
                                         {"pageSize": "1GB", "limit": -1}]});
    assert_eq!(
        writes(spec.clone(), V1),
        [
            "hugetlb.2MB.limit_in_bytes=4194304",
            "hugetlb.1GB.limit_in_bytes=-1"
        ]
    );
    assert_eq!(
        writes(spec, V2),
        ["hugetlb.2MB.max=4194304", "hugetlb.1GB.max=max"]
    );
    assert!(err(
        json!({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}),
        V1
    )
    .starts_with("linux.resources.hugepageLimits[0].pageSize:"));
    assert!(err(
        json!({"hugepageLimits": [{"pageSize": "../x", "limit": 1}]}),
        V2
    )
    .contains("pageSize"));
    assert!(err(
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": -9}]}),
        V2
    )
    .contains("limit"));
}

#[test]
fn network() {
    let spec = json!({"network": {"classID": 1048577,
                                  "priorities": [{"name": "eth0", "priority": 500}]}});
    let p = plan(&res(spec.clone()), V1).unwrap();
    let w: Vec<String> = p.writes.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        ["net_cls.classid=1048577", "net_prio.ifpriomap=eth0 500"]
    );
    assert_eq!(p.writes[0].controller, Controller::NetCls);
    assert_eq!(p.writes[1].controller, Controller::NetPrio);
    let e = err(spec, V2);
    assert!(
        e.starts_with("linux.resources.network: not supported on cgroup v2"),
        "{e}"
    );
    assert!(writes(json!({"network": {}}), V2).is_empty());
}

#[test]
fn rdma() {
    let spec = json!({"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4_0": {"hcaHandles": 2}}});
    for v in [V1, V2] {
        assert_eq!(
            writes(spec.clone(), v),
            [
                "rdma.max=mlx4_0 hca_handle=2",
                "rdma.max=mlx5_1 hca_handle=3 hca_object=10000"
            ]
        );
    }
}

fn devices_spec() -> serde_json::Value {
    json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": true, "type": "c", "major": 136, "access": "mwr"},
        {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "w"},
        {"allow": true, "type": "p", "access": "rwm"}
    ]})
}

#[test]
fn devices_v1_in_spec_order_after_deny_all() {
    let p = plan(&res(devices_spec()), V1).unwrap();
    let w: Vec<String> = p.writes.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "devices.deny=a *:* rwm",
            "devices.deny=a *:* rwm",
            "devices.allow=c 1:3 rw",
            "devices.allow=c 136:* rwm",
            "devices.deny=b 8:0 w",
        ]
    );
    assert_eq!(
        p.warnings.len(),
        1,
        "the FIFO rule is ignored with a warning"
    );
    assert_eq!(p.devices.as_ref().unwrap().len(), 5);
}

#[test]
fn devices_v2_are_returned_as_rules() {
    let p = plan(&res(devices_spec()), V2).unwrap();
    assert!(p.writes.is_empty());
    let rules = p.devices.unwrap();
    assert_eq!(rules[0], DeviceRule::deny_all());
    assert_eq!(
        rules[2],
        DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: Some(1),
            minor: Some(3),
            access: "rw".into()
        }
    );
    assert_eq!(rules[3].minor, None);
    assert_eq!(rules[3].access, "rwm");
    // An empty list still denies everything.
    let p = plan(&res(json!({"devices": []})), V2).unwrap();
    assert_eq!(p.devices.unwrap(), [DeviceRule::deny_all()]);
}

#[test]
fn device_errors() {
    for v in [V1, V2] {
        assert!(
            err(json!({"devices": [{"allow": true, "access": "rx"}]}), v)
                .starts_with("linux.resources.devices[0].access:")
        );
        assert!(err(
            json!({"devices": [{"allow": true, "type": "c", "major": -5}]}),
            v
        )
        .starts_with("linux.resources.devices[0].major:"));
    }
}

#[test]
fn unified() {
    let spec =
        json!({"unified": {"memory.high": "1048576", "cgroup.max.depth": "3", "pids.max": "9"}});
    let p = plan(&res(spec.clone()), V2).unwrap();
    let w: Vec<String> = p.writes.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        ["cgroup.max.depth=3", "memory.high=1048576", "pids.max=9"]
    );
    assert_eq!(p.writes[0].controller, Controller::Core);
    assert_eq!(p.writes[1].controller, Controller::Memory);
    let e = err(spec, V1);
    assert!(
        e.contains("unified[\"cgroup.max.depth\"]") && e.contains("cgroup v1"),
        "{e}"
    );
    for bad in ["memory", "../memory.max", ".memory", "memory.", "a/b.c"] {
        let mut m = serde_json::Map::new();
        m.insert(bad.into(), json!("1"));
        assert!(
            plan(&res(json!({"unified": m})), V2).is_err(),
            "{bad} must be refused"
        );
    }
    // Unified writes come last, so they override typed fields.
    let w = writes(
        json!({"pids": {"limit": 5}, "unified": {"pids.max": "7"}}),
        V2,
    );
    assert_eq!(w, ["pids.max=5", "pids.max=7"]);
}

#[test]
fn swappable_pairs() {
    let w = |f: &str| Write::new(Controller::Memory, f, 1);
    assert!(swappable_pair(
        &w("memory.limit_in_bytes"),
        &w("memory.memsw.limit_in_bytes")
    ));
    assert!(swappable_pair(
        &w("cpu.cfs_period_us"),
        &w("cpu.cfs_quota_us")
    ));
    assert!(!swappable_pair(
        &w("memory.memsw.limit_in_bytes"),
        &w("memory.limit_in_bytes")
    ));
}
