//! `linux.resources` → a list of cgroup file writes, for v1 or v2. Pure: no file system access.
//!
//! Conventions follow runc where the OCI spec leaves room:
//! - `0` means "not set" for memory limit/reservation/swap, cpu shares/quota/period/realtime
//!   period and blkio weights (Docker sends `{"weight": 0}` and `{"period": 0}` for "unset");
//!   `-1` means unlimited; other negative values are refused.
//! - memory: the OCI `swap` is the memory+swap **total**. v1 writes it to
//!   `memory.memsw.limit_in_bytes`; v2 writes `swap - limit` to `memory.swap.max`.
//! - cpu v2: `cpu.weight = 1 + ((shares - 2) * 9999) / 262142` (shares clamped to 2..=262144),
//!   `cpu.max = "<quota|max> [period]"`.
//! - blkio v2: `io.weight = 1 + (weight - 10) * 9999 / 990`; throttles go to `io.max`, a rate of 0
//!   becomes `max` (as 0 removes the limit on v1).
//! - pids: a limit `<= 0` is `max`.
//! - kernel memory, kernel TCP memory, v2 swappiness, v2 disableOOMKiller, v2 leaf weights:
//!   skipped with a [`Warning`], never a failure.
//! - devices: v1 writes `devices.deny a` and then each rule to `devices.allow`/`devices.deny`,
//!   in spec order. v2 has no device files: the rules come back in [`Plan::devices`] and the
//!   runtime must enforce them with an eBPF `BPF_CGROUP_DEVICE` program (see [`DeviceRule`]).
//! - unified: v2 writes each key verbatim (after everything else, so it wins); v1 refuses it.
//! - network (net_cls/net_prio): v1 only; refused on v2.
//!
//! Some writes depend on the current values (v1 memory limit vs memsw limit, cfs period vs quota,
//! rt period vs runtime): the plan lists them in the usual order and the apply layer retries the
//! pair in the other order when the kernel answers `EINVAL` (see [`swappable_pair`]).

use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use serde::{Deserialize, Serialize};

use crate::error::{invalid, CgroupError};

/// The cgroup resource model in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    /// Controllers in v1 hierarchies (also on hybrid hosts).
    V1,
    /// Everything in the unified cgroup2 hierarchy.
    V2,
}

impl Version {
    /// `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// A cgroup controller (v1 hierarchy or v2 controller) a write belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Controller {
    /// `cpu`.
    Cpu,
    /// `cpuacct` (v1).
    Cpuacct,
    /// `cpuset`.
    Cpuset,
    /// `memory`.
    Memory,
    /// `devices` (v1).
    Devices,
    /// `freezer` (v1).
    Freezer,
    /// `blkio` (v1).
    Blkio,
    /// `io` (v2).
    Io,
    /// `pids`.
    Pids,
    /// `hugetlb`.
    Hugetlb,
    /// `net_cls` (v1).
    NetCls,
    /// `net_prio` (v1).
    NetPrio,
    /// `rdma`.
    Rdma,
    /// `misc` (v2).
    Misc,
    /// v2 core files (`cgroup.*`), which belong to no controller.
    Core,
    /// A v2 controller this crate does not model (from a `unified` key).
    Other(String),
}

impl Controller {
    /// The kernel's name of the controller.
    pub fn name(&self) -> &str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
            Controller::Blkio => "blkio",
            Controller::Io => "io",
            Controller::Pids => "pids",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::Rdma => "rdma",
            Controller::Misc => "misc",
            Controller::Core => "cgroup",
            Controller::Other(s) => s,
        }
    }

    /// The controller a v2 file name prefix (`memory` in `memory.high`) stands for.
    pub fn from_v2_prefix(prefix: &str) -> Controller {
        match prefix {
            "cpu" => Controller::Cpu,
            "cpuset" => Controller::Cpuset,
            "memory" => Controller::Memory,
            "io" => Controller::Io,
            "pids" => Controller::Pids,
            "hugetlb" => Controller::Hugetlb,
            "rdma" => Controller::Rdma,
            "misc" => Controller::Misc,
            "cgroup" => Controller::Core,
            other => Controller::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One write of `value` to `file` in the container's cgroup of `controller`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write {
    /// Which hierarchy (v1) or controller (v2) the file belongs to.
    pub controller: Controller,
    /// The file name, e.g. `memory.limit_in_bytes`.
    pub file: String,
    /// The exact bytes to write.
    pub value: String,
    /// When the file does not exist, skip the write with a warning instead of failing.
    pub optional: bool,
}

impl Write {
    fn new(controller: Controller, file: impl Into<String>, value: impl ToString) -> Write {
        Write {
            controller,
            file: file.into(),
            value: value.to_string(),
            optional: false,
        }
    }

    fn optional(mut self) -> Write {
        self.optional = true;
        self
    }
}

impl fmt::Display for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.file, self.value)
    }
}

