//! `docker exec`: processes started beside a running container's init, through its shim.
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use berth_api::container::{ExecCreateRequest, ExecInspect, ExecProcessConfig};
use berth_shim::{AttachHello, ExecSpec, Request, ShimClient};

use super::{poisoned, ContainerService};
use crate::error::{Error, Result};

/// One exec, as the daemon remembers it (in memory: execs do not survive a daemon restart).
#[derive(Debug, Clone)]
pub struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub req: ExecCreateRequest,
    pub running: bool,
    pub started: bool,
    pub pid: i64,
    pub exit_code: Option<i64>,
}

/// The exec table.
#[derive(Debug, Default)]
pub struct Execs {
    all: Mutex<HashMap<String, ExecRecord>>,
}

/// An exec that has started: its stream (unless detached) and how to finish it.
#[derive(Debug)]
pub struct StartedExec {
    pub stream: Option<UnixStream>,
    pub tty: bool,
}

impl ContainerService {
    fn exec_get(&self, id: &str) -> Result<ExecRecord> {
        self.execs
            .all
            .lock()
            .map_err(poisoned)?
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    fn exec_update(&self, id: &str, f: impl FnOnce(&mut ExecRecord)) {
        if let Ok(mut all) = self.execs.all.lock() {
            if let Some(r) = all.get_mut(id) {
                f(r);
            }
        }
    }

    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, name: &str, req: ExecCreateRequest) -> Result<String> {
        let r = self.record(name)?;
        if !r.state.status.is_live() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        if r.state.status == super::Status::Paused {
            return Err(Error::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                r.id
            )));
        }
        if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(Error::invalid("No exec command specified"));
        }
        let id = {
            let mut b = [0u8; 32];
            rand::fill(&mut b[..]);
            hex::encode(b)
        };
        self.execs.all.lock().map_err(poisoned)?.insert(
            id.clone(),
            ExecRecord {
                id: id.clone(),
                container_id: r.id.clone(),
                req,
                running: false,
                started: false,
                pid: 0,
                exit_code: None,
            },
        );
        let c = self.get(&r.id)?;
        self.event(
            &c,
            &format!(
                "exec_create: {}",
                self.exec_get(&id)
                    .map(|e| e.req.cmd.unwrap_or_default().join(" "))
                    .unwrap_or_default()
            ),
            Default::default(),
        );
        Ok(id)
    }

    /// The OCI process of an exec: the container's own process with the exec's overrides.
    fn exec_process(&self, e: &ExecRecord) -> Result<oci_spec::runtime::Process> {
        let cfg = std::fs::read(self.dir(&e.container_id).join("bundle/config.json"))?;
        let spec: serde_json::Value = serde_json::from_slice(&cfg)
            .map_err(|x| Error::internal(format!("config.json: {x}")))?;
        let mut p = spec["process"].clone();
        p["args"] = serde_json::json!(e.req.cmd.clone().unwrap_or_default());
        p["terminal"] = serde_json::json!(e.req.tty);
        let mut env: Vec<String> = p["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for kv in e.req.env.iter().flatten() {
            let key = kv.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p["env"] = serde_json::json!(env);
        if !e.req.working_dir.is_empty() {
            p["cwd"] = serde_json::json!(e.req.working_dir);
        }
        if !e.req.user.is_empty() && super::lifecycle::numeric_user(&e.req.user) {
            let (uid, gid) = super::spec::user(&e.req.user)?;
            p["user"] = serde_json::json!({"uid": uid, "gid": gid});
        }
        if e.req.privileged {
            let all = super::spec::host_caps();
            p["capabilities"] =
                serde_json::json!({"bounding": all, "effective": all, "permitted": all});
        }
        if let Some(o) = p.as_object_mut() {
            o.remove("consoleSize");
        }
        serde_json::from_value(p).map_err(|x| Error::internal(format!("exec process: {x}")))
    }

    /// `POST /exec/{id}/start`: prepare, connect the stream, start. The caller proxies the
    /// stream and then calls [`ContainerService::exec_finish`].
    pub async fn exec_start(&self, id: &str, detach: bool) -> Result<StartedExec> {
        let e = self.exec_get(id)?;
        if e.started {
            return Err(Error::conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        let c = self.get(&e.container_id)?;
        if !c.rec.lock().map_err(poisoned)?.state.status.is_live() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                e.container_id
            )));
        }
        self.exec_update(id, |r| r.started = true);
        let process = self.exec_process(&e)?;
        let client = ShimClient::new(self.shim_dir(&e.container_id));
        let attach = !detach && (e.req.attach_stdin || e.req.attach_stdout || e.req.attach_stderr);
        let hello = AttachHello {
            stdin: e.req.attach_stdin,
            stdout: e.req.attach_stdout,
            stderr: e.req.attach_stderr,
        };
        let spec = ExecSpec {
            id: id.to_string(),
            process,
            open_stdin: e.req.attach_stdin && !detach,
            user: Some(e.req.user.clone()).filter(|u| !super::lifecycle::numeric_user(u)),
        };
        let res = tokio::task::spawn_blocking(move || -> Result<(Option<UnixStream>, i32)> {
            client.call(&Request::ExecPrepare {
                exec: Box::new(spec.clone()),
            })?;
            let stream = if attach {
                Some(client.attach(Some(&spec.id), hello)?)
            } else {
                None
            };
            let pid = client
                .call(&Request::ExecStart {
                    id: spec.id.clone(),
                })?
                .pid
                .unwrap_or(0);
            Ok((stream, pid))
        })
        .await
        .map_err(|x| Error::internal(x.to_string()))?;
        match res {
            Ok((stream, pid)) => {
                self.exec_update(id, |r| {
                    r.running = true;
                    r.pid = pid as i64;
                });
                self.event(
                    &c,
                    &format!(
                        "exec_start: {}",
                        e.req.cmd.clone().unwrap_or_default().join(" ")
                    ),
                    Default::default(),
                );
                Ok(StartedExec {
                    stream,
                    tty: e.req.tty,
                })
            }
            Err(x) => {
                // Docker: the error text is the output, exit code 126 (127 for a missing binary).
                let code = if x.message.contains("no such file") || x.message.contains("not found")
                {
                    127
                } else {
                    126
                };
                self.exec_update(id, |r| {
                    r.running = false;
                    r.exit_code = Some(code);
                });
                Err(x)
            }
        }
    }

    /// Wait for the exec to end and record its exit code (call once its stream has closed).
    pub async fn exec_finish(&self, id: &str) -> Result<i64> {
        let e = self.exec_get(id)?;
        if let Some(c) = e.exit_code {
            return Ok(c);
        }
        let client = ShimClient::new(self.shim_dir(&e.container_id));
        let x = id.to_string();
        let r = tokio::task::spawn_blocking(move || client.call(&Request::ExecWait { id: x }))
            .await
            .map_err(|x| Error::internal(x.to_string()))?;
        let code = match r {
            Ok(r) => r.exit.map(|e| e.code as i64).unwrap_or(-1),
            // The container (and its shim) ended first: the exec was killed with it.
            Err(_) => 137,
        };
        self.exec_update(id, |r| {
            r.running = false;
            r.exit_code = Some(code);
        });
        if let Ok(c) = self.get(&e.container_id) {
            self.event(
                &c,
                "exec_die",
                std::collections::BTreeMap::from([
                    ("exitCode".to_string(), code.to_string()),
                    ("execID".to_string(), id.to_string()),
                ]),
            );
        }
        Ok(code)
    }

    /// For a detached exec: record its end in the background.
    pub fn exec_watch(self: &Arc<Self>, id: &str) {
        let svc = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let _ = svc.exec_finish(&id).await;
        });
    }

    /// The exec's `DetachKeys` (empty: the default).
    pub fn exec_detach_keys(&self, id: &str) -> String {
        self.exec_get(id)
            .map(|e| e.req.detach_keys.clone())
            .unwrap_or_default()
    }

    /// The pid of a started exec (0 before).
    pub(crate) fn exec_pid(&self, id: &str) -> i64 {
        self.exec_get(id).map(|e| e.pid).unwrap_or(0)
    }

    /// Drop a finished exec from the table (health probes do not accumulate).
    pub(crate) fn exec_forget(&self, id: &str) {
        if let Ok(mut all) = self.execs.all.lock() {
            all.remove(id);
        }
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        let e = self.exec_get(id)?;
        let cmd = e.req.cmd.clone().unwrap_or_default();
        Ok(ExecInspect {
            id: e.id.clone(),
            running: e.running,
            exit_code: e.exit_code,
            process_config: ExecProcessConfig {
                tty: e.req.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
                privileged: Some(e.req.privileged),
                user: e.req.user.clone(),
            },
            open_stdin: e.req.attach_stdin,
            open_stderr: e.req.attach_stderr,
            open_stdout: e.req.attach_stdout,
            can_remove: false,
            container_id: e.container_id.clone(),
            detach_keys: None,
            pid: e.pid,
        })
    }

    /// `POST /exec/{id}/resize`.
    pub async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let e = self.exec_get(id)?;
        let client = ShimClient::new(self.shim_dir(&e.container_id));
        Self::call(
            client,
            Request::Resize {
                height,
                width,
                exec: Some(id.to_string()),
            },
        )
        .await?;
        Ok(())
    }
}
