//! OCI hooks: each runs with the container's state on stdin, its own args and env, and an
//! optional timeout after which it is killed and counted as failed.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Result, RuntimeError};

/// Run hooks in order; the first failure stops the list.
pub fn run_all(kind: &str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run(h, state_json).map_err(|e| RuntimeError::Setup(format!("{kind}[{i}] hook: {e}")))?;
    }
    Ok(())
}

/// Run every hook in order, logging a warning for each that fails: the spec's rule for
/// poststart and poststop hooks ("the remaining hooks and lifecycle continue as if the hook had
/// succeeded").
pub fn run_all_warn(kind: &str, hooks: &[Hook], state_json: &[u8]) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run(h, state_json) {
            crate::warn(&format!("{kind}[{i}] hook: {e}"));
        }
    }
}

fn run(h: &Hook, state_json: &[u8]) -> std::result::Result<(), String> {
    let path = h.path();
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(path);
    if let Some((first, rest)) = args.split_first() {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(state_json);
    }
    let deadline = h
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(format!("{}: wait: {e}", path.display())),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{}: timed out after {}s",
                path.display(),
                h.timeout().unwrap_or(0)
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    Err(format!("{}: {status}: {}", path.display(), err.trim()))
}