/// Something in the spec that was not applied, and why. Never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The spec field (or file) concerned.
    pub field: String,
    /// What happened.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Warning {
        Warning {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The kind of device a [`DeviceRule`] matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceKind {
    /// Every device (`a`).
    All,
    /// Block devices (`b`).
    Block,
    /// Character devices (`c`; OCI `u` is mapped here).
    Char,
}

impl DeviceKind {
    /// `a`, `b` or `c`.
    pub fn as_char(self) -> char {
        match self {
            DeviceKind::All => 'a',
            DeviceKind::Block => 'b',
            DeviceKind::Char => 'c',
        }
    }
}

/// One device cgroup rule, normalised.
///
/// Semantics (v1 kernel and the v2 eBPF program alike): the rule list of a plan always starts
/// with `deny a` (all devices denied), then the spec's rules follow in order. For a v2 program,
/// evaluate the list so that **the last rule that matches a device decides**: a rule matches
/// when its kind is `All` or equals the device's kind, its major/minor is `None` (wildcard) or
/// equal, and the requested access (`r` read, `w` write, `m` mknod) is contained in `access`
/// for allow rules, or intersects it for deny rules (a deny of `w` denies opening for write but
/// still lets an `r` open through an earlier allow). A `None` major/minor is `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceRule {
    /// Allow or deny.
    pub allow: bool,
    /// Which kind of device.
    pub kind: DeviceKind,
    /// Major number, `None` = any.
    pub major: Option<u32>,
    /// Minor number, `None` = any.
    pub minor: Option<u32>,
    /// A non-empty subset of `rwm`, in that order.
    pub access: String,
}

impl DeviceRule {
    /// `deny a *:* rwm`, the first rule of every device list.
    pub fn deny_all() -> DeviceRule {
        DeviceRule {
            allow: false,
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: "rwm".into(),
        }
    }

    /// Validates one OCI rule. `Ok(None)` for rules the device cgroup cannot express (FIFOs,
    /// which it does not control anyway).
    pub fn from_oci(d: &LinuxDeviceCgroup, field: &str) -> Result<Option<DeviceRule>, CgroupError> {
        let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DeviceKind::All,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::P => return Ok(None),
        };
        let num = |v: Option<i64>, name: &str| -> Result<Option<u32>, CgroupError> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                    invalid(
                        format!("{field}.{name}"),
                        format!("{n} is not a device number"),
                    )
                }),
            }
        };
        let major = num(d.major(), "major")?;
        let minor = num(d.minor(), "minor")?;
        let raw = d.access().as_deref().unwrap_or("rwm");
        let raw = if raw.is_empty() { "rwm" } else { raw };
        if let Some(bad) = raw.chars().find(|c| !"rwm".contains(*c)) {
            return Err(invalid(
                format!("{field}.access"),
                format!("{raw:?} has {bad:?}; only r, w and m are allowed"),
            ));
        }
        let access: String = "rwm".chars().filter(|c| raw.contains(*c)).collect();
        Ok(Some(DeviceRule {
            allow: d.allow(),
            kind,
            major,
            minor,
            access,
        }))
    }
}

impl fmt::Display for DeviceRule {
    /// The v1 `devices.allow`/`devices.deny` line, e.g. `c 1:3 rwm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<u32>| v.map_or_else(|| "*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.kind.as_char(),
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

/// The result of [`plan()`]: writes in order, warnings, and the device rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Writes, in the order to apply them.
    pub writes: Vec<Write>,
    /// Fields that were skipped.
    pub warnings: Vec<Warning>,
    /// `Some` when the spec has `linux.resources.devices`: the full rule list, starting with
    /// [`DeviceRule::deny_all`]. On v1 the same rules are also in `writes`; on v2 the runtime
    /// must compile them into an eBPF device program.
    pub devices: Option<Vec<DeviceRule>>,
}

