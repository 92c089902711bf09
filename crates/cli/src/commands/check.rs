//! `berth system check [--repair]`: what a crash left on the host, found by comparing the
//! kernel with berthd's state on disk, and removed with `--repair`.
//!
//! The check reads the daemon's records itself (`<data-root>/containers/<id>/container.json`,
//! `<data-root>/networks/*.json`), so it works with berthd stopped or killed, and it never asks
//! the daemon to change anything. A container is *active* when its shim answers on
//! `<exec-root>/shims/<id>/ctl.sock`: then everything it owns is left alone, whatever the
//! daemon's state (the shim is what keeps a container alive across daemon restarts). Only
//! objects that are provably this daemon's are considered:
//! - shims: `berth-shim` processes whose argument is `<exec-root>/shims/<id>` and that have no
//!   container record, or whose control socket does not answer (after a 5 s grace);
//! - mounts below the data or exec root naming a container ID that is not active;
//! - network namespace handles `<exec-root>/netns/<id>` of no active container (unmounted and
//!   removed);
//! - links attached to one of the daemon's bridges (from its network records), or named as a
//!   container's host end in a record, that no active container uses;
//! - cgroups `<…>/<cgroup-parent>/<id>` of a recorded container that is not active; cgroups of
//!   IDs without a record only when `--cgroup-parent` is given (the default `berth` may be
//!   shared by several daemons, so an unknown ID there is not provably this one's);
//! - the daemon's nft table (`inet berth` or `inet berth-<bridge>`) when the daemon is not
//!   running and no container is active (nothing forwards through it).
//!
//! Finding is a pure function over an [`Inventory`] ([`plan`]); [`scan`] reads the host and
//! [`repair`] applies the findings (kill, unmount, `ip link del`, rmdir, `nft delete table`).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;

use super::{CmdError, CmdResult, Ctx};
use crate::client::Request;
use crate::format::tabwrite;

/// `system check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Remove what was found
    #[arg(long)]
    pub repair: bool,
    /// The daemon's data root (default: DockerRootDir from the daemon, else /var/lib/berth)
    #[arg(long, value_name = "path")]
    pub data_root: Option<PathBuf>,
    /// The daemon's exec root (default: the directory of the berthd.sock socket, else /run/berth)
    #[arg(long, value_name = "path")]
    pub exec_root: Option<PathBuf>,
    /// The daemon's --cgroup-parent; given, cgroups of unknown IDs below it are leftovers too
    #[arg(long, value_name = "string")]
    pub cgroup_parent: Option<String>,
}

/// What kind of object a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A shim process.
    Shim,
    /// A mount.
    Mount,
    /// A network namespace handle.
    Netns,
    /// A network link.
    Link,
    /// A cgroup (in every hierarchy).
    Cgroup,
    /// An nftables table.
    Nft,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Shim => "shim",
            Kind::Mount => "mount",
            Kind::Netns => "netns",
            Kind::Link => "link",
            Kind::Cgroup => "cgroup",
            Kind::Nft => "nft",
        }
    }
}

/// How a finding is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL the process.
    Kill(i32),
    /// Lazy unmount.
    Unmount(PathBuf),
    /// Unmount the handle and remove the file.
    RemoveNetns(PathBuf),
    /// `ip link del`.
    DeleteLink(String),
    /// Kill the processes in these cgroup directories, then remove them (deepest first).
    RemoveCgroup(Vec<PathBuf>),
    /// `nft delete table inet <name>`.
    DeleteNftTable(String),
}

/// One leftover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Its kind.
    pub kind: Kind,
    /// What it is (path, link name, pid, table).
    pub object: String,
    /// Why it is a leftover.
    pub reason: String,
    /// How `--repair` removes it.
    pub action: Action,
}

/// A container as its record and its shim tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerState {
    /// The record's status (`running`, `exited`, …).
    pub status: String,
    /// The shim answers on its control socket.
    pub active: bool,
    /// Host ends of its links (`host_link` of each endpoint).
    pub host_links: Vec<String>,
}

/// A `berth-shim` process of this exec root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimProc {
    /// Its pid.
    pub pid: i32,
    /// The container ID (the name of its shim directory).
    pub id: String,
    /// Seconds since it started.
    pub age_secs: u64,
    /// Its control socket answers.
    pub answers: bool,
}

/// A link named `bth*`/`berth*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Its name.
    pub name: String,
    /// The bridge it is attached to.
    pub master: Option<String>,
}

