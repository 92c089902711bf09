//! Shared by the seccomp integration tests: Docker's default profile (moby's own format)
//! rendered into an OCI `LinuxSeccomp` for amd64 and a capability set, the way moby does it.

#![allow(dead_code)]

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

pub const DOCKER_PROFILE: &str = "/work/shared/reference/docker-default-seccomp.json";

/// Docker's default capabilities.
pub const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Renders moby's profile for `arch` (moby's GOARCH names: "amd64") and `caps`, applying
/// includes/excludes (caps, arches; minKernel is assumed satisfied), into an OCI document.
pub fn render_docker(profile: &Value, arch: &str, caps: &[&str]) -> Value {
    let scmp_arch = match arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        other => panic!("arch {other} not handled by this test helper"),
    };
    let mut arches = Vec::new();
    for m in profile["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == scmp_arch {
            arches.push(scmp_arch.to_string());
            arches.extend(
                strings(m.get("subArchitectures"))
                    .into_iter()
                    .map(String::from),
            );
        }
    }
    let mut syscalls = Vec::new();
    'entries: for s in profile["syscalls"].as_array().into_iter().flatten() {
        let inc = &s["includes"];
        let exc = &s["excludes"];
        for c in strings(inc.get("caps")) {
            if !caps.contains(&c) {
                continue 'entries;
            }
        }
        let inc_arches = strings(inc.get("arches"));
        if !inc_arches.is_empty() && !inc_arches.contains(&arch) {
            continue;
        }
        if strings(exc.get("caps")).iter().any(|c| caps.contains(c)) {
            continue;
        }
        if strings(exc.get("arches")).contains(&arch) {
            continue;
        }
        let mut out = json!({ "names": s["names"], "action": s["action"] });
        if let Some(e) = s.get("errnoRet") {
            out["errnoRet"] = e.clone();
        }
        if let Some(args) = s.get("args").filter(|a| a.is_array()) {
            out["args"] = args.clone();
        }
        syscalls.push(out);
    }
    let mut doc = json!({
        "defaultAction": profile["defaultAction"],
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(e) = profile.get("defaultErrnoRet") {
        doc["defaultErrnoRet"] = e.clone();
    }
    doc
}

/// Docker's default profile for amd64 and Docker's default capabilities.
pub fn docker_default() -> LinuxSeccomp {
    let text = std::fs::read_to_string(DOCKER_PROFILE).expect("read the Docker profile");
    let profile: Value = serde_json::from_str(&text).expect("profile is JSON");
    let doc = render_docker(&profile, "amd64", DOCKER_CAPS);
    serde_json::from_value(doc).expect("rendered profile is a valid LinuxSeccomp")
}