/// Whether `first` and `second` (adjacent writes in a plan) may be retried in the opposite
/// order when the first fails with `EINVAL`, because the kernel checks them against each other.
pub fn swappable_pair(first: &Write, second: &Write) -> bool {
    matches!(
        (first.file.as_str(), second.file.as_str()),
        ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
            | ("cpu.cfs_period_us", "cpu.cfs_quota_us")
            | ("cpu.rt_period_us", "cpu.rt_runtime_us")
    )
}

/// `shares` (cgroup v1 cpu.shares) → cgroup v2 `cpu.weight`, as runc converts it.
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// blkio `weight` (10..=1000) → cgroup v2 `io.weight` (1..=10000), as runc converts it.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// Checks a cpuset list (`0-3,5,7-8`; empty is allowed by the kernel and means "none").
pub fn validate_cpu_list(field: &str, s: &str) -> Result<(), CgroupError> {
    let bad = |reason: String| invalid(field, format!("{s:?} is not a cpu list: {reason}"));
    let t = s.trim();
    for part in t.split(',') {
        if part.is_empty() {
            return Err(bad("empty element".into()));
        }
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (part, None),
        };
        let num = |x: &str| -> Result<u32, CgroupError> {
            if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("{x:?} is not a number")));
            }
            x.parse().map_err(|_| bad(format!("{x:?} is too large")))
        };
        let lo = num(lo)?;
        if let Some(hi) = hi {
            let hi = num(hi)?;
            if hi < lo {
                return Err(bad(format!("range {lo}-{hi} is reversed")));
            }
        }
    }
    Ok(())
}

/// Checks a hugepage size as OCI spells it (`2MB`, `1GB`, `64KB`).
fn validate_page_size(field: &str, s: &str) -> Result<(), CgroupError> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(unit, "KB" | "MB" | "GB")
    {
        return Err(invalid(
            field,
            format!("{s:?} is not a page size like 2MB or 1GB"),
        ));
    }
    Ok(())
}

/// `0` → unset, `-1` → unlimited, other negatives refused.
fn limit_value(field: &str, v: Option<i64>) -> Result<Option<i64>, CgroupError> {
    match v {
        None | Some(0) => Ok(None),
        Some(n) if n < -1 => Err(invalid(
            field,
            format!("{n} is negative (only -1, unlimited, is allowed)"),
        )),
        Some(n) => Ok(Some(n)),
    }
}

fn max_or(v: i64) -> String {
    if v == -1 {
        "max".into()
    } else {
        v.to_string()
    }
}

const R: &str = "linux.resources";

/// Computes the writes that put `res` into effect on a cgroup of the given version.
pub fn plan(res: &LinuxResources, version: Version) -> Result<Plan, CgroupError> {
    let mut p = Plan::default();
    memory(res, version, &mut p)?;
    cpu(res, version, &mut p)?;
    pids(res, &mut p);
    block_io(res, version, &mut p)?;
    hugepages(res, version, &mut p)?;
    network(res, version, &mut p)?;
    rdma(res, &mut p)?;
    devices(res, version, &mut p)?;
    unified(res, version, &mut p)?;
    Ok(p)
}