/// Everything the check compares.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The data root.
    pub data_root: PathBuf,
    /// The exec root.
    pub exec_root: PathBuf,
    /// The daemon answers on its socket.
    pub daemon_up: bool,
    /// Container records by ID.
    pub containers: BTreeMap<String, ContainerState>,
    /// The daemon's bridges (bridge network records).
    pub bridges: BTreeSet<String>,
    /// The default bridge's interface, when recorded.
    pub default_bridge: Option<String>,
    /// Mount points below either root.
    pub mounts: Vec<PathBuf>,
    /// Entries of `<exec-root>/netns`.
    pub netns: Vec<String>,
    /// Links named `bth*`/`berth*`.
    pub links: Vec<LinkInfo>,
    /// `inet` tables named `berth*`.
    pub nft_tables: Vec<String>,
    /// Cgroup directories `<…>/<parent>/<id>` by ID.
    pub cgroups: BTreeMap<String, Vec<PathBuf>>,
    /// Unknown IDs' cgroups count (the parent was given).
    pub cgroup_parent_explicit: bool,
    /// The shims of this exec root.
    pub shims: Vec<ShimProc>,
}

/// A container ID: 64 lower-case hex digits.
fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The daemon's nft table for its default bridge (`berth` for `berth0`).
pub fn nft_table_for(bridge: &str) -> String {
    if bridge == "berth0" {
        "berth".into()
    } else {
        format!("berth-{bridge}")
    }
}

/// Why the objects of container `id` are leftovers, or `None` when it is active (or, for
/// unknown IDs, when they cannot be attributed and `unknown_counts` is false).
fn owner_gone(inv: &Inventory, id: &str, unknown_counts: bool) -> Option<String> {
    match inv.containers.get(id) {
        Some(c) if c.active => None,
        Some(c) if c.status == "running" || c.status == "paused" || c.status == "restarting" => {
            Some(format!(
                "container {} is {} in its record but its shim is gone",
                short(id),
                c.status
            ))
        }
        Some(c) => Some(format!("container {} is {}", short(id), c.status)),
        None if unknown_counts => Some(format!("no container {} in the records", short(id))),
        None => None,
    }
}

/// Decides what is left over. Pure: unit-tested over hand-made inventories.
pub fn plan(inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &inv.shims {
        let reason = if !inv.containers.contains_key(&s.id) {
            Some(format!("no container {} in the records", short(&s.id)))
        } else if !s.answers && s.age_secs >= 5 {
            Some("its control socket does not answer".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            out.push(Finding {
                kind: Kind::Shim,
                object: format!("{} ({})", s.pid, short(&s.id)),
                reason,
                action: Action::Kill(s.pid),
            });
        }
    }
    let netns_dir = inv.exec_root.join("netns");
    for m in &inv.mounts {
        if m.starts_with(&netns_dir) {
            continue; // the netns handles below
        }
        let id = m
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .find(|c| is_id(c));
        let Some(id) = id else { continue };
        if let Some(reason) = owner_gone(inv, id, true) {
            out.push(Finding {
                kind: Kind::Mount,
                object: m.display().to_string(),
                reason,
                action: Action::Unmount(m.clone()),
            });
        }
    }
    for n in &inv.netns {
        let reason = if is_id(n) {
            owner_gone(inv, n, true)
        } else {
            Some("not named after a container".to_owned())
        };
        if let Some(reason) = reason {
            let p = netns_dir.join(n);
            out.push(Finding {
                kind: Kind::Netns,
                object: p.display().to_string(),
                reason,
                action: Action::RemoveNetns(p),
            });
        }
    }
    let in_use: BTreeSet<&str> = inv
        .containers
        .values()
        .filter(|c| c.active)
        .flat_map(|c| c.host_links.iter().map(String::as_str))
        .collect();
    let recorded: BTreeMap<&str, &str> = inv
        .containers
        .iter()
        .flat_map(|(id, c)| c.host_links.iter().map(move |l| (l.as_str(), id.as_str())))
        .collect();
    for l in &inv.links {
        if in_use.contains(l.name.as_str()) || inv.bridges.contains(&l.name) {
            continue;
        }
        let reason = match (&l.master, recorded.get(l.name.as_str())) {
            (_, Some(id)) => owner_gone(inv, id, true)
                .map(|r| format!("host end of container {}: {r}", short(id))),
            (Some(br), None) if inv.bridges.contains(br) => {
                Some(format!("on bridge {br} but no container uses it"))
            }
            _ => None,
        };
        if let Some(reason) = reason {
            out.push(Finding {
                kind: Kind::Link,
                object: l.name.clone(),
                reason,
                action: Action::DeleteLink(l.name.clone()),
            });
        }
    }
    for (id, dirs) in &inv.cgroups {
        if let Some(reason) = owner_gone(inv, id, inv.cgroup_parent_explicit) {
            out.push(Finding {
                kind: Kind::Cgroup,
                object: cgroup_label(dirs, id),
                reason,
                action: Action::RemoveCgroup(dirs.clone()),
            });
        }
    }
    if let Some(br) = &inv.default_bridge {
        let table = nft_table_for(br);
        let any_active = inv.containers.values().any(|c| c.active);
        if !inv.daemon_up && !any_active && inv.nft_tables.contains(&table) {
            out.push(Finding {
                kind: Kind::Nft,
                object: format!("inet {table}"),
                reason: "berthd is not running and no container needs it".into(),
                action: Action::DeleteNftTable(table),
            });
        }
    }
    out
}

/// `<parent>/<id>` as the cgroup is named in its hierarchies.
fn cgroup_label(dirs: &[PathBuf], id: &str) -> String {
    dirs.first()
        .and_then(|d| d.parent())
        .and_then(|p| p.file_name())
        .map(|p| format!("{}/{id}", p.to_string_lossy()))
        .unwrap_or_else(|| id.to_owned())
}

// ---- scan: read the host ----

fn unescape_mount(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points and file system types from `/proc/self/mountinfo`.
fn mountinfo() -> Vec<(PathBuf, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let point = l.split(' ').nth(4)?;
            let fstype = l.split(" - ").nth(1)?.split(' ').next()?;
            Some((PathBuf::from(unescape_mount(point)), fstype.to_owned()))
        })
        .collect()
}

