//! cgroup v2 specifics: enabling controllers down the tree, cgroup.freeze, statistics.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::CgroupError;
use crate::fs;
use crate::manager::FreezerState;
use crate::plan::Warning;
use crate::stats::{parse_io_stat, BlkioStats, CpuStats, HugetlbStats, MemoryStats, PidsStats};

/// Controllers a container cgroup gets, when the parent has them.
pub(crate) const WANTED: &[&str] = &[
    "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc",
];

/// The `+ctrl` words still needed in a `cgroup.subtree_control`, given the cgroup's
/// `cgroup.controllers` and its current `cgroup.subtree_control`.
pub(crate) fn missing_controllers(available: &str, enabled: &str) -> Vec<String> {
    let avail: Vec<&str> = available.split_whitespace().collect();
    let on: Vec<&str> = enabled.split_whitespace().collect();
    WANTED
        .iter()
        .filter(|c| avail.contains(c) && !on.contains(c))
        .map(|c| format!("+{c}"))
        .collect()
}

/// Enables the wanted controllers in `dir`'s `cgroup.subtree_control`, all at once, else one
/// by one. Failures become warnings: the child then lacks that controller, and writing a limit
/// for it fails later with an error naming the file.
///
/// A cgroup other than the root that holds processes of its own is left alone ("no internal
/// processes"): the kernel would refuse the domain controllers (memory, io) but accept the
/// threaded ones (cpu, cpuset, pids), which makes the cgroup a thread root and every new child
/// an invalid domain that refuses processes (EOPNOTSUPP), and changes a cgroup that belongs to
/// someone else (a systemd service's, a login session's).
pub(crate) fn enable_controllers(
    dir: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<(), CgroupError> {
    let available = fs::read(&dir.join("cgroup.controllers"))?;
    let enabled = fs::read(&dir.join("cgroup.subtree_control"))?;
    let missing = missing_controllers(&available, &enabled);
    if missing.is_empty() {
        return Ok(());
    }
    let file = dir.join("cgroup.subtree_control");
    // `cgroup.type` exists in every cgroup but the root.
    let is_root = !dir.join("cgroup.type").exists();
    if !is_root && !fs::read_pids(&dir.join("cgroup.procs"))?.is_empty() {
        warnings.push(Warning::new(
            file.display().to_string(),
            format!(
                "{} holds processes, so cgroup v2 lets it give no controller ({}) to a \
                 cgroup below it: use a cgroup parent that holds no processes (an absolute \
                 cgroupsPath such as /berth/<id>)",
                dir.display(),
                missing.join(" ")
            ),
        ));
        return Ok(());
    }
    if fs::write(&file, &missing.join(" ")).is_ok() {
        return Ok(());
    }
    for m in &missing {
        if let Err(e) = fs::write(&file, m) {
            warnings.push(Warning::new(file.display().to_string(), e.to_string()));
        }
    }
    Ok(())
}

/// Reads the freezer state from `cgroup.freeze` and `cgroup.events`.
pub(crate) fn freezer_state(dir: &Path) -> Result<FreezerState, CgroupError> {
    let want = fs::read(&dir.join("cgroup.freeze"))?;
    let frozen = frozen(dir)?;
    Ok(match (want.trim() == "1", frozen) {
        (true, true) => FreezerState::Frozen,
        (true, false) => FreezerState::Freezing,
        (false, _) => FreezerState::Thawed,
    })
}

fn frozen(dir: &Path) -> Result<bool, CgroupError> {
    let ev = fs::parse_flat_keyed(&fs::read(&dir.join("cgroup.events"))?);
    Ok(ev.get("frozen").copied() == Some(1))
}

/// Writes `cgroup.freeze` and waits for `cgroup.events` to report the state.
pub(crate) fn set_freezer(dir: &Path, want: FreezerState) -> Result<(), CgroupError> {
    let freeze = want == FreezerState::Frozen;
    fs::write(&dir.join("cgroup.freeze"), if freeze { "1" } else { "0" })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut delay = Duration::from_micros(100);
    loop {
        if frozen(dir)? == freeze {
            return Ok(());
        }
        if Instant::now() > deadline {
            if freeze {
                let _ = fs::write(&dir.join("cgroup.freeze"), "0");
            }
            return Err(CgroupError::FreezeTimeout {
                path: dir.to_path_buf(),
                want: if freeze { "frozen 1" } else { "frozen 0" }.into(),
                seen: if freeze { "frozen 0" } else { "frozen 1" }.into(),
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    }
}

/// `oom_kill` from `memory.events`.
pub(crate) fn oom_kill_count(dir: &Path) -> Result<u64, CgroupError> {
    let m = fs::parse_flat_keyed(&fs::read(&dir.join("memory.events"))?);
    Ok(m.get("oom_kill").copied().unwrap_or(0))
}

pub(crate) fn cpu_stats(d: &Path) -> Result<CpuStats, CgroupError> {
    let mut st = CpuStats::default();
    if let Some(s) = fs::read_opt(&d.join("cpu.stat"))? {
        let m = fs::parse_flat_keyed(&s);
        let us = |k: &str| m.get(k).copied().unwrap_or(0).saturating_mul(1000);
        st.usage_total_ns = us("usage_usec");
        st.usage_user_ns = us("user_usec");
        st.usage_system_ns = us("system_usec");
        st.throttling.periods = m.get("nr_periods").copied().unwrap_or(0);
        st.throttling.throttled_periods = m.get("nr_throttled").copied().unwrap_or(0);
        st.throttling.throttled_time_ns = us("throttled_usec");
    }
    Ok(st)
}

pub(crate) fn memory_stats(d: &Path) -> Result<MemoryStats, CgroupError> {
    let Some(cur) = fs::read_opt(&d.join("memory.current"))? else {
        return Ok(MemoryStats::default());
    };
    let stat = fs::parse_flat_keyed(&fs::read(&d.join("memory.stat"))?);
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    let events = fs::read_opt(&d.join("memory.events"))?
        .map(|s| fs::parse_flat_keyed(&s))
        .unwrap_or_default();
    Ok(MemoryStats {
        usage: fs::parse_u64(&d.join("memory.current"), &cur)?.unwrap_or(0),
        max_usage: fs::read_u64_opt(&d.join("memory.peak"))?,
        limit: fs::read_u64(&d.join("memory.max"))?,
        cache: get("file"),
        inactive_file: get("inactive_file"),
        rss: get("anon"),
        swap_usage: fs::read_u64_opt(&d.join("memory.swap.current"))?,
        swap_limit: fs::read_u64_opt(&d.join("memory.swap.max"))?,
        failcnt: events.get("max").copied().unwrap_or(0),
        stat,
    })
}

pub(crate) fn pids_stats(d: &Path) -> Result<PidsStats, CgroupError> {
    match fs::read_u64_opt(&d.join("pids.current"))? {
        Some(current) => Ok(PidsStats {
            current,
            limit: fs::read_u64(&d.join("pids.max"))?,
        }),
        None => Ok(PidsStats {
            current: fs::read_pids_recursive(d)?.len() as u64,
            limit: None,
        }),
    }
}

pub(crate) fn io_stats(d: &Path) -> Result<BlkioStats, CgroupError> {
    let (io_service_bytes, io_serviced) = fs::read_opt(&d.join("io.stat"))?
        .map(|s| parse_io_stat(&s))
        .unwrap_or_default();
    Ok(BlkioStats {
        io_service_bytes,
        io_serviced,
    })
}

pub(crate) fn hugetlb_stats(d: &Path) -> Result<BTreeMap<String, HugetlbStats>, CgroupError> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(d) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|r| r.strip_suffix(".current"))
        else {
            continue;
        };
        if size.contains('.') {
            continue; // hugetlb.2MB.rsvd.current
        }
        let f = |suffix: &str| d.join(format!("hugetlb.{size}.{suffix}"));
        let events = fs::read_opt(&f("events"))?
            .map(|s| fs::parse_flat_keyed(&s))
            .unwrap_or_default();
        out.insert(
            size.to_string(),
            HugetlbStats {
                usage: fs::read_u64(&f("current"))?.unwrap_or(0),
                max_usage: None,
                failcnt: events.get("max").copied().unwrap_or(0),
                limit: fs::read_u64_opt(&f("max"))?,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_controllers_only_what_is_available_and_off() {
        assert_eq!(
            missing_controllers(
                "cpuset cpu io memory hugetlb pids rdma misc\n",
                "memory pids\n"
            ),
            ["+cpu", "+cpuset", "+io", "+hugetlb", "+rdma", "+misc"]
        );
        assert!(missing_controllers("memory\n", "memory\n").is_empty());
        assert!(missing_controllers("", "").is_empty());
    }

    fn cgroup_dir(root: bool, procs: &str, subtree: &str) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cgroup.controllers"), "cpu io memory pids\n").unwrap();
        std::fs::write(t.path().join("cgroup.subtree_control"), subtree).unwrap();
        std::fs::write(t.path().join("cgroup.procs"), procs).unwrap();
        if !root {
            std::fs::write(t.path().join("cgroup.type"), "domain\n").unwrap();
        }
        t
    }

    #[test]
    fn a_cgroup_with_processes_is_not_made_a_thread_root() {
        let t = cgroup_dir(false, "41\n42\n", "");
        let mut w = Vec::new();
        enable_controllers(t.path(), &mut w).unwrap();
        let after = std::fs::read_to_string(t.path().join("cgroup.subtree_control")).unwrap();
        assert_eq!(after, "", "nothing enabled");
        assert_eq!(w.len(), 1);
        let msg = w[0].to_string();
        assert!(msg.contains("holds processes"), "{msg}");
        assert!(msg.contains("+cpu +io +memory +pids"), "{msg}");
    }

    #[test]
    fn the_root_and_empty_cgroups_delegate() {
        for (root, procs) in [(true, "1\n"), (false, "")] {
            let t = cgroup_dir(root, procs, "memory\n");
            let mut w = Vec::new();
            enable_controllers(t.path(), &mut w).unwrap();
            let after = std::fs::read_to_string(t.path().join("cgroup.subtree_control")).unwrap();
            // a plain file keeps the last write: all missing controllers at once
            assert_eq!(after, "+cpu +io +pids", "root={root}");
            assert!(w.is_empty(), "{w:?}");
        }
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    #[test]
    fn stats_from_fixture_files() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for (name, text) in [
            ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 7\nnr_throttled 1\nthrottled_usec 9\n"),
            ("memory.current", "1000\n"),
            ("memory.peak", "3000\n"),
            ("memory.max", "max\n"),
            ("memory.stat", "anon 20\nfile 10\ninactive_file 4\n"),
            ("memory.swap.current", "0\n"),
            ("memory.swap.max", "0\n"),
            ("memory.events", "low 0\nhigh 0\nmax 6\noom 2\noom_kill 2\n"),
            ("pids.current", "3\n"),
            ("pids.max", "20\n"),
            ("io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"),
            ("hugetlb.1GB.current", "0\n"),
            ("hugetlb.1GB.max", "max\n"),
            ("hugetlb.1GB.events", "max 0\n"),
            ("cgroup.freeze", "1\n"),
            ("cgroup.events", "populated 1\nfrozen 0\n"),
        ] {
            std::fs::write(d.join(name), text).unwrap();
        }
        let c = cpu_stats(d).unwrap();
        assert_eq!(
            (c.usage_total_ns, c.usage_user_ns, c.usage_system_ns),
            (5000, 3000, 2000)
        );
        assert_eq!(c.throttling.throttled_time_ns, 9000);
        let m = memory_stats(d).unwrap();
        assert_eq!((m.usage, m.max_usage, m.limit), (1000, Some(3000), None));
        assert_eq!((m.cache, m.rss, m.inactive_file, m.failcnt), (10, 20, 4, 6));
        assert_eq!((m.swap_usage, m.swap_limit), (Some(0), Some(0)));
        assert_eq!(oom_kill_count(d).unwrap(), 2);
        let p = pids_stats(d).unwrap();
        assert_eq!((p.current, p.limit), (3, Some(20)));
        let io = io_stats(d).unwrap();
        assert_eq!(io.io_service_bytes.len(), 3);
        let h = hugetlb_stats(d).unwrap();
        assert_eq!(h["1GB"].limit, None);
        assert_eq!(freezer_state(d).unwrap(), FreezerState::Freezing);
    }
}
