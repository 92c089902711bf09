//! Statistics of one cgroup (what `docker stats` shows), the same struct for v1 and v2, and
//! parsers for the kernel's stat files.
//!
//! Units: bytes, nanoseconds, counts. `None` means "unlimited" for limits (`max` on v2), and
//! "not available on this kernel/hierarchy" for the other optional fields. v1 limits are
//! reported as the kernel prints them (an unlimited v1 memory limit reads as a huge number).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything `stats()` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Memory usage and limits.
    pub memory: MemoryStats,
    /// Number of tasks.
    pub pids: PidsStats,
    /// Block I/O per device.
    pub blkio: BlkioStats,
    /// hugetlb usage per page size (`2MB`, `1GB`).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// CPU accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time consumed, ns.
    pub usage_total_ns: u64,
    /// Per-CPU time, ns (v1 only; empty on v2).
    pub usage_per_cpu_ns: Vec<u64>,
    /// Time in user mode, ns.
    pub usage_user_ns: u64,
    /// Time in kernel mode, ns.
    pub usage_system_ns: u64,
    /// CFS bandwidth throttling.
    pub throttling: Throttling,
}

/// CFS bandwidth throttling counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttling {
    /// Enforcement periods that elapsed.
    pub periods: u64,
    /// Periods in which the group was throttled.
    pub throttled_periods: u64,
    /// Total time throttled, ns.
    pub throttled_time_ns: u64,
}

/// Memory accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Current usage (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub usage: u64,
    /// Peak usage (v1 `memory.max_usage_in_bytes`, v2 `memory.peak` when the kernel has it).
    pub max_usage: Option<u64>,
    /// The limit; `None` = unlimited (v2 `max`).
    pub limit: Option<u64>,
    /// Page cache (v1 `total_cache`/`cache`, v2 `file`).
    pub cache: u64,
    /// Inactive file cache (v1 `total_inactive_file`, v2 `inactive_file`); `docker stats`
    /// subtracts it from usage.
    pub inactive_file: u64,
    /// Anonymous memory (v1 `total_rss`/`rss`, v2 `anon`).
    pub rss: u64,
    /// Swap in use (v1 memsw usage − usage, v2 `memory.swap.current`), if swap is accounted.
    pub swap_usage: Option<u64>,
    /// Swap limit as the kernel holds it (v1 memsw limit = memory+swap, v2 `memory.swap.max` =
    /// swap alone); `None` when unlimited or not accounted.
    pub swap_limit: Option<u64>,
    /// Times the limit was hit (v1 `memory.failcnt`, v2 `max` in `memory.events`).
    pub failcnt: u64,
    /// The whole `memory.stat` file.
    pub stat: BTreeMap<String, u64>,
}

/// Task counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Tasks in the cgroup (and below).
    pub current: u64,
    /// `pids.max`; `None` = unlimited.
    pub limit: Option<u64>,
}

/// Block I/O counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    /// Bytes per device and operation.
    pub io_service_bytes: Vec<BlkioEntry>,
    /// Operations per device and operation.
    pub io_serviced: Vec<BlkioEntry>,
}

/// One `major:minor op value` counter. `op` is the v1 kernel spelling (`Read`, `Write`,
/// `Sync`, `Async`, `Discard`, `Total`); v2 counters are reported as `Read`, `Write` and
/// `Discard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// Operation.
    pub op: String,
    /// Bytes or operations.
    pub value: u64,
}

/// hugetlb accounting for one page size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugetlbStats {
    /// Bytes in use.
    pub usage: u64,
    /// Peak bytes (v1 only).
    pub max_usage: Option<u64>,
    /// Times the limit was hit.
    pub failcnt: u64,
    /// The limit; `None` = unlimited.
    pub limit: Option<u64>,
}

/// Parses a v1 blkio file (`8:0 Read 4096` lines, a `Total N` line at the end).
pub fn parse_blkio_v1(s: &str) -> Vec<BlkioEntry> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let dev = it.next()?;
            let op = it.next()?;
            let value = it.next()?.parse().ok()?;
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                op: op.to_string(),
                value,
            })
        })
        .collect()
}

/// Parses v2 `io.stat` (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`) into
/// (bytes, operations).
pub fn parse_io_stat(s: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for l in s.lines() {
        let mut it = l.split_whitespace();
        let Some((ma, mi)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "dbytes" => (&mut bytes, "Discard"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                "dios" => (&mut ios, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    (bytes, ios)
}

/// Parses a whitespace-separated list of numbers (`cpuacct.usage_percpu`).
pub fn parse_u64_list(s: &str) -> Vec<u64> {
    s.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_v1() {
        let s = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n";
        let e = parse_blkio_v1(s);
        assert_eq!(e.len(), 5);
        assert_eq!(
            e[1],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 8192
            }
        );
    }

    #[test]
    fn io_stat_v2() {
        let (b, o) = parse_io_stat(
            "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n",
        );
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].op, "Read");
        assert_eq!(b[0].value, 1_459_200);
        assert_eq!(b[1].value, 314_773_504);
        assert_eq!(o[1].value, 353);
        assert_eq!((o[1].major, o[1].minor), (8, 16));
    }

    #[test]
    fn percpu() {
        assert_eq!(parse_u64_list("1 2 3 \n"), [1, 2, 3]);
    }
}