fn answers(sock: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(sock).is_ok()
}

fn read_containers(inv: &mut Inventory) {
    let dir = inv.data_root.join("containers");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in rd.flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        let Ok(bytes) = std::fs::read(e.path().join("container.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let host_links = v["net"]["endpoints"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|ep| ep["host_link"].as_str())
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let active = answers(&inv.exec_root.join("shims").join(&id).join("ctl.sock"));
        inv.containers.insert(
            id,
            ContainerState {
                status: v["state"]["status"].as_str().unwrap_or("").to_owned(),
                active,
                host_links,
            },
        );
    }
}

fn read_networks(inv: &mut Inventory) {
    let Ok(rd) = std::fs::read_dir(inv.data_root.join("networks")) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let Ok(v) = std::fs::read(&p).map(|b| serde_json::from_slice::<Value>(&b)) else {
            continue;
        };
        let Ok(v) = v else { continue };
        if v["driver"] != "bridge" {
            continue;
        }
        let Some(ifname) = v["ifname"].as_str().filter(|s| !s.is_empty()) else {
            continue;
        };
        if v["predefined"] == true && v["name"] == "bridge" {
            inv.default_bridge = Some(ifname.to_owned());
        }
        inv.bridges.insert(ifname.to_owned());
    }
}

fn read_links(inv: &mut Inventory) {
    let Ok(rd) = std::fs::read_dir("/sys/class/net") else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("bth") || name.starts_with("berth")) {
            continue;
        }
        let master = std::fs::read_link(e.path().join("master"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        inv.links.push(LinkInfo { name, master });
    }
}

fn read_nft(inv: &mut Inventory) {
    let Ok(out) = Command::new("nft")
        .args(["list", "tables", "inet"])
        .output()
    else {
        return;
    };
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(name) = l.trim().strip_prefix("table inet ") {
            if name.starts_with("berth") {
                inv.nft_tables.push(name.to_owned());
            }
        }
    }
}

