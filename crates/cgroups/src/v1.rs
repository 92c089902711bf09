//! cgroup v1 specifics: cpuset inheritance, the freezer, statistics.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::CgroupError;
use crate::fs;
use crate::manager::FreezerState;
use crate::stats::{
    parse_blkio_v1, parse_u64_list, BlkioStats, CpuStats, HugetlbStats, MemoryStats, PidsStats,
};

/// A new v1 cpuset cgroup starts with empty `cpuset.cpus`/`cpuset.mems`, and a task cannot
/// join it until they are set. Copies the parent's values into every empty level from just
/// below `anchor` down to `leaf`.
pub(crate) fn inherit_cpuset(anchor: &Path, leaf: &Path) -> Result<(), CgroupError> {
    let Ok(rel) = leaf.strip_prefix(anchor) else {
        return Ok(());
    };
    let mut cur = anchor.to_path_buf();
    for c in rel.components() {
        let parent = cur.clone();
        cur.push(c);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = fs::read(&cur.join(file))?;
            if mine.trim().is_empty() {
                let theirs = fs::read(&parent.join(file))?;
                fs::write(&cur.join(file), theirs.trim())?;
            }
        }
    }
    Ok(())
}

/// Reads `freezer.state`.
pub(crate) fn freezer_state(dir: &Path) -> Result<FreezerState, CgroupError> {
    let file = dir.join("freezer.state");
    let s = fs::read(&file)?;
    match s.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        other => Err(CgroupError::Malformed {
            file,
            reason: format!("unknown freezer state {other:?}"),
        }),
    }
}

/// Writes `FROZEN` or `THAWED` and polls until the state settles (re-writing now and then, as
/// a task that forks while freezing can leave the cgroup in `FREEZING`).
pub(crate) fn set_freezer(dir: &Path, want: FreezerState) -> Result<(), CgroupError> {
    let value = match want {
        FreezerState::Frozen => "FROZEN",
        _ => "THAWED",
    };
    let file = dir.join("freezer.state");
    fs::write(&file, value)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut delay = Duration::from_micros(100);
    let mut last_write = Instant::now();
    loop {
        let s = freezer_state(dir)?;
        if s == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            if want == FreezerState::Frozen {
                // Do not leave the cgroup half frozen.
                let _ = fs::write(&file, "THAWED");
            }
            return Err(CgroupError::FreezeTimeout {
                path: dir.to_path_buf(),
                want: value.into(),
                seen: format!("{s:?}").to_uppercase(),
            });
        }
        if last_write.elapsed() > Duration::from_millis(100) {
            fs::write(&file, value)?;
            last_write = Instant::now();
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    }
}

/// `oom_kill` from `memory.oom_control` (0 on kernels before 4.13, which lack the line).
pub(crate) fn oom_kill_count(mem: &Path) -> Result<u64, CgroupError> {
    let m = fs::parse_flat_keyed(&fs::read(&mem.join("memory.oom_control"))?);
    Ok(m.get("oom_kill").copied().unwrap_or(0))
}

/// Clock ticks per second for `cpuacct.stat` (USER_HZ is 100 on every Linux ABI).
const USER_HZ: u64 = 100;

