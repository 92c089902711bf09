//! Seccomp: compile a spec's `linux.seccomp` to a BPF program in the caller, load it in the child.
//!
//! [`compile`] runs in the caller (before any fork): it translates the spec into rules
//! ([`translate`], pure), builds a filter with libseccomp and exports the classic BPF program.
//! [`load`] runs in the child: one plain `seccomp(SECCOMP_SET_MODE_FILTER)` syscall, no
//! libseccomp, no allocation, so it is safe between fork and exec.
//!
//! [`compile_cached`] keeps compiled programs in a directory of the runtime, keyed by the whole
//! spec, for processes that compile the same profile again and again (`berth-runc create`).
//!
//! # Semantics (as runc)
//! - Actions: `SCMP_ACT_KILL` is `KILL_THREAD`; `ERRNO` and `TRACE` return `errnoRet`, EPERM when
//!   absent; the default action uses `defaultErrnoRet` the same way.
//! - Syscall names unknown to libseccomp are skipped (a rule whose names are all unknown adds
//!   nothing); rules whose action equals the default action are skipped.
//! - Arguments: conditions on different argument indexes are ANDed in one rule. If some index has
//!   several conditions, every condition of that entry becomes a rule of its own (ORed), exactly
//!   as runc does (libseccomp cannot express two conditions on one argument in one rule).
//!   `SCMP_CMP_MASKED_EQ` compares `(arg & value) == valueTwo`.
//! - The libseccomp no_new_privs attribute is off: [`load`] never sets no_new_privs. The caller
//!   must either set `PR_SET_NO_NEW_PRIVS` first or hold CAP_SYS_ADMIN when loading.
//!
//! # Notify
//! If a rule uses `SCMP_ACT_NOTIFY`, `listenerPath` is required and the program carries
//! SECCOMP_FILTER_FLAG_NEW_LISTENER: [`load`] then returns the listener fd, which the runtime
//! must pass (SCM_RIGHTS) to its parent, which connects to `listenerPath` and sends the fd with
//! the container state and `listenerMetadata` to the seccomp agent. Any syscall the child makes
//! after loading that hits a NOTIFY rule blocks until an agent answers, so the child must not use
//! such syscalls (keep `sendmsg`, `write`, `read`, `close`, `execve` out of NOTIFY rules) before
//! the fd is handed over; `SCMP_ACT_NOTIFY` as the default action is rejected.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
    LinuxSyscall,
};

mod cache;
mod sys;

pub use cache::compile_cached;

/// Errors of this module. Messages name the spec field, e.g.
/// `linux.seccomp.syscalls[2].args[0].index: 7 is out of range (0-5)`.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The spec asks for something invalid or unsupported.
    #[error("{field}: {reason}")]
    Invalid {
        /// The spec field, `linux.seccomp.…`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// libseccomp refused part of the filter.
    #[error("{field}: {source}")]
    Libseccomp {
        /// The spec field, `linux.seccomp.…`.
        field: String,
        /// libseccomp's error.
        source: libseccomp::error::SeccompError,
    },
    /// Exporting the BPF program failed.
    #[error("exporting the seccomp filter: {0}")]
    Export(std::io::Error),
    /// The kernel refused the program.
    #[error("loading the seccomp filter (flags {flags:#x}): {source}")]
    Load {
        /// The flags passed to seccomp(2).
        flags: u32,
        /// The OS error.
        source: std::io::Error,
    },
}

fn invalid(field: impl fmt::Display, reason: impl fmt::Display) -> SeccompError {
    SeccompError::Invalid {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

fn lib_err(
    field: impl fmt::Display,
) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    move |source| SeccompError::Libseccomp {
        field: field.to_string(),
        source,
    }
}

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Immediate operand.
    pub k: u32,
}