fn read_cgroups(inv: &mut Inventory, parent: &str, mounts: &[(PathBuf, String)]) {
    let parent = parent.trim_matches('/');
    let Some(last) = parent.rsplit('/').next().filter(|s| !s.is_empty()) else {
        return;
    };
    let roots: BTreeSet<&PathBuf> = mounts
        .iter()
        .filter(|(_, t)| t == "cgroup" || t == "cgroup2")
        .map(|(p, _)| p)
        .collect();
    for root in roots {
        let mut stack = vec![(root.clone(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if name == last && p.to_string_lossy().ends_with(&format!("/{parent}")) {
                    if let Ok(kids) = std::fs::read_dir(&p) {
                        for k in kids.flatten() {
                            let id = k.file_name().to_string_lossy().into_owned();
                            if is_id(&id) && k.file_type().is_ok_and(|t| t.is_dir()) {
                                inv.cgroups.entry(id).or_default().push(k.path());
                            }
                        }
                    }
                } else if depth < 8 && !is_id(&name) {
                    stack.push((p, depth + 1));
                }
            }
        }
    }
}

fn boot_ticks_now() -> Option<u64> {
    let up = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = up.split_whitespace().next()?.parse().ok()?;
    Some((secs * 100.0) as u64)
}

fn read_shims(inv: &mut Inventory) {
    let shims_dir = inv.exec_root.join("shims");
    let now = boot_ticks_now().unwrap_or(0);
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(e.path().join("exe")) else {
            continue;
        };
        let exe = exe.to_string_lossy().into_owned();
        let base = exe
            .trim_end_matches(" (deleted)")
            .rsplit('/')
            .next()
            .unwrap_or("");
        if base != "berth-shim" {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let Some(arg) = cmdline
            .split(|b| *b == 0)
            .nth(1)
            .map(|a| PathBuf::from(String::from_utf8_lossy(a).into_owned()))
        else {
            continue;
        };
        if arg.parent() != Some(shims_dir.as_path()) {
            continue;
        }
        let id = arg
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Field 22 of stat (after the parenthesised name) is the start time in ticks.
        let start = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(19)?.parse::<u64>().ok())
            })
            .unwrap_or(now);
        inv.shims.push(ShimProc {
            pid,
            answers: answers(&arg.join("ctl.sock")),
            id,
            age_secs: now.saturating_sub(start) / 100,
        });
    }
}

/// Reads the host and the daemon's records.
pub fn scan(
    data_root: &Path,
    exec_root: &Path,
    daemon_up: bool,
    cgroup_parent: Option<&str>,
) -> Inventory {
    let mut inv = Inventory {
        data_root: data_root.to_path_buf(),
        exec_root: exec_root.to_path_buf(),
        daemon_up,
        cgroup_parent_explicit: cgroup_parent.is_some(),
        ..Inventory::default()
    };
    read_containers(&mut inv);
    read_networks(&mut inv);
    let mounts = mountinfo();
    inv.mounts = mounts
        .iter()
        .map(|(p, _)| p)
        .filter(|p| {
            (p.starts_with(data_root) && p.as_path() != data_root)
                || (p.starts_with(exec_root) && p.as_path() != exec_root)
        })
        .cloned()
        .collect();
    // Deepest first, so nested mounts go before their parents.
    inv.mounts
        .sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    inv.mounts.dedup();
    if let Ok(rd) = std::fs::read_dir(exec_root.join("netns")) {
        inv.netns = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        inv.netns.sort();
    }
    read_links(&mut inv);
    read_nft(&mut inv);
    read_cgroups(&mut inv, cgroup_parent.unwrap_or("berth"), &mounts);
    read_shims(&mut inv);
    inv
}

// ---- repair: apply the findings ----

