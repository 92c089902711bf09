//! Black-box: health checks with the stock `docker` CLI against berthd.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::Berthd;

fn wait_for(b: &Berthd, name: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, out, _) = b.d(&["inspect", "-f", "{{.State.Health.Status}}", name]);
        if out.trim() == want || Instant::now() > deadline {
            return out.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn health_goes_starting_healthy_unhealthy_with_events() {
    need_root!();
    let b = Berthd::start();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let (code, _, err) = b.d(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok || { echo not yet; exit 1; }",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ok; sleep 100",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, ps, _) = b.d(&["ps", "--format", "{{.Status}}"]);
    assert!(
        ps.contains("(health: starting)") || ps.contains("(unhealthy)") || ps.contains("(healthy)"),
        "{ps}"
    );
    assert_eq!(wait_for(&b, "hc", "healthy"), "healthy");
    let (_, ps, _) = b.d(&[
        "ps",
        "--filter",
        "health=healthy",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(
        ps.starts_with("hc Up ") && ps.trim_end().ends_with("(healthy)"),
        "{ps}"
    );
    let (code, _, _) = b.d(&["exec", "hc", "rm", "/tmp/ok"]);
    assert_eq!(code, 0);
    assert_eq!(wait_for(&b, "hc", "unhealthy"), "unhealthy");
    let (_, log, _) = b.d(&[
        "inspect",
        "-f",
        "{{.State.Health.FailingStreak}} {{(index .State.Health.Log 0).Output}}",
        "hc",
    ]);
    assert!(log.contains("not yet"), "{log}");
    let streak: i64 = log.split_whitespace().next().unwrap().parse().unwrap();
    assert!(streak >= 2, "{log}");
    // The events log has both transitions (asked again briefly: the last one may be in flight).
    let deadline = Instant::now() + Duration::from_secs(5);
    let ev = loop {
        let (_, ev, _) = b.d(&[
            "events",
            "--since",
            &since,
            "--until",
            "0s",
            "--filter",
            "container=hc",
            "--format",
            "{{.Action}}",
        ]);
        let has = |a: &str| ev.lines().any(|l| l == a);
        if (has("health_status: healthy") && has("health_status: unhealthy"))
            || Instant::now() > deadline
        {
            break ev;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let actions: Vec<&str> = ev
        .lines()
        .filter(|l| l.starts_with("health_status"))
        .collect();
    assert!(
        actions.contains(&"health_status: healthy")
            && actions.contains(&"health_status: unhealthy"),
        "{ev}"
    );
    b.d(&["rm", "-f", "hc"]);
}

#[test]
fn no_healthcheck_and_bad_values() {
    need_root!();
    let b = Berthd::start();
    let (code, _, err) = b.d(&[
        "run",
        "-d",
        "--name",
        "nh",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = b.d(&["inspect", "-f", "{{.State.Health}}", "nh"]);
    assert_eq!(out.trim(), "<nil>");
    let (_, ps, _) = b.d(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]);
    assert_eq!(ps, "nh\n");
    let (code, _, err) = b.d(&[
        "create",
        "--health-cmd",
        "true",
        "--health-interval",
        "1us",
        "busybox",
        "true",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot be less than"), "{err}");
    b.d(&["rm", "-f", "nh"]);
}