/// Most instructions the kernel accepts in one filter (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// SECCOMP_FILTER_FLAG_TSYNC.
pub const FLAG_TSYNC: u32 = 1;
/// SECCOMP_FILTER_FLAG_LOG.
pub const FLAG_LOG: u32 = 1 << 1;
/// SECCOMP_FILTER_FLAG_SPEC_ALLOW.
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
/// SECCOMP_FILTER_FLAG_NEW_LISTENER.
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
/// SECCOMP_FILTER_FLAG_TSYNC_ESRCH.
pub const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV.
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// A compiled filter, ready for [`load`]: the BPF program and the seccomp(2) flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeccompProgram {
    filter: Vec<SockFilter>,
    flags: u32,
}

impl SeccompProgram {
    /// The BPF instructions.
    pub fn instructions(&self) -> &[SockFilter] {
        &self.filter
    }

    /// The flags [`load`] passes to seccomp(2) (`FLAG_*`).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Whether [`load`] returns a listener fd (the profile has `SCMP_ACT_NOTIFY` rules).
    pub fn needs_listener(&self) -> bool {
        self.flags & FLAG_NEW_LISTENER != 0
    }
}

/// The translation of a spec: what [`compile`] hands to libseccomp.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The default action.
    pub default_action: ScmpAction,
    /// Architectures to add besides the native one.
    pub arches: Vec<ScmpArch>,
    /// seccomp(2) flags.
    pub flags: u32,
    /// The rules, in spec order.
    pub rules: Vec<Rule<'a>>,
    /// Syscall names that libseccomp does not know, skipped.
    pub skipped: Vec<&'a str>,
}

/// One libseccomp rule: `action` when `syscall` is called and all of `conditions` hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<'a> {
    /// Index of the entry in `linux.seccomp.syscalls`, for errors.
    pub index: usize,
    /// The syscall name.
    pub name: &'a str,
    /// The resolved syscall number (native arch, or a libseccomp pseudo number).
    pub syscall: ScmpSyscall,
    /// The action.
    pub action: ScmpAction,
    /// The conditions, ANDed.
    pub conditions: Vec<ScmpArgCompare>,
}

fn action(
    field: impl Fn() -> String,
    act: LinuxSeccompAction,
    errno_ret: Option<u32>,
) -> Result<ScmpAction, SeccompError> {
    let ret = |errno_ret: Option<u32>| -> Result<u16, SeccompError> {
        let v = errno_ret.unwrap_or(libc::EPERM as u32);
        u16::try_from(v)
            .map_err(|_| invalid(field(), format!("errno {v} is out of range (0-65535)")))
    };
    Ok(match act {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret(errno_ret)?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret(errno_ret)?),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

/// libseccomp's token for an architecture of the spec.
pub fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn op(o: LinuxSeccompOperator, value: u64, value_two: Option<u64>) -> (ScmpCompareOp, u64) {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            (ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0))
        }
    }
}