fn memory(res: &LinuxResources, v: Version, p: &mut Plan) -> Result<(), CgroupError> {
    let Some(m) = res.memory() else {
        return Ok(());
    };
    let f = |name: &str| format!("{R}.memory.{name}");
    let limit = limit_value(&f("limit"), m.limit())?;
    let swap = limit_value(&f("swap"), m.swap())?;
    let reservation = limit_value(&f("reservation"), m.reservation())?;
    if let (Some(l), Some(s)) = (limit, swap) {
        if l > 0 && s > 0 && s < l {
            return Err(invalid(
                f("swap"),
                format!("{s} is below the memory limit {l} (swap is the memory+swap total)"),
            ));
        }
    }
    use Controller::Memory as M;
    match v {
        Version::V1 => {
            if let Some(l) = limit {
                p.writes.push(Write::new(M, "memory.limit_in_bytes", l));
            }
            match (limit, swap) {
                (_, Some(s)) => p
                    .writes
                    .push(Write::new(M, "memory.memsw.limit_in_bytes", s)),
                // Unlimited memory and no swap given: unlimited swap too, if swap is accounted.
                (Some(-1), None) => p
                    .writes
                    .push(Write::new(M, "memory.memsw.limit_in_bytes", -1).optional()),
                _ => {}
            }
            if let Some(r) = reservation {
                p.writes
                    .push(Write::new(M, "memory.soft_limit_in_bytes", r));
            }
            if let Some(s) = m.swappiness() {
                if s > 100 {
                    return Err(invalid(
                        f("swappiness"),
                        format!("{s} is above the maximum of 100"),
                    ));
                }
                p.writes.push(Write::new(M, "memory.swappiness", s));
            }
            if let Some(d) = m.disable_oom_killer() {
                p.writes
                    .push(Write::new(M, "memory.oom_control", u8::from(d)));
            }
            // v1 still has the TCP buffer limit (crun sets it; runtime-tools checks it).
            if let Some(k) = limit_value(&f("kernelTCP"), m.kernel_tcp())? {
                p.writes
                    .push(Write::new(M, "memory.kmem.tcp.limit_in_bytes", k).optional());
            }
        }
        Version::V2 => {
            // memory.swap.max holds swap alone, not memory+swap.
            let swap_max = match (limit, swap) {
                (Some(-1), None) => Some(-1),
                (_, None) => None,
                (_, Some(-1)) => Some(-1),
                (None | Some(-1), Some(_)) => {
                    return Err(invalid(
                        f("swap"),
                        "a swap limit needs a memory limit on cgroup v2",
                    ))
                }
                (Some(l), Some(s)) => Some(s - l),
            };
            if let Some(s) = swap_max {
                let w = Write::new(M, "memory.swap.max", max_or(s));
                // Without swap accounting, "no limit" and "no swap" need no write.
                p.writes
                    .push(if s == -1 || s == 0 { w.optional() } else { w });
            }
            if let Some(l) = limit {
                p.writes.push(Write::new(M, "memory.max", max_or(l)));
            }
            if let Some(r) = reservation {
                p.writes.push(Write::new(M, "memory.low", max_or(r)));
            }
            if m.swappiness().is_some() {
                p.warnings.push(Warning::new(
                    f("swappiness"),
                    "cgroup v2 has no per-cgroup swappiness; ignored",
                ));
            }
            if m.disable_oom_killer() == Some(true) {
                p.warnings.push(Warning::new(
                    f("disableOOMKiller"),
                    "cgroup v2 cannot disable the OOM killer; ignored",
                ));
            }
        }
    }
    if m.kernel().is_some() {
        p.warnings.push(Warning::new(
            f("kernel"),
            "kernel memory limits are deprecated and not supported; ignored",
        ));
    }
    if m.kernel_tcp().is_some() && v == Version::V2 {
        p.warnings.push(Warning::new(
            f("kernelTCP"),
            "cgroup v2 has no kernel TCP memory limit; ignored",
        ));
    }
    if m.use_hierarchy() == Some(false) {
        p.warnings.push(Warning::new(
            f("useHierarchy"),
            "hierarchical accounting is always on in current kernels; ignored",
        ));
    }
    Ok(())
}

