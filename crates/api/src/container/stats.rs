//! `GET /containers/{id}/stats`: one JSON object (`stream=0`) or one per second (`stream=1`).
//!
//! The CLI computes `docker stats` from these (moby `types.StatsJSON`, lower-case keys):
//! CPU % = Δ`cpu_stats.cpu_usage.total_usage` / Δ`system_cpu_usage` × `online_cpus` × 100, with the
//! deltas taken against `precpu_stats`; memory = `usage` − `stats.total_inactive_file` (cgroup
//! v1) or `stats.inactive_file` (v2), out of `limit`; net I/O sums `networks.*.rx_bytes/tx_bytes`;
//! block I/O sums `blkio_stats.io_service_bytes_recursive` by `op` (`read`/`write`, either case).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{is_zero, null_default};
use crate::ZERO_TIME;

/// One stats sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Sample time, RFC 3339 nano.
    #[serde(deserialize_with = "null_default")]
    pub read: String,
    /// Previous sample's time; [`ZERO_TIME`] in the first sample.
    #[serde(deserialize_with = "null_default")]
    pub preread: String,
    /// PIDs.
    #[serde(deserialize_with = "null_default")]
    pub pids_stats: PidsStats,
    /// Block I/O.
    #[serde(deserialize_with = "null_default")]
    pub blkio_stats: BlkioStats,
    /// Windows only; 0.
    #[serde(deserialize_with = "null_default")]
    pub num_procs: u32,
    /// Windows only.
    #[serde(deserialize_with = "null_default")]
    pub storage_stats: StorageStats,
    /// CPU now.
    #[serde(deserialize_with = "null_default")]
    pub cpu_stats: CpuStats,
    /// CPU at the previous sample (zeros in the first one).
    #[serde(deserialize_with = "null_default")]
    pub precpu_stats: CpuStats,
    /// Memory.
    #[serde(deserialize_with = "null_default")]
    pub memory_stats: MemoryStats,
    /// Container name with the leading `/`.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Container ID.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    /// Per interface; omitted for containers without network.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub networks: BTreeMap<String, NetworkStats>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            read: ZERO_TIME.into(),
            preread: ZERO_TIME.into(),
            pids_stats: PidsStats::default(),
            blkio_stats: BlkioStats::default(),
            num_procs: 0,
            storage_stats: StorageStats::default(),
            cpu_stats: CpuStats::default(),
            precpu_stats: CpuStats::default(),
            memory_stats: MemoryStats::default(),
            name: String::new(),
            id: String::new(),
            networks: BTreeMap::new(),
        }
    }
}

/// PIDs in the cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    /// Current number.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub current: u64,
    /// Limit; 0 unlimited.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Block I/O counters; lists are `null` when the cgroup does not provide them (v2 fills only
/// `io_service_bytes_recursive` and `io_serviced_recursive`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    /// Bytes by device and op.
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    /// IOs by device and op.
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    /// Queued IOs (note Go's key: `io_queue_recursive`).
    #[serde(rename = "io_queue_recursive")]
    pub io_queued_recursive: Option<Vec<BlkioStatEntry>>,
    /// Service time.
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// Wait time.
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// Merged IOs.
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    /// IO time.
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// Sectors.
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStatEntry {
    /// Device major.
    #[serde(deserialize_with = "null_default")]
    pub major: u64,
    /// Device minor.
    #[serde(deserialize_with = "null_default")]
    pub minor: u64,
    /// `read`, `write`, `sync`, `async`, `total` (v1: capitalised).
    #[serde(deserialize_with = "null_default")]
    pub op: String,
    /// Value.
    #[serde(deserialize_with = "null_default")]
    pub value: u64,
}

/// Windows storage counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageStats {
    /// Reads.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub read_count_normalized: u64,
    /// Bytes read.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub read_size_bytes: u64,
    /// Writes.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub write_count_normalized: u64,
    /// Bytes written.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub write_size_bytes: u64,
}

/// CPU counters (nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    /// Container usage.
    #[serde(deserialize_with = "null_default")]
    pub cpu_usage: CpuUsage,
    /// Host CPU time (sum over CPUs) from /proc/stat.
    #[serde(
        rename = "system_cpu_usage",
        deserialize_with = "null_default",
        skip_serializing_if = "is_zero"
    )]
    pub system_usage: u64,
    /// Online CPUs of the host.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub online_cpus: u32,
    /// CFS throttling.
    #[serde(deserialize_with = "null_default")]
    pub throttling_data: ThrottlingData,
}

/// Container CPU time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    /// Total.
    #[serde(deserialize_with = "null_default")]
    pub total_usage: u64,
    /// Per CPU (cgroup v1 only); omitted when empty.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub percpu_usage: Vec<u64>,
    /// Kernel mode.
    #[serde(deserialize_with = "null_default")]
    pub usage_in_kernelmode: u64,
    /// User mode.
    #[serde(deserialize_with = "null_default")]
    pub usage_in_usermode: u64,
}

/// CFS throttling counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottlingData {
    /// Periods.
    #[serde(deserialize_with = "null_default")]
    pub periods: u64,
    /// Throttled periods.
    #[serde(deserialize_with = "null_default")]
    pub throttled_periods: u64,
    /// Throttled time (ns).
    #[serde(deserialize_with = "null_default")]
    pub throttled_time: u64,
}

/// Memory counters (bytes); `stats` holds the raw `memory.stat` keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    /// Usage.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage (v1).
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub max_usage: u64,
    /// `memory.stat` (`total_inactive_file` on v1, `inactive_file` on v2, ...).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub stats: BTreeMap<String, u64>,
    /// Limit hits (v1).
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub failcnt: u64,
    /// Limit (host memory when unlimited).
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Interface counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    /// Bytes received.
    #[serde(deserialize_with = "null_default")]
    pub rx_bytes: u64,
    /// Packets received.
    #[serde(deserialize_with = "null_default")]
    pub rx_packets: u64,
    /// Receive errors.
    #[serde(deserialize_with = "null_default")]
    pub rx_errors: u64,
    /// Received packets dropped.
    #[serde(deserialize_with = "null_default")]
    pub rx_dropped: u64,
    /// Bytes sent.
    #[serde(deserialize_with = "null_default")]
    pub tx_bytes: u64,
    /// Packets sent.
    #[serde(deserialize_with = "null_default")]
    pub tx_packets: u64,
    /// Send errors.
    #[serde(deserialize_with = "null_default")]
    pub tx_errors: u64,
    /// Sent packets dropped.
    #[serde(deserialize_with = "null_default")]
    pub tx_dropped: u64,
}