fn run_tool(cmd: &mut Command, what: &str) -> io::Result<()> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn kill(pid: i32) -> io::Result<()> {
    let p = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| io::Error::other(format!("bad pid {pid}")))?;
    match rustix::process::kill_process(p, rustix::process::Signal::KILL) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn unmount(p: &Path) -> io::Result<()> {
    match rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn remove_cgroup(dirs: &[PathBuf]) -> io::Result<()> {
    // Every directory below, deepest first.
    let mut all = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
        all.push(d);
    }
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    let deadline = Instant::now() + Duration::from_secs(5);
    for d in &all {
        loop {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                kill(pid)?;
            }
            match std::fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if Instant::now() > deadline => {
                    return Err(io::Error::other(format!("remove {}: {e}", d.display())))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    Ok(())
}

/// Applies one finding.
pub fn apply(f: &Finding) -> io::Result<()> {
    match &f.action {
        Action::Kill(pid) => kill(*pid),
        Action::Unmount(p) => unmount(p),
        Action::RemoveNetns(p) => {
            unmount(p)?;
            match std::fs::remove_file(p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
        Action::DeleteLink(name) => {
            if !Path::new("/sys/class/net").join(name).exists() {
                return Ok(()); // went with its peer or namespace
            }
            run_tool(
                Command::new("ip").args(["link", "del", name]),
                &format!("ip link del {name}"),
            )
        }
        Action::RemoveCgroup(dirs) => remove_cgroup(dirs),
        Action::DeleteNftTable(t) => run_tool(
            Command::new("nft").args(["delete", "table", "inet", t]),
            &format!("nft delete table inet {t}"),
        ),
    }
}

/// Applies the findings in order (shims, mounts, namespaces, links, cgroups, tables); returns
/// each with its outcome.
pub fn repair(findings: &[Finding]) -> Vec<(Finding, io::Result<()>)> {
    let mut sorted = findings.to_vec();
    sorted.sort_by_key(|f| f.kind);
    sorted
        .into_iter()
        .map(|f| {
            let r = apply(&f);
            (f, r)
        })
        .collect()
}

/// The findings as Docker-style table text.
pub fn table(findings: &[Finding]) -> String {
    let mut t = String::from("KIND\tOBJECT\tREASON\n");
    for f in findings {
        t.push_str(&format!("{}\t{}\t{}\n", f.kind.name(), f.object, f.reason));
    }
    tabwrite(&t)
}

/// Runs the command.
pub fn run(ctx: &Ctx, a: CheckArgs) -> CmdResult {
    let daemon_up = ctx.client.ping().is_ok();
    let data_root = match a.data_root {
        Some(p) => p,
        None if daemon_up => {
            let info: Value = ctx.client.json(Request::new("GET", "/info"))?;
            info["DockerRootDir"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map_or_else(|| PathBuf::from("/var/lib/berth"), PathBuf::from)
        }
        None => PathBuf::from("/var/lib/berth"),
    };
    let exec_root = a.exec_root.unwrap_or_else(|| {
        let host = ctx.client.host();
        host.strip_prefix("unix://")
            .map(Path::new)
            .filter(|p| p.file_name().is_some_and(|n| n == "berthd.sock"))
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("/run/berth"), Path::to_path_buf)
    });
    for (flag, p) in [("--data-root", &data_root), ("--exec-root", &exec_root)] {
        if !p.is_absolute() {
            return Err(CmdError::Usage(format!(
                "invalid argument {:?} for \"{flag}\" flag: the path must be absolute",
                p.display().to_string()
            )));
        }
    }
    if !data_root.join("containers").is_dir() {
        return Err(CmdError::Status {
            message: format!(
                "no berthd data root at {}: pass the daemon's --data-root",
                data_root.display()
            ),
            code: 1,
        });
    }
    let inv = scan(
        &data_root,
        &exec_root,
        daemon_up,
        a.cgroup_parent.as_deref(),
    );
    let findings = plan(&inv);
    if findings.is_empty() {
        super::out(&format!(
            "nothing left over (data root {}, exec root {})\n",
            data_root.display(),
            exec_root.display()
        ));
        return Ok(0);
    }
    super::out(&table(&findings));
    if !a.repair {
        super::out(&format!(
            "{} left over; run 'berth system check --repair' to remove {}\n",
            findings.len(),
            if findings.len() == 1 { "it" } else { "them" }
        ));
        return Ok(1);
    }
    let mut failed = 0;
    for (f, r) in repair(&findings) {
        match r {
            Ok(()) => super::out(&format!("removed {} {}\n", f.kind.name(), f.object)),
            Err(e) => {
                failed += 1;
                eprintln!("failed to remove {} {}: {e}", f.kind.name(), f.object);
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    fn inv() -> Inventory {
        let mut i = Inventory {
            data_root: "/d".into(),
            exec_root: "/r".into(),
            default_bridge: Some("bthl1".into()),
            ..Inventory::default()
        };
        i.bridges.insert("bthl1".into());
        i.containers.insert(
            A.into(),
            ContainerState {
                status: "running".into(),
                active: true,
                host_links: vec!["bth0000000a".into()],
            },
        );
        i.containers.insert(
            B.into(),
            ContainerState {
                status: "running".into(),
                active: false,
                host_links: vec!["bth0000000b".into()],
            },
        );
        i.nft_tables = vec!["berth-bthl1".into(), "berth-other".into()];
        i
    }

    fn kinds(f: &[Finding]) -> Vec<(Kind, String)> {
        f.iter().map(|f| (f.kind, f.object.clone())).collect()
    }

    #[test]
    fn active_containers_keep_everything() {
        let mut i = inv();
        i.containers.remove(B);
        i.mounts = vec![format!("/d/containers/{A}/bundle/rootfs").into()];
        i.netns = vec![A.into()];
        i.links = vec![
            LinkInfo {
                name: "bth0000000a".into(),
                master: Some("bthl1".into()),
            },
            LinkInfo {
                name: "bthl1".into(),
                master: None,
            },
            LinkInfo {
                name: "bthzzz".into(),
                master: Some("bthl-not-ours".into()),
            },
        ];
        i.cgroups
            .insert(A.into(), vec![format!("/sys/fs/cgroup/pids/p/{A}").into()]);
        i.shims = vec![ShimProc {
            pid: 10,
            id: A.into(),
            age_secs: 100,
            answers: true,
        }];
        assert_eq!(plan(&i), vec![]);
        // The daemon is down but a container is active: the table stays.
        i.daemon_up = false;
        assert_eq!(plan(&i), vec![]);
    }

    #[test]
    fn leftovers_of_dead_and_unknown_containers() {
        let mut i = inv();
        i.daemon_up = true;
        i.mounts = vec![
            format!("/d/containers/{B}/bundle/rootfs").into(),
            format!("/d/containers/{C}/bundle/rootfs").into(),
            format!("/r/netns/{C}").into(),
            "/d/volumes/x/_data".into(),
        ];
        i.netns = vec![A.into(), C.into(), "junk".into()];
        i.links = vec![
            LinkInfo {
                name: "bth0000000b".into(),
                master: None,
            },
            LinkInfo {
                name: "bthdummy".into(),
                master: Some("bthl1".into()),
            },
        ];
        i.cgroups
            .insert(B.into(), vec![format!("/cg/pids/p/{B}").into()]);
        i.cgroups
            .insert(C.into(), vec![format!("/cg/pids/p/{C}").into()]);
        i.shims = vec![
            ShimProc {
                pid: 11,
                id: C.into(),
                age_secs: 0,
                answers: true,
            },
            ShimProc {
                pid: 12,
                id: B.into(),
                age_secs: 1,
                answers: false,
            },
            ShimProc {
                pid: 13,
                id: B.into(),
                age_secs: 60,
                answers: false,
            },
        ];
        let f = plan(&i);
        assert_eq!(
            kinds(&f),
            vec![
                (Kind::Shim, "11 (cccccccccccc)".into()),
                (Kind::Shim, "13 (bbbbbbbbbbbb)".into()),
                (Kind::Mount, format!("/d/containers/{B}/bundle/rootfs")),
                (Kind::Mount, format!("/d/containers/{C}/bundle/rootfs")),
                (Kind::Netns, format!("/r/netns/{C}")),
                (Kind::Netns, "/r/netns/junk".into()),
                (Kind::Link, "bth0000000b".into()),
                (Kind::Link, "bthdummy".into()),
                (Kind::Cgroup, format!("p/{B}")),
            ]
        );
        assert_eq!(
            f[2].reason,
            "container bbbbbbbbbbbb is running in its record but its shim is gone"
        );
        assert_eq!(f[3].reason, "no container cccccccccccc in the records");
        assert_eq!(f[7].reason, "on bridge bthl1 but no container uses it");
        // Unknown IDs' cgroups count once the parent was named; the daemon down and nothing
        // active: its table goes too, never another daemon's.
        i.cgroup_parent_explicit = true;
        i.daemon_up = false;
        i.containers.get_mut(A).unwrap().active = false;
        let f = plan(&i);
        assert!(kinds(&f).contains(&(Kind::Cgroup, format!("p/{C}"))));
        let nft: Vec<_> = f.iter().filter(|f| f.kind == Kind::Nft).collect();
        assert_eq!(nft.len(), 1);
        assert_eq!(nft[0].action, Action::DeleteNftTable("berth-bthl1".into()));
    }

    #[test]
    fn table_and_helpers() {
        let f = vec![Finding {
            kind: Kind::Link,
            object: "bthx".into(),
            reason: "why".into(),
            action: Action::DeleteLink("bthx".into()),
        }];
        assert_eq!(
            table(&f),
            "KIND      OBJECT    REASON\nlink      bthx      why\n"
        );
        assert_eq!(nft_table_for("berth0"), "berth");
        assert_eq!(nft_table_for("bthl1"), "berth-bthl1");
        assert_eq!(unescape_mount("/a\\040b"), "/a b");
        assert!(is_id(A) && !is_id("abc"));
    }
}
