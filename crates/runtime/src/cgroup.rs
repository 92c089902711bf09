//! The runtime's view of a container cgroup, over the `berth-cgroups` manager.
//! (Temporary: bound to the manager once it lands.)

use oci_spec::runtime::LinuxResources;
use std::path::Path;

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Cgroup {}

impl Cgroup {
    pub fn create(_path: Option<&Path>, _id: &str, _res: Option<&LinuxResources>) -> Result<Self> {
        Ok(Cgroup {})
    }
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    pub fn from_json(_v: Option<&serde_json::Value>) -> Option<Self> {
        None
    }
    pub fn add_pid(&self, _pid: i32) -> Result<()> {
        Ok(())
    }
    pub fn kill_all(&self, _sig: i32) -> Result<()> {
        Ok(())
    }
    pub fn destroy(&self) -> Result<()> {
        Ok(())
    }
    pub fn freeze(&self) -> Result<()> {
        Ok(())
    }
    pub fn thaw(&self) -> Result<()> {
        Ok(())
    }
    pub fn is_frozen(&self) -> bool {
        false
    }
    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(vec![])
    }
    pub fn update(&self, _res: &LinuxResources) -> Result<Vec<String>> {
        Ok(vec![])
    }
    pub fn stats(&self) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }
    pub fn oom_kill_count(&self) -> Result<u64> {
        Ok(0)
    }
}
