//! Compile-time measurement of Docker's default profile. Prints figures, asserts no times.
//! `cargo test --release -p berth-runtime --test seccomp_compile_time -- --nocapture`

mod seccomp_support;

use std::time::{Duration, Instant};

use berth_runtime::seccomp;

#[test]
fn docker_default_compiles_and_reports_time() {
    let spec = seccomp_support::docker_default();
    let plan = seccomp::translate(&spec).expect("translate");
    eprintln!(
        "docker default: {} rules, skipped names unknown to libseccomp: {:?}",
        plan.rules.len(),
        plan.skipped
    );
    let first = Instant::now();
    let prog = seccomp::compile(&spec).expect("compile");
    let first = first.elapsed();
    let mut times: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let p = seccomp::compile(&spec).expect("compile");
            let d = t.elapsed();
            assert_eq!(p, prog, "compilation is deterministic");
            d
        })
        .collect();
    times.sort();
    eprintln!(
        "docker default: {} BPF instructions, first compile {:?}, median of 21 {:?} (min {:?}, max {:?})",
        prog.instructions().len(),
        first,
        times[10],
        times[0],
        times[20]
    );
    let mut tt: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let p = seccomp::translate(&spec).expect("translate");
            let d = t.elapsed();
            assert_eq!(p.rules.len(), plan.rules.len());
            d
        })
        .collect();
    tt.sort();
    eprintln!(
        "docker default: translate alone (name resolution), median {:?}",
        tt[10]
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("seccomp-cache");
    assert_eq!(seccomp::compile_cached(&spec, &cache).expect("fill"), prog);
    let mut ct: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let p = seccomp::compile_cached(&spec, &cache).expect("cached");
            let d = t.elapsed();
            assert_eq!(p, prog);
            d
        })
        .collect();
    ct.sort();
    eprintln!("docker default: compile_cached hit, median {:?}", ct[10]);
    assert!(prog.instructions().len() <= seccomp::MAX_INSNS);
}
