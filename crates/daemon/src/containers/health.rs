//! Health checks: a probe run as an exec every interval while the container runs, with
//! Docker's rules (defaults 30 s / 30 s / 3 retries, a start period whose failures do not count
//! until the first success, the last five results kept, `health_status: …` events, the status
//! in `ps` and inspect, kept across daemon restarts).
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use berth_api::container::{ExecCreateRequest, Health, HealthConfig, HealthcheckResult};

use super::record::{now_ns, rfc3339_ns, Status};
use super::{ContainerService, Ctr};

const DEFAULT_INTERVAL: i64 = 30_000_000_000;
const DEFAULT_TIMEOUT: i64 = 30_000_000_000;
const DEFAULT_RETRIES: i64 = 3;
/// Docker keeps this much of a probe's output.
const MAX_OUTPUT: usize = 4096;
/// And this many results.
const MAX_LOG: usize = 5;

/// The probe's command, or `None` when health checks are off (`NONE`, no test).
pub fn probe_command(h: &HealthConfig) -> Option<Vec<String>> {
    match h.test.first().map(String::as_str) {
        Some("CMD") if h.test.len() > 1 => Some(h.test[1..].to_vec()),
        Some("CMD-SHELL") if h.test.len() > 1 => {
            Some(vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")])
        }
        _ => None,
    }
}

/// The image's health check under the request's: an empty test and zero durations inherit.
pub fn merge(req: &mut Option<HealthConfig>, image: Option<&HealthConfig>) {
    let Some(img) = image else { return };
    let Some(r) = req.as_mut() else {
        *req = Some(img.clone());
        return;
    };
    if r.test.is_empty() {
        r.test = img.test.clone();
    }
    for (mine, theirs) in [
        (&mut r.interval, img.interval),
        (&mut r.timeout, img.timeout),
        (&mut r.start_period, img.start_period),
        (&mut r.start_interval, img.start_interval),
        (&mut r.retries, img.retries),
    ] {
        if *mine == 0 {
            *mine = theirs;
        }
    }
}

/// Check a request's health config as Docker does (durations ≥ 1 ms or 0, retries ≥ 0).
pub fn validate(h: &HealthConfig) -> crate::Result<()> {
    let ms = 1_000_000;
    for (name, v) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        if v != 0 && v < ms {
            return Err(crate::Error::invalid(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if h.retries < 0 {
        return Err(crate::Error::invalid(
            "Retries in Healthcheck cannot be negative",
        ));
    }
    Ok(())
}

/// What one probe result does to the state (pure; `in_start_period` per Docker).
pub fn apply(
    h: &mut Health,
    result: HealthcheckResult,
    retries: i64,
    in_start_period: bool,
) -> Option<&'static str> {
    let before = h.status.clone();
    if result.exit_code == 0 {
        h.failing_streak = 0;
        h.status = "healthy".into();
    } else if !(in_start_period && h.status != "healthy") {
        h.failing_streak += 1;
        if h.failing_streak >= retries {
            h.status = "unhealthy".into();
        }
    }
    h.log.push(result);
    if h.log.len() > MAX_LOG {
        let extra = h.log.len() - MAX_LOG;
        h.log.drain(..extra);
    }
    (h.status != before).then(|| {
        if h.status == "healthy" {
            "healthy"
        } else {
            "unhealthy"
        }
    })
}

/// Docker's frames → the payload bytes, at most `MAX_OUTPUT`.
fn read_output(mut s: impl Read) -> String {
    let mut out = Vec::new();
    let mut hdr = [0u8; 8];
    while s.read_exact(&mut hdr).is_ok() {
        let n = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        let mut buf = vec![0u8; n];
        if s.read_exact(&mut buf).is_err() {
            break;
        }
        let room = MAX_OUTPUT.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ContainerService {
    /// Start the health monitor of a running container (from `monitor`, so also after a
    /// daemon restart); it ends when the container exits or is removed.
    pub(crate) fn health_monitor(self: &Arc<Self>, c: Arc<Ctr>) {
        let Ok(r) = c.rec.lock().map(|r| r.clone()) else {
            return;
        };
        let Some(cfg) = r.config.healthcheck.clone() else {
            return;
        };
        let Some(cmd) = probe_command(&cfg) else {
            return;
        };
        let svc = self.clone();
        let mut gen = c.gen.subscribe();
        let exits = gen.borrow().exits;
        tokio::spawn(async move {
            let interval = if cfg.interval > 0 {
                cfg.interval
            } else {
                DEFAULT_INTERVAL
            };
            let timeout = if cfg.timeout > 0 {
                cfg.timeout
            } else {
                DEFAULT_TIMEOUT
            };
            let retries = if cfg.retries > 0 {
                cfg.retries
            } else {
                DEFAULT_RETRIES
            };
            loop {
                let sleep = tokio::time::sleep(Duration::from_nanos(interval as u64));
                tokio::select! {
                    _ = sleep => {}
                    _ = gen.changed() => {}
                }
                let g = *gen.borrow();
                if g.removed || g.exits != exits {
                    return;
                }
                let (status, started, id) = match c.rec.lock() {
                    Ok(r) => (r.state.status, r.state.started_at_ns, r.id.clone()),
                    Err(_) => return,
                };
                if status != Status::Running {
                    continue;
                }
                let start = now_ns();
                let (code, output) = svc.probe(&id, cmd.clone(), timeout).await;
                let result = HealthcheckResult {
                    start: rfc3339_ns(start),
                    end: rfc3339_ns(now_ns()),
                    exit_code: code,
                    output,
                };
                let in_start = cfg.start_period > 0 && start - started < cfg.start_period;
                let changed = match c.rec.lock() {
                    Ok(mut r) => {
                        // Exited meanwhile: the result is stale.
                        if r.state.status != Status::Running {
                            return;
                        }
                        let h = r.state.health.get_or_insert_with(Default::default);
                        apply(h, result, retries, in_start)
                    }
                    Err(_) => return,
                };
                let _ = svc.save(&c);
                if let Some(s) = changed {
                    svc.event(&c, &format!("health_status: {s}"), Default::default());
                }
            }
        });
    }

    /// Run the probe as an exec; `(exit code, output)`. A probe that outlives `timeout` is
    /// killed and counts as a failure with Docker's message.
    async fn probe(&self, id: &str, cmd: Vec<String>, timeout: i64) -> (i64, String) {
        let req = ExecCreateRequest {
            cmd: Some(cmd),
            attach_stdout: true,
            attach_stderr: true,
            ..ExecCreateRequest::default()
        };
        let exec = match self.exec_create(id, req) {
            Ok(e) => e,
            Err(e) => return (-1, e.message),
        };
        let started = match self.exec_start(&exec, false).await {
            Ok(s) => s,
            Err(e) => return (-1, e.message),
        };
        let pid = self.exec_pid(&exec);
        let read = tokio::task::spawn_blocking(move || {
            started.stream.map(read_output).unwrap_or_default()
        });
        let limit = Duration::from_nanos(timeout as u64);
        match tokio::time::timeout(limit, read).await {
            Ok(out) => {
                let out = out.unwrap_or_default();
                let code = self.exec_finish(&exec).await.unwrap_or(-1);
                self.exec_forget(&exec);
                (code, out)
            }
            Err(_) => {
                if pid > 0 {
                    let _ = rustix::process::kill_process(
                        rustix::process::Pid::from_raw(pid as i32)
                            .unwrap_or(rustix::process::Pid::INIT),
                        rustix::process::Signal::KILL,
                    );
                }
                let _ = self.exec_finish(&exec).await;
                self.exec_forget(&exec);
                let secs = Duration::from_nanos(timeout as u64);
                (-1, format!("Health check exceeded timeout ({secs:?})"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            exit_code: code,
            ..HealthcheckResult::default()
        }
    }

    #[test]
    fn status_follows_dockers_rules() {
        let mut h = Health {
            status: "starting".into(),
            ..Health::default()
        };
        // Failures in the start period do not count until the first success.
        assert_eq!(apply(&mut h, res(1), 2, true), None);
        assert_eq!(h.failing_streak, 0);
        assert_eq!(apply(&mut h, res(0), 2, true), Some("healthy"));
        assert_eq!(apply(&mut h, res(1), 2, true), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(apply(&mut h, res(1), 2, false), Some("unhealthy"));
        assert_eq!(apply(&mut h, res(1), 2, false), None);
        assert_eq!(h.log.len(), 5);
        assert_eq!(apply(&mut h, res(0), 2, false), Some("healthy"));
        assert_eq!(h.log.len(), 5);
        assert_eq!(h.failing_streak, 0);
    }

    #[test]
    fn probe_commands_and_inheritance() {
        let hc = |t: &[&str]| HealthConfig {
            test: t.iter().map(|s| s.to_string()).collect(),
            ..HealthConfig::default()
        };
        assert_eq!(
            probe_command(&hc(&["CMD", "true"])),
            Some(vec!["true".to_string()])
        );
        assert_eq!(
            probe_command(&hc(&["CMD-SHELL", "wget -q localhost || exit 1"])),
            Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "wget -q localhost || exit 1".into()
            ])
        );
        assert_eq!(probe_command(&hc(&["NONE"])), None);
        let mut req = Some(HealthConfig {
            interval: 5,
            ..HealthConfig::default()
        });
        let img = HealthConfig {
            test: vec!["CMD".into(), "x".into()],
            interval: 9,
            retries: 7,
            ..HealthConfig::default()
        };
        merge(&mut req, Some(&img));
        let r = req.unwrap_or_default();
        assert_eq!((r.test.len(), r.interval, r.retries), (2, 5, 7));
    }

    #[test]
    fn output_is_unframed_and_capped() {
        let mut s = Vec::new();
        s.extend_from_slice(&berth_shim::protocol::stream::header(1, 3));
        s.extend_from_slice(b"ok\n");
        s.extend_from_slice(&berth_shim::protocol::stream::header(2, 5000));
        s.extend(std::iter::repeat_n(b'e', 5000));
        let out = read_output(&s[..]);
        assert!(out.starts_with("ok\neee"));
        assert_eq!(out.len(), MAX_OUTPUT);
    }
}
