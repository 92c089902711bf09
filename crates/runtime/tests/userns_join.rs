//! A container in a new user namespace that joins a network namespace the host owns (as berthd
//! makes them): create joins it from outside and writes its sysctls there, exec joins it before
//! the user namespace. Root only.
mod common;

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use common::Bundle;
use serde_json::json;

/// A network namespace held by a bind mount on a file in the bundle's directory.
struct NetnsHandle(PathBuf);

impl Drop for NetnsHandle {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_new_user_namespace_joins_a_host_owned_network_namespace() {
    need_root!();
    let mut b = Bundle::new();
    let path = b.dir.join("netns");
    std::fs::write(&path, "").expect("handle file");
    let st = Command::new("unshare")
        .arg(format!("--net={}", path.display()))
        .arg("true")
        .status()
        .expect("unshare");
    assert!(st.success());
    let handle = NetnsHandle(path.clone());
    let ino = std::fs::metadata(&handle.0).expect("stat handle").ino();
    if let Some(ns) = b.spec["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "user"}));
        ns.push(json!({"type": "network", "path": path}));
    }
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.spec["linux"]["sysctl"] = json!({
        "net.ipv4.ip_unprivileged_port_start": "7",
        "kernel.shmmni": "1234",
    });
    b.args(&[
        "sh",
        "-c",
        "id -u; readlink /proc/self/ns/net; cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni",
    ]);
    let (code, out, err) = b.run("uj1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("0\nnet:[{ino}]\n7\n1234\n"),
        "root inside, the host-owned netns joined, both sysctls set"
    );

    // exec into such a container joins the same namespaces.
    b.args(&["sleep", "30"]);
    b.write("uj2");
    let dir = b.dir.display().to_string();
    let o = b.runc(&["run", "-d", "-b", &dir, "uj2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = b.runc(&[
        "exec",
        "uj2",
        "sh",
        "-c",
        "id -u; readlink /proc/self/ns/net",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("0\nnet:[{ino}]\n")
    );
    let _ = b.runc(&["delete", "-f", "uj2"]);
    drop(handle);
    drop(b);
}
