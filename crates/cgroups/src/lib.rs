//! berth-cgroups: cgroup v1 and v2 behind one resource model.
#![forbid(unsafe_code)]