/// Translates `linux.seccomp` into a [`Plan`]: validates every field, resolves syscall names and
/// expands argument conditions. Touches no kernel state.
pub fn translate(spec: &LinuxSeccomp) -> Result<Plan<'_>, SeccompError> {
    const F: &str = "linux.seccomp";
    if spec.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(invalid(
            format_args!("{F}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    let default_action = action(
        || format!("{F}.defaultErrnoRet"),
        spec.default_action(),
        spec.default_errno_ret(),
    )?;

    let mut arches = Vec::new();
    for a in spec.architectures().iter().flatten() {
        let t = arch(*a);
        if t != ScmpArch::Native && !arches.contains(&t) {
            arches.push(t);
        }
    }

    let mut flags = 0;
    for f in spec.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        };
    }

    let empty: &[LinuxSyscall] = &[];
    let syscalls = spec.syscalls().as_deref().unwrap_or(empty);
    let mut rules = Vec::with_capacity(syscalls.iter().map(|s| s.names().len()).sum());
    let mut skipped = Vec::new();
    let mut notify = false;
    for (i, sc) in syscalls.iter().enumerate() {
        let act = action(
            || format!("{F}.syscalls[{i}].errnoRet"),
            sc.action(),
            sc.errno_ret(),
        )?;
        // Conditions, validated even when the rule ends up adding nothing.
        let args = sc.args().as_deref().unwrap_or(&[]);
        let mut per_index = [0u8; 6];
        let mut conditions = Vec::with_capacity(args.len());
        for (j, a) in args.iter().enumerate() {
            let idx = a.index();
            if idx > 5 {
                return Err(invalid(
                    format_args!("{F}.syscalls[{i}].args[{j}].index"),
                    format_args!("{idx} is out of range (0-5)"),
                ));
            }
            per_index[idx] = per_index[idx].saturating_add(1);
            let (cmp, datum) = op(a.op(), a.value(), a.value_two());
            conditions.push(ScmpArgCompare::new(idx as u32, cmp, datum));
        }
        let split = per_index.iter().any(|&n| n > 1);
        if act == default_action {
            continue;
        }
        if act == ScmpAction::Notify {
            notify = true;
        }
        for name in sc.names() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                skipped.push(name.as_str());
                continue;
            };
            if split {
                for c in &conditions {
                    rules.push(Rule {
                        index: i,
                        name,
                        syscall,
                        action: act,
                        conditions: vec![*c],
                    });
                }
            } else {
                rules.push(Rule {
                    index: i,
                    name,
                    syscall,
                    action: act,
                    conditions: conditions.clone(),
                });
            }
        }
    }

    if notify {
        if spec.listener_path().is_none() {
            return Err(invalid(
                format_args!("{F}.listenerPath"),
                "required when a rule uses SCMP_ACT_NOTIFY",
            ));
        }
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            // TSYNC reports a thread id on failure, which would be confused with the listener fd.
            flags |= FLAG_TSYNC_ESRCH;
        }
    } else if flags & FLAG_WAIT_KILLABLE_RECV != 0 {
        return Err(invalid(
            format_args!("{F}.flags"),
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a rule with SCMP_ACT_NOTIFY",
        ));
    }

    Ok(Plan {
        default_action,
        arches,
        flags,
        rules,
        skipped,
    })
}

/// Compiles `linux.seccomp` to a BPF program. Call it in the caller, once per container; the
/// result is loaded by [`load`] in the child.
pub fn compile(spec: &LinuxSeccomp) -> Result<SeccompProgram, SeccompError> {
    let plan = translate(spec)?;
    let mut ctx = ScmpFilterContext::new(plan.default_action)
        .map_err(lib_err("linux.seccomp.defaultAction"))?;
    // The process stages set no_new_privs themselves, and load() passes the flags itself.
    ctx.set_ctl_nnp(false)
        .map_err(lib_err("linux.seccomp (no_new_privs attribute)"))?;
    for a in &plan.arches {
        ctx.add_arch(*a).map_err(|_| {
            let name = spec
                .architectures()
                .iter()
                .flatten()
                .find(|x| arch(**x) == *a)
                .map(|x| x.to_string())
                .unwrap_or_else(|| format!("{a:?}"));
            invalid(
                "linux.seccomp.architectures",
                format_args!(
                    "unsupported architecture {name:?} (not known to libseccomp {})",
                    libseccomp_version()
                ),
            )
        })?;
    }
    for r in &plan.rules {
        ctx.add_rule_conditional(r.action, r.syscall, &r.conditions)
            .map_err(lib_err(format_args!(
                "linux.seccomp.syscalls[{}] ({:?})",
                r.index, r.name
            )))?;
    }
    let filter = export(&ctx)?;
    Ok(SeccompProgram {
        filter,
        flags: plan.flags,
    })
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "?".into())
}