fn cpu(res: &LinuxResources, v: Version, p: &mut Plan) -> Result<(), CgroupError> {
    let Some(c) = res.cpu() else {
        return Ok(());
    };
    let f = |name: &str| format!("{R}.cpu.{name}");
    // 0 is "not set", as in runc: `docker update` sends `"period": 0` unless --cpu-period is given.
    let period = c.period().filter(|p| *p != 0);
    let rt_period = c.realtime_period().filter(|p| *p != 0);
    let quota = limit_value(&f("quota"), c.quota())?;
    let rt_runtime = match c.realtime_runtime() {
        Some(n) if n < -1 => {
            return Err(invalid(
                f("realtimeRuntime"),
                format!("{n} is negative (only -1, unlimited, is allowed)"),
            ))
        }
        other => other,
    };
    for (name, list) in [("cpus", c.cpus()), ("mems", c.mems())] {
        if let Some(s) = list.as_deref().filter(|s| !s.is_empty()) {
            validate_cpu_list(&f(name), s)?;
        }
    }
    if let Some(i) = c.idle() {
        if !(0..=1).contains(&i) {
            return Err(invalid(f("idle"), format!("{i} is neither 0 nor 1")));
        }
    }
    use Controller::{Cpu, Cpuset};
    let shares = c.shares().filter(|s| *s != 0);
    match v {
        Version::V1 => {
            if let Some(s) = shares {
                p.writes.push(Write::new(Cpu, "cpu.shares", s));
            }
            if let Some(per) = period {
                p.writes.push(Write::new(Cpu, "cpu.cfs_period_us", per));
            }
            if let Some(q) = quota {
                p.writes.push(Write::new(Cpu, "cpu.cfs_quota_us", q));
            }
            if let Some(b) = c.burst() {
                p.writes.push(Write::new(Cpu, "cpu.cfs_burst_us", b));
            }
            if let Some(per) = rt_period {
                p.writes.push(Write::new(Cpu, "cpu.rt_period_us", per));
            }
            if let Some(r) = rt_runtime {
                p.writes.push(Write::new(Cpu, "cpu.rt_runtime_us", r));
            }
        }
        Version::V2 => {
            if let Some(s) = shares {
                p.writes
                    .push(Write::new(Cpu, "cpu.weight", shares_to_weight(s)));
            }
            if quota.is_some() || period.is_some() {
                let mut s = match quota {
                    Some(q) if q > 0 => q.to_string(),
                    _ => "max".to_string(),
                };
                if let Some(per) = period {
                    s.push_str(&format!(" {per}"));
                }
                p.writes.push(Write::new(Cpu, "cpu.max", s));
            }
            if let Some(b) = c.burst() {
                p.writes.push(Write::new(Cpu, "cpu.max.burst", b));
            }
            if rt_period.is_some() || rt_runtime.is_some_and(|r| r != 0) {
                return Err(CgroupError::Unsupported {
                    field: f("realtimeRuntime"),
                    version: "v2",
                    reason: "real-time bandwidth has no cgroup v2 interface".into(),
                });
            }
        }
    }
    if let Some(i) = c.idle() {
        p.writes.push(Write::new(Cpu, "cpu.idle", i));
    }
    if let Some(s) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        p.writes.push(Write::new(Cpuset, "cpuset.cpus", s.trim()));
    }
    if let Some(s) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        p.writes.push(Write::new(Cpuset, "cpuset.mems", s.trim()));
    }
    Ok(())
}

fn pids(res: &LinuxResources, p: &mut Plan) {
    if let Some(pids) = res.pids() {
        let l = pids.limit();
        let value = if l <= 0 {
            "max".to_string()
        } else {
            l.to_string()
        };
        p.writes
            .push(Write::new(Controller::Pids, "pids.max", value));
    }
}