pub(crate) fn cpu_stats(
    cpuacct: Option<&Path>,
    cpu: Option<&Path>,
) -> Result<CpuStats, CgroupError> {
    let mut st = CpuStats::default();
    if let Some(d) = cpuacct {
        st.usage_total_ns = fs::read_u64(&d.join("cpuacct.usage"))?.unwrap_or(0);
        if let Some(s) = fs::read_opt(&d.join("cpuacct.usage_percpu"))? {
            st.usage_per_cpu_ns = parse_u64_list(&s);
        }
        match (
            fs::read_u64_opt(&d.join("cpuacct.usage_user"))?,
            fs::read_u64_opt(&d.join("cpuacct.usage_sys"))?,
        ) {
            (Some(u), Some(s)) => {
                st.usage_user_ns = u;
                st.usage_system_ns = s;
            }
            _ => {
                let m = fs::parse_flat_keyed(&fs::read(&d.join("cpuacct.stat"))?);
                let ns = |t: u64| t.saturating_mul(1_000_000_000 / USER_HZ);
                st.usage_user_ns = ns(m.get("user").copied().unwrap_or(0));
                st.usage_system_ns = ns(m.get("system").copied().unwrap_or(0));
            }
        }
    }
    if let Some(d) = cpu {
        if let Some(s) = fs::read_opt(&d.join("cpu.stat"))? {
            let m = fs::parse_flat_keyed(&s);
            st.throttling.periods = m.get("nr_periods").copied().unwrap_or(0);
            st.throttling.throttled_periods = m.get("nr_throttled").copied().unwrap_or(0);
            st.throttling.throttled_time_ns = m.get("throttled_time").copied().unwrap_or(0);
        }
    }
    Ok(st)
}

pub(crate) fn memory_stats(d: &Path) -> Result<MemoryStats, CgroupError> {
    let stat = fs::parse_flat_keyed(&fs::read(&d.join("memory.stat"))?);
    let pick = |hier: &str, local: &str| {
        stat.get(hier)
            .or_else(|| stat.get(local))
            .copied()
            .unwrap_or(0)
    };
    let usage = fs::read_u64(&d.join("memory.usage_in_bytes"))?.unwrap_or(0);
    let memsw_usage = fs::read_u64_opt(&d.join("memory.memsw.usage_in_bytes"))?;
    Ok(MemoryStats {
        usage,
        max_usage: fs::read_u64_opt(&d.join("memory.max_usage_in_bytes"))?,
        limit: fs::read_u64(&d.join("memory.limit_in_bytes"))?,
        cache: pick("total_cache", "cache"),
        inactive_file: pick("total_inactive_file", "inactive_file"),
        rss: pick("total_rss", "rss"),
        swap_usage: memsw_usage.map(|m| m.saturating_sub(usage)),
        swap_limit: fs::read_u64_opt(&d.join("memory.memsw.limit_in_bytes"))?,
        failcnt: fs::read_u64_opt(&d.join("memory.failcnt"))?.unwrap_or(0),
        stat,
    })
}

pub(crate) fn pids_stats(d: &Path) -> Result<PidsStats, CgroupError> {
    Ok(PidsStats {
        current: fs::read_u64(&d.join("pids.current"))?.unwrap_or(0),
        limit: fs::read_u64(&d.join("pids.max"))?,
    })
}

pub(crate) fn blkio_stats(d: &Path) -> Result<BlkioStats, CgroupError> {
    let first = |names: &[&str]| -> Result<Vec<_>, CgroupError> {
        for n in names {
            if let Some(s) = fs::read_opt(&d.join(n))? {
                let e = parse_blkio_v1(&s);
                if !e.is_empty() {
                    return Ok(e);
                }
            }
        }
        Ok(Vec::new())
    };
    Ok(BlkioStats {
        io_service_bytes: first(&[
            "blkio.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes",
        ])?,
        io_serviced: first(&[
            "blkio.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive",
            "blkio.throttle.io_serviced",
        ])?,
    })
}

