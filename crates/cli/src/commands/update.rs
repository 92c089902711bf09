//! `berth update`: `POST /containers/{id}/update` with the resource flags and restart policy
//! given, each container's name printed on success, errors gathered (exit 1).

use berth_api::container::{ContainerUpdateRequest, ContainerUpdateResponse, RestartPolicy};
use clap::Args;

use super::{collect_errors, cpath, CmdError, CmdResult, Ctx};
use crate::client::{Body, Request};
use crate::units;

/// `berth update`.
#[derive(Debug, Clone, Default, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int")]
    pub cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_name = "int")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    pub containers: Vec<String>,
}

fn swap(s: &str) -> Result<i64, CmdError> {
    if s == "-1" {
        Ok(-1)
    } else {
        Ok(units::ram_in_bytes(s)?)
    }
}

/// The update body docker sends for these flags (unset fields zero: unchanged).
pub fn body(a: &UpdateArgs) -> Result<ContainerUpdateRequest, CmdError> {
    let given = a.blkio_weight.is_some()
        || a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpu_shares.is_some()
        || a.cpus.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
        || a.memory.is_some()
        || a.memory_reservation.is_some()
        || a.memory_swap.is_some()
        || a.pids_limit.is_some()
        || a.restart.is_some();
    if !given {
        return Err(CmdError::Status {
            message: "you must provide one or more flags when using this command".into(),
            code: 1,
        });
    }
    let mut r = ContainerUpdateRequest::default();
    let res = &mut r.resources;
    res.blkio_weight = a.blkio_weight.unwrap_or(0);
    res.cpu_period = a.cpu_period.unwrap_or(0);
    res.cpu_quota = a.cpu_quota.unwrap_or(0);
    res.cpu_realtime_period = a.cpu_rt_period.unwrap_or(0);
    res.cpu_realtime_runtime = a.cpu_rt_runtime.unwrap_or(0);
    res.cpu_shares = a.cpu_shares.unwrap_or(0);
    res.nano_cpus = a
        .cpus
        .as_deref()
        .map(units::nano_cpus)
        .transpose()?
        .unwrap_or(0);
    res.cpuset_cpus = a.cpuset_cpus.clone().unwrap_or_default();
    res.cpuset_mems = a.cpuset_mems.clone().unwrap_or_default();
    res.memory = a
        .memory
        .as_deref()
        .map(units::ram_in_bytes)
        .transpose()?
        .unwrap_or(0);
    res.memory_reservation = a
        .memory_reservation
        .as_deref()
        .map(units::ram_in_bytes)
        .transpose()?
        .unwrap_or(0);
    res.memory_swap = a.memory_swap.as_deref().map(swap).transpose()?.unwrap_or(0);
    res.pids_limit = a.pids_limit;
    if let Some(p) = &a.restart {
        let (name, n) = p.split_once(':').unwrap_or((p, "0"));
        r.restart_policy = RestartPolicy {
            name: name.to_owned(),
            maximum_retry_count: n.parse().map_err(|_| {
                CmdError::Usage(format!(
                    "invalid restart policy format: maximum retry count must be an integer: {p}"
                ))
            })?,
        };
    }
    Ok(r)
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: UpdateArgs) -> CmdResult {
    let body = body(&args)?;
    let mut errs = Vec::new();
    for n in &args.containers {
        let req = Request::new("POST", cpath(n, "/update")).body(Body::json(&body)?);
        match ctx.client.json::<ContainerUpdateResponse>(req) {
            Ok(resp) => {
                for w in resp.warnings.unwrap_or_default() {
                    eprintln!("{w}");
                }
                super::out(&format!("{n}\n"));
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_only_the_given_fields() {
        let a = UpdateArgs {
            memory: Some("64m".into()),
            cpus: Some("0.5".into()),
            restart: Some("on-failure:3".into()),
            containers: vec!["c".into()],
            ..UpdateArgs::default()
        };
        let b = body(&a).unwrap();
        assert_eq!(b.resources.memory, 64 << 20);
        assert_eq!(b.resources.nano_cpus, 500_000_000);
        assert_eq!(b.resources.cpu_shares, 0);
        assert_eq!(b.restart_policy.name, "on-failure");
        assert_eq!(b.restart_policy.maximum_retry_count, 3);
        let none = UpdateArgs {
            containers: vec!["c".into()],
            ..UpdateArgs::default()
        };
        assert!(body(&none)
            .unwrap_err()
            .to_string()
            .contains("one or more flags"));
    }
}