fn block_io(res: &LinuxResources, v: Version, p: &mut Plan) -> Result<(), CgroupError> {
    let Some(b) = res.block_io() else {
        return Ok(());
    };
    let f = |name: &str| format!("{R}.blockIO.{name}");
    // runc writes a weight only when it is not 0: 0 is Docker's "unset".
    let set = |w: Option<u16>| w.filter(|w| *w != 0);
    let check_weight = |field: String, w: u16| -> Result<u16, CgroupError> {
        if (10..=1000).contains(&w) {
            Ok(w)
        } else {
            Err(invalid(field, format!("{w} is outside 10..1000")))
        }
    };
    let dev = |field: String, major: i64, minor: i64| -> Result<String, CgroupError> {
        if major < 0 || minor < 0 || major > i64::from(u32::MAX) || minor > i64::from(u32::MAX) {
            return Err(invalid(
                field,
                format!("{major}:{minor} is not a device number"),
            ));
        }
        Ok(format!("{major}:{minor}"))
    };
    match v {
        Version::V1 => {
            use Controller::Blkio;
            if let Some(w) = set(b.weight()) {
                let w = check_weight(f("weight"), w)?;
                p.writes.push(Write::new(Blkio, "blkio.weight", w));
            }
            if let Some(w) = set(b.leaf_weight()) {
                let w = check_weight(f("leafWeight"), w)?;
                p.writes
                    .push(Write::new(Blkio, "blkio.leaf_weight", w).optional());
            }
            for (i, d) in b.weight_device().iter().flatten().enumerate() {
                let field = format!("{R}.blockIO.weightDevice[{i}]");
                let id = dev(field.clone(), d.major(), d.minor())?;
                if let Some(w) = set(d.weight()) {
                    let w = check_weight(format!("{field}.weight"), w)?;
                    p.writes.push(Write::new(
                        Blkio,
                        "blkio.weight_device",
                        format!("{id} {w}"),
                    ));
                }
                if let Some(w) = set(d.leaf_weight()) {
                    let w = check_weight(format!("{field}.leafWeight"), w)?;
                    p.writes.push(
                        Write::new(Blkio, "blkio.leaf_weight_device", format!("{id} {w}"))
                            .optional(),
                    );
                }
            }
            for (name, file, list) in [
                (
                    "throttleReadBpsDevice",
                    "blkio.throttle.read_bps_device",
                    b.throttle_read_bps_device(),
                ),
                (
                    "throttleWriteBpsDevice",
                    "blkio.throttle.write_bps_device",
                    b.throttle_write_bps_device(),
                ),
                (
                    "throttleReadIOPSDevice",
                    "blkio.throttle.read_iops_device",
                    b.throttle_read_iops_device(),
                ),
                (
                    "throttleWriteIOPSDevice",
                    "blkio.throttle.write_iops_device",
                    b.throttle_write_iops_device(),
                ),
            ] {
                for (i, t) in list.iter().flatten().enumerate() {
                    let id = dev(format!("{}[{i}]", f(name)), t.major(), t.minor())?;
                    p.writes
                        .push(Write::new(Blkio, file, format!("{id} {}", t.rate())));
                }
            }
        }
        Version::V2 => {
            use Controller::Io;
            if let Some(w) = set(b.weight()) {
                let w = check_weight(f("weight"), w)?;
                p.writes
                    .push(Write::new(Io, "io.weight", blkio_weight_to_io_weight(w)));
            }
            if set(b.leaf_weight()).is_some() {
                p.warnings.push(Warning::new(
                    f("leafWeight"),
                    "cgroup v2 has no leaf weights; ignored",
                ));
            }
            for (i, d) in b.weight_device().iter().flatten().enumerate() {
                let field = format!("{R}.blockIO.weightDevice[{i}]");
                let id = dev(field.clone(), d.major(), d.minor())?;
                if let Some(w) = set(d.weight()) {
                    let w = check_weight(format!("{field}.weight"), w)?;
                    p.writes.push(Write::new(
                        Io,
                        "io.weight",
                        format!("{id} {}", blkio_weight_to_io_weight(w)),
                    ));
                }
                if set(d.leaf_weight()).is_some() {
                    p.warnings.push(Warning::new(
                        format!("{field}.leafWeight"),
                        "cgroup v2 has no leaf weights; ignored",
                    ));
                }
            }
            for (name, key, list) in [
                (
                    "throttleReadBpsDevice",
                    "rbps",
                    b.throttle_read_bps_device(),
                ),
                (
                    "throttleWriteBpsDevice",
                    "wbps",
                    b.throttle_write_bps_device(),
                ),
                (
                    "throttleReadIOPSDevice",
                    "riops",
                    b.throttle_read_iops_device(),
                ),
                (
                    "throttleWriteIOPSDevice",
                    "wiops",
                    b.throttle_write_iops_device(),
                ),
            ] {
                for (i, t) in list.iter().flatten().enumerate() {
                    let id = dev(format!("{}[{i}]", f(name)), t.major(), t.minor())?;
                    let rate = if t.rate() == 0 {
                        "max".to_string()
                    } else {
                        t.rate().to_string()
                    };
                    p.writes
                        .push(Write::new(Io, "io.max", format!("{id} {key}={rate}")));
                }
            }
        }
    }
    Ok(())
}