pub(crate) fn hugetlb_stats(
    d: &Path,
) -> Result<std::collections::BTreeMap<String, HugetlbStats>, CgroupError> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(d) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|r| r.strip_suffix(".usage_in_bytes"))
        else {
            continue;
        };
        if size.contains('.') {
            continue; // hugetlb.2MB.rsvd.usage_in_bytes
        }
        let f = |suffix: &str| d.join(format!("hugetlb.{size}.{suffix}"));
        out.insert(
            size.to_string(),
            HugetlbStats {
                usage: fs::read_u64(&f("usage_in_bytes"))?.unwrap_or(0),
                max_usage: fs::read_u64_opt(&f("max_usage_in_bytes"))?,
                failcnt: fs::read_u64_opt(&f("failcnt"))?.unwrap_or(0),
                limit: fs::read_u64_opt(&f("limit_in_bytes"))?,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, list: &[(&str, &str)]) {
        for (name, text) in list {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn stats_from_fixture_files() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        files(
            d,
            &[
                ("cpuacct.usage", "5000\n"),
                ("cpuacct.usage_percpu", "3000 2000 \n"),
                ("cpuacct.stat", "user 3\nsystem 1\n"),
                ("cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 777\n"),
                ("memory.stat", "cache 10\nrss 20\ninactive_file 5\ntotal_cache 11\ntotal_rss 21\ntotal_inactive_file 6\n"),
                ("memory.usage_in_bytes", "1000\n"),
                ("memory.max_usage_in_bytes", "2000\n"),
                ("memory.limit_in_bytes", "33554432\n"),
                ("memory.memsw.usage_in_bytes", "1500\n"),
                ("memory.memsw.limit_in_bytes", "67108864\n"),
                ("memory.failcnt", "2\n"),
                ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
                ("pids.current", "4\n"),
                ("pids.max", "max\n"),
                ("blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n"),
                ("blkio.throttle.io_serviced_recursive", "8:0 Read 1\nTotal 1\n"),
                ("hugetlb.2MB.usage_in_bytes", "2097152\n"),
                ("hugetlb.2MB.max_usage_in_bytes", "4194304\n"),
                ("hugetlb.2MB.failcnt", "1\n"),
                ("hugetlb.2MB.limit_in_bytes", "8388608\n"),
                ("hugetlb.2MB.rsvd.usage_in_bytes", "0\n"),
                ("freezer.state", "FREEZING\n"),
            ],
        );
        let c = cpu_stats(Some(d), Some(d)).unwrap();
        assert_eq!(c.usage_total_ns, 5000);
        assert_eq!(c.usage_per_cpu_ns, [3000, 2000]);
        assert_eq!(c.usage_user_ns, 30_000_000);
        assert_eq!(c.usage_system_ns, 10_000_000);
        assert_eq!(c.throttling.throttled_periods, 4);
        assert_eq!(c.throttling.throttled_time_ns, 777);
        let m = memory_stats(d).unwrap();
        assert_eq!(
            (m.usage, m.max_usage, m.limit),
            (1000, Some(2000), Some(32 << 20))
        );
        assert_eq!((m.cache, m.rss, m.inactive_file), (11, 21, 6));
        assert_eq!(m.swap_usage, Some(500));
        assert_eq!(m.swap_limit, Some(64 << 20));
        assert_eq!(m.failcnt, 2);
        assert_eq!(oom_kill_count(d).unwrap(), 3);
        let p = pids_stats(d).unwrap();
        assert_eq!((p.current, p.limit), (4, None));
        let b = blkio_stats(d).unwrap();
        assert_eq!(b.io_service_bytes.len(), 2);
        assert_eq!(b.io_serviced[0].value, 1);
        let h = hugetlb_stats(d).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h["2MB"].usage, 2 << 20);
        assert_eq!(h["2MB"].limit, Some(8 << 20));
        assert_eq!(freezer_state(d).unwrap(), FreezerState::Freezing);
    }

    #[test]
    fn cpuset_is_copied_into_empty_levels() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path();
        files(a, &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")]);
        let leaf = a.join("x/y");
        std::fs::create_dir_all(&leaf).unwrap();
        for d in [a.join("x"), leaf.clone()] {
            files(&d, &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")]);
        }
        std::fs::write(a.join("x/cpuset.cpus"), "1\n").unwrap();
        inherit_cpuset(a, &leaf).unwrap();
        assert_eq!(
            std::fs::read_to_string(leaf.join("cpuset.cpus")).unwrap(),
            "1"
        );
        assert_eq!(
            std::fs::read_to_string(leaf.join("cpuset.mems")).unwrap(),
            "0"
        );
        assert_eq!(
            std::fs::read_to_string(a.join("x/cpuset.cpus")).unwrap(),
            "1\n"
        );
    }
}