/// Exports the filter's BPF through a memfd and decodes it.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<SockFilter>, SeccompError> {
    use rustix::fs::{memfd_create, MemfdFlags};
    let fd = memfd_create(c"berth-seccomp", MemfdFlags::CLOEXEC)
        .map_err(|e| SeccompError::Export(e.into()))?;
    ctx.export_bpf(&fd)
        .map_err(|e| SeccompError::Export(std::io::Error::other(e.to_string())))?;
    let mut file = std::fs::File::from(fd);
    let len = file.seek(SeekFrom::End(0)).map_err(SeccompError::Export)?;
    file.seek(SeekFrom::Start(0))
        .map_err(SeccompError::Export)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.read_to_end(&mut bytes).map_err(SeccompError::Export)?;
    decode(&bytes)
}

/// Decodes a native-endian `struct sock_filter` array.
fn decode(bytes: &[u8]) -> Result<Vec<SockFilter>, SeccompError> {
    const SIZE: usize = std::mem::size_of::<SockFilter>();
    let n = bytes.len() / SIZE;
    if n == 0 || n * SIZE != bytes.len() {
        return Err(SeccompError::Export(std::io::Error::other(format!(
            "BPF program of {} bytes is not a whole number of instructions",
            bytes.len()
        ))));
    }
    if n > MAX_INSNS {
        return Err(invalid(
            "linux.seccomp",
            format_args!(
                "the filter needs {n} BPF instructions, more than the kernel's {MAX_INSNS}"
            ),
        ));
    }
    Ok(bytes
        .chunks_exact(SIZE)
        .map(|c| SockFilter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// Installs `prog` on the calling thread (all threads with TSYNC). Returns the notify listener
/// fd when [`SeccompProgram::needs_listener`]. Requires no_new_privs or CAP_SYS_ADMIN. Does not
/// allocate: safe between fork and exec.
pub fn load(prog: &SeccompProgram) -> Result<Option<OwnedFd>, SeccompError> {
    sys::set_mode_filter(&prog.filter, prog.flags).map_err(|source| SeccompError::Load {
        flags: prog.flags,
        source,
    })
}

/// Checks the enum-valued strings of a raw `linux.seccomp` JSON object, so that the spec loader
/// can report `linux.seccomp.syscalls[2].args[0].op: unknown operator "SCMP_CMP_FOO"` instead of
/// serde's generic message. Call it before deserializing into [`LinuxSeccomp`]; it checks only
/// what would fail there by name (defaultAction, architectures, flags, actions, operators).
pub fn check_json(seccomp: &serde_json::Value) -> Result<(), SeccompError> {
    use serde::Deserialize;
    use serde_json::Value;

    fn known<'de, T: Deserialize<'de>>(
        v: &'de Value,
        field: impl Fn() -> String,
        what: &str,
    ) -> Result<(), SeccompError> {
        match v {
            Value::String(s) if T::deserialize(v).is_err() => {
                Err(invalid(field(), format_args!("unknown {what} {s:?}")))
            }
            Value::String(_) => Ok(()),
            other => Err(invalid(
                field(),
                format_args!("expected a string, got {other}"),
            )),
        }
    }
    fn items(v: &Value) -> &[Value] {
        v.as_array().map(Vec::as_slice).unwrap_or(&[])
    }

    const F: &str = "linux.seccomp";
    if let Some(v) = seccomp.get("defaultAction") {
        known::<LinuxSeccompAction>(v, || format!("{F}.defaultAction"), "action")?;
    }
    for v in seccomp.get("architectures").map(items).unwrap_or(&[]) {
        known::<Arch>(v, || format!("{F}.architectures"), "architecture")?;
    }
    for v in seccomp.get("flags").map(items).unwrap_or(&[]) {
        known::<LinuxSeccompFilterFlag>(v, || format!("{F}.flags"), "flag")?;
    }
    for (i, sc) in seccomp
        .get("syscalls")
        .map(items)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        if let Some(v) = sc.get("action") {
            known::<LinuxSeccompAction>(v, || format!("{F}.syscalls[{i}].action"), "action")?;
        }
        for (j, a) in sc.get("args").map(items).unwrap_or(&[]).iter().enumerate() {
            if let Some(v) = a.get("op") {
                known::<LinuxSeccompOperator>(
                    v,
                    || format!("{F}.syscalls[{i}].args[{j}].op"),
                    "operator",
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("valid LinuxSeccomp")
    }

    fn nr(name: &str) -> ScmpSyscall {
        ScmpSyscall::from_name(name).expect("known syscall")
    }

    fn err(v: serde_json::Value) -> String {
        match compile(&spec(v)) {
            Ok(p) => panic!(
                "expected an error, compiled {} instructions",
                p.instructions().len()
            ),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn actions_and_errno_defaults() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                { "names": ["mkdirat"], "action": "SCMP_ACT_ERRNO" },
                { "names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 },
                { "names": ["kill"], "action": "SCMP_ACT_KILL" },
                { "names": ["tkill"], "action": "SCMP_ACT_KILL_PROCESS" },
                { "names": ["tgkill"], "action": "SCMP_ACT_KILL_THREAD" },
                { "names": ["ptrace"], "action": "SCMP_ACT_TRACE" },
                { "names": ["chdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 7 },
                { "names": ["getpid"], "action": "SCMP_ACT_TRAP" },
                { "names": ["read"], "action": "SCMP_ACT_ALLOW" },
                { "names": ["write"], "action": "SCMP_ACT_LOG" }
            ]
        }));
        let plan = translate(&s).expect("translate");
        assert_eq!(plan.default_action, ScmpAction::Errno(libc::EPERM));
        let got: Vec<(&str, ScmpAction)> = plan.rules.iter().map(|r| (r.name, r.action)).collect();
        assert_eq!(
            got,
            vec![
                // mkdirat → ERRNO(EPERM) equals the default action: skipped.
                ("getcwd", ScmpAction::Errno(38)),
                ("kill", ScmpAction::KillThread),
                ("tkill", ScmpAction::KillProcess),
                ("tgkill", ScmpAction::KillThread),
                ("ptrace", ScmpAction::Trace(libc::EPERM as u16)),
                ("chdir", ScmpAction::Trace(7)),
                ("getpid", ScmpAction::Trap),
                ("read", ScmpAction::Allow),
                ("write", ScmpAction::Log),
            ]
        );
        assert_eq!(plan.flags, 0);
    }

    #[test]
    fn default_errno_ret() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "syscalls": [{ "names": ["mkdirat"], "action": "SCMP_ACT_ERRNO" }]
        }));
        let plan = translate(&s).expect("translate");
        assert_eq!(plan.default_action, ScmpAction::Errno(38));
        // ERRNO(EPERM) now differs from the default: kept.
        assert_eq!(plan.rules.len(), 1);
        assert_eq!(plan.rules[0].action, ScmpAction::Errno(libc::EPERM));
    }

    #[test]
    fn unknown_names_are_skipped() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                { "names": ["no_such_syscall", "mkdirat"], "action": "SCMP_ACT_ERRNO" },
                { "names": ["also_not_a_syscall"], "action": "SCMP_ACT_KILL" }
            ]
        }));
        let plan = translate(&s).expect("translate");
        assert_eq!(plan.skipped, vec!["no_such_syscall", "also_not_a_syscall"]);
        assert_eq!(plan.rules.len(), 1);
        assert_eq!(plan.rules[0].syscall, nr("mkdirat"));
        assert_eq!(plan.rules[0].index, 0);
        compile(&s).expect("compiles");
    }

    #[test]
    fn conditions_on_one_index_are_ored_on_several_anded() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                    { "index": 0, "value": 0, "op": "SCMP_CMP_EQ" },
                    { "index": 0, "value": 8, "op": "SCMP_CMP_EQ" }
                ]},
                { "names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [
                    { "index": 0, "value": 16, "op": "SCMP_CMP_NE" },
                    { "index": 2, "value": 9, "op": "SCMP_CMP_NE" }
                ]},
                { "names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
                    { "index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ" }
                ]}
            ]
        }));
        let plan = translate(&s).expect("translate");
        let eq = |i, v| ScmpArgCompare::new(i, ScmpCompareOp::Equal, v);
        let ne = |i, v| ScmpArgCompare::new(i, ScmpCompareOp::NotEqual, v);
        let conds: Vec<(&str, Vec<ScmpArgCompare>)> = plan
            .rules
            .iter()
            .map(|r| (r.name, r.conditions.clone()))
            .collect();
        assert_eq!(
            conds,
            vec![
                ("personality", vec![eq(0, 0)]),
                ("personality", vec![eq(0, 8)]),
                ("socket", vec![ne(0, 16), ne(2, 9)]),
                (
                    "clone",
                    vec![ScmpArgCompare::new(
                        0,
                        ScmpCompareOp::MaskedEqual(2114060288),
                        0
                    )]
                ),
            ]
        );
        compile(&s).expect("compiles");
    }

    #[test]
    fn all_operators_map() {
        let ops = [
            ("SCMP_CMP_NE", ScmpCompareOp::NotEqual, 5),
            ("SCMP_CMP_LT", ScmpCompareOp::Less, 5),
            ("SCMP_CMP_LE", ScmpCompareOp::LessOrEqual, 5),
            ("SCMP_CMP_EQ", ScmpCompareOp::Equal, 5),
            ("SCMP_CMP_GE", ScmpCompareOp::GreaterEqual, 5),
            ("SCMP_CMP_GT", ScmpCompareOp::Greater, 5),
            ("SCMP_CMP_MASKED_EQ", ScmpCompareOp::MaskedEqual(5), 3),
        ];
        for (name, want, datum) in ops {
            let s = spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{ "names": ["dup3"], "action": "SCMP_ACT_ERRNO",
                    "args": [{ "index": 2, "value": 5, "valueTwo": 3, "op": name }] }]
            }));
            let plan = translate(&s).expect("translate");
            assert_eq!(
                plan.rules[0].conditions,
                vec![ScmpArgCompare::new(2, want, datum)],
                "{name}"
            );
            compile(&s).expect("compiles");
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            err(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    { "names": ["read"], "action": "SCMP_ACT_ALLOW" },
                    { "names": ["read"], "action": "SCMP_ACT_ALLOW" },
                    { "names": ["dup3"], "action": "SCMP_ACT_ERRNO",
                      "args": [{ "index": 7, "value": 1, "op": "SCMP_CMP_EQ" }] }
                ]
            })),
            "linux.seccomp.syscalls[2].args[0].index: 7 is out of range (0-5)"
        );
        assert_eq!(
            err(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000 }]
            })),
            "linux.seccomp.syscalls[0].errnoRet: errno 70000 is out of range (0-65535)"
        );
        assert_eq!(
            err(json!({ "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65536 })),
            "linux.seccomp.defaultErrnoRet: errno 65536 is out of range (0-65535)"
        );
        assert_eq!(
            err(json!({ "defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/agent.sock" })),
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
        );
    }

    #[test]
    fn notify_needs_a_listener_path() {
        let doc = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{ "names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY" }]
        });
        assert_eq!(
            err(doc.clone()),
            "linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY"
        );
        let mut with = doc;
        with["listenerPath"] = json!("/run/agent.sock");
        let prog = compile(&spec(with)).expect("compiles");
        assert!(prog.needs_listener());
        assert_eq!(
            prog.flags(),
            FLAG_TSYNC | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH
        );
    }

    #[test]
    fn flags_map() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
        }));
        let prog = compile(&s).expect("compiles");
        assert_eq!(prog.flags(), FLAG_LOG | FLAG_SPEC_ALLOW);
        assert!(!prog.needs_listener());
        assert_eq!(
            err(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
            })),
            "linux.seccomp.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a rule with SCMP_ACT_NOTIFY"
        );
    }

    #[test]
    fn architectures() {
        let all = [
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_ARM",
            "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_MIPS",
            "SCMP_ARCH_MIPS64",
            "SCMP_ARCH_MIPS64N32",
            "SCMP_ARCH_MIPSEL",
            "SCMP_ARCH_MIPSEL64",
            "SCMP_ARCH_MIPSEL64N32",
            "SCMP_ARCH_PPC",
            "SCMP_ARCH_PPC64",
            "SCMP_ARCH_PPC64LE",
            "SCMP_ARCH_S390",
            "SCMP_ARCH_S390X",
            "SCMP_ARCH_PARISC",
            "SCMP_ARCH_PARISC64",
            "SCMP_ARCH_RISCV64",
            "SCMP_ARCH_LOONGARCH64",
            "SCMP_ARCH_M68K",
            "SCMP_ARCH_SH",
            "SCMP_ARCH_SHEB",
            "SCMP_ARCH_NATIVE",
        ];
        for a in all {
            let s = spec(json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": [a] }));
            let plan = translate(&s).expect("translate");
            assert!(plan.arches.len() <= 1, "{a}");
            match compile(&s) {
                Ok(_) => {}
                // Architectures newer than the installed libseccomp are refused by name.
                Err(e) => assert!(
                    e.to_string().starts_with(&format!(
                        "linux.seccomp.architectures: unsupported architecture \"{a}\""
                    )),
                    "{a}: {e}"
                ),
            }
        }
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86"]
        }));
        assert_eq!(
            translate(&s).expect("translate").arches,
            vec![ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32]
        );
        compile(&s).expect("x86 family compiles");
    }

    #[test]
    fn program_shape() {
        let s = spec(json!({ "defaultAction": "SCMP_ACT_ALLOW" }));
        let prog = compile(&s).expect("compiles");
        let insns = prog.instructions();
        assert!(!insns.is_empty() && insns.len() < 16);
        // It returns the default action (BPF_RET|BPF_K, SECCOMP_RET_ALLOW) for the native
        // arch, and kills the thread for any other arch (libseccomp's bad-arch action).
        assert!(insns.iter().any(|i| (i.code, i.k) == (0x06, 0x7fff_0000)));
        let last = insns[insns.len() - 1];
        assert_eq!((last.code, last.k), (0x06, 0));
        assert!(decode(&[0u8; 7]).is_err());
        assert!(decode(&[0u8; 8 * (MAX_INSNS + 1)]).is_err());
    }

    #[test]
    fn json_check_names_field_and_value() {
        let bad = |v: serde_json::Value| check_json(&v).err().map(|e| e.to_string());
        assert_eq!(
            bad(json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_FOO"] })),
            Some("linux.seccomp.architectures: unknown architecture \"SCMP_ARCH_FOO\"".into())
        );
        assert_eq!(
            bad(json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                { "names": ["read"], "action": "SCMP_ACT_ALLOW" },
                { "names": ["read"], "action": "SCMP_ACT_ALLOW" },
                { "names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [
                    { "index": 0, "value": 1, "op": "SCMP_CMP_APPROX" }] },
                { "names": ["read"], "action": "SCMP_ACT_MAYBE" }
            ]})),
            Some(
                "linux.seccomp.syscalls[2].args[0].op: unknown operator \"SCMP_CMP_APPROX\"".into()
            )
        );
        assert_eq!(
            bad(json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                { "names": ["read"], "action": "SCMP_ACT_MAYBE" }]})),
            Some("linux.seccomp.syscalls[0].action: unknown action \"SCMP_ACT_MAYBE\"".into())
        );
        assert_eq!(
            bad(
                json!({ "defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"] })
            ),
            Some("linux.seccomp.flags: unknown flag \"SECCOMP_FILTER_FLAG_FAST\"".into())
        );
        assert_eq!(
            bad(json!({ "defaultAction": "SCMP_ACT_KILL_PROCESS" })),
            None
        );
    }
}