fn hugepages(res: &LinuxResources, v: Version, p: &mut Plan) -> Result<(), CgroupError> {
    for (i, h) in res.hugepage_limits().iter().flatten().enumerate() {
        let field = format!("{R}.hugepageLimits[{i}]");
        validate_page_size(&format!("{field}.pageSize"), h.page_size())?;
        let limit = match h.limit() {
            n if n < -1 => {
                return Err(invalid(
                    format!("{field}.limit"),
                    format!("{n} is negative (only -1, unlimited, is allowed)"),
                ))
            }
            n => n,
        };
        let (file, value) = match v {
            Version::V1 => (
                format!("hugetlb.{}.limit_in_bytes", h.page_size()),
                limit.to_string(),
            ),
            Version::V2 => (format!("hugetlb.{}.max", h.page_size()), max_or(limit)),
        };
        p.writes.push(Write::new(Controller::Hugetlb, file, value));
    }
    Ok(())
}

fn network(res: &LinuxResources, v: Version, p: &mut Plan) -> Result<(), CgroupError> {
    let Some(n) = res.network() else {
        return Ok(());
    };
    let prios = n.priorities().as_deref().unwrap_or_default();
    if n.class_id().is_none() && prios.is_empty() {
        return Ok(());
    }
    if v == Version::V2 {
        return Err(CgroupError::Unsupported {
            field: format!("{R}.network"),
            version: "v2",
            reason: "net_cls and net_prio do not exist in cgroup v2; use eBPF or nftables \
                     cgroup matching instead"
                .into(),
        });
    }
    if let Some(c) = n.class_id() {
        p.writes
            .push(Write::new(Controller::NetCls, "net_cls.classid", c));
    }
    for (i, pr) in prios.iter().enumerate() {
        let name = pr.name();
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\n', '\0']) {
            return Err(invalid(
                format!("{R}.network.priorities[{i}].name"),
                format!("{name:?} is not an interface name"),
            ));
        }
        p.writes.push(Write::new(
            Controller::NetPrio,
            "net_prio.ifpriomap",
            format!("{name} {}", pr.priority()),
        ));
    }
    Ok(())
}

fn rdma(res: &LinuxResources, p: &mut Plan) -> Result<(), CgroupError> {
    let Some(map) = res.rdma() else {
        return Ok(());
    };
    let mut names: Vec<&String> = map.keys().collect();
    names.sort();
    for name in names {
        let r = &map[name];
        if name.is_empty() || name.contains([' ', '\n', '/', '\0']) {
            return Err(invalid(
                format!("{R}.rdma"),
                format!("{name:?} is not a device name"),
            ));
        }
        let mut s = name.clone();
        if let Some(h) = r.hca_handles() {
            s.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = r.hca_objects() {
            s.push_str(&format!(" hca_object={o}"));
        }
        if s.len() > name.len() {
            p.writes.push(Write::new(Controller::Rdma, "rdma.max", s));
        }
    }
    Ok(())
}

fn devices(res: &LinuxResources, v: Version, p: &mut Plan) -> Result<(), CgroupError> {
    let Some(list) = res.devices() else {
        return Ok(());
    };
    let mut rules = vec![DeviceRule::deny_all()];
    for (i, d) in list.iter().enumerate() {
        let field = format!("{R}.devices[{i}]");
        match DeviceRule::from_oci(d, &field)? {
            Some(r) => rules.push(r),
            None => p.warnings.push(Warning::new(
                field,
                "the device cgroup does not control FIFOs; rule ignored",
            )),
        }
    }
    if v == Version::V1 {
        for r in &rules {
            let file = if r.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            p.writes
                .push(Write::new(Controller::Devices, file, r.to_string()));
        }
    }
    p.devices = Some(rules);
    Ok(())
}

fn unified(res: &LinuxResources, v: Version, p: &mut Plan) -> Result<(), CgroupError> {
    let Some(map) = res.unified() else {
        return Ok(());
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let field = format!("{R}.unified[{key:?}]");
        if v == Version::V1 {
            return Err(CgroupError::Unsupported {
                field,
                version: "v1",
                reason: "unified keys are cgroup v2 files".into(),
            });
        }
        let Some((prefix, rest)) = key.split_once('.') else {
            return Err(invalid(field, "must have the form controller.parameter"));
        };
        if prefix.is_empty()
            || rest.is_empty()
            || key.contains(['/', '\0', '\n'])
            || key.starts_with('.')
        {
            return Err(invalid(
                field,
                "must be a file name of the form controller.parameter",
            ));
        }
        p.writes.push(Write::new(
            Controller::from_v2_prefix(prefix),
            key.clone(),
            map[key].clone(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
