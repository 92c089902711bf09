//! Builds `berth-init` (init/main.rs) as a static executable: it runs inside images that have no
//! C library, so it cannot be one of the workspace's dynamically linked binaries.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=init/main.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("berth-init");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = Command::new(rustc)
        .args(["--edition", "2021", "-O", "--crate-name", "berth_init"])
        .args([
            "-C",
            "target-feature=+crt-static",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .arg("-o")
        .arg(&out)
        .arg("init/main.rs")
        .status()
        .expect("run rustc for berth-init");
    assert!(status.success(), "building berth-init failed");
}
