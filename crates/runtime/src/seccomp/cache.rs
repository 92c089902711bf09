//! An on-disk cache of compiled programs, so that `berth-runc create` (a new process per
//! container) does not pay libseccomp's compile time (~8 ms for Docker's default profile) for
//! every container with the same profile, as crun does with its BPF cache.
//!
//! An entry is named by a 64-bit hash of the spec's JSON, but holds that JSON in full and is used
//! only if it matches byte for byte, together with the libseccomp and Berth versions: a hash
//! collision can never hand a container another profile's filter. The directory must belong to
//! the runtime (it is created 0700); a directory that is not owned by our euid or is writable by
//! group or others is ignored and the profile is compiled afresh.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

use super::{compile, SeccompError, SeccompProgram, MAX_INSNS};

const MAGIC: &[u8] = b"berth-seccomp-cache-1\n";

/// What an entry must match besides the spec: our version and libseccomp's.
fn versions() -> String {
    format!(
        "berth {} libseccomp {}",
        env!("CARGO_PKG_VERSION"),
        super::libseccomp_version()
    )
}

/// Like [`compile`], but reuses a program compiled earlier for an identical spec from `dir`
/// and stores new ones there. Cache problems (unreadable, corrupt, foreign-owned) are never
/// errors: the spec is then compiled as if there were no cache.
pub fn compile_cached(spec: &LinuxSeccomp, dir: &Path) -> Result<SeccompProgram, SeccompError> {
    let Ok(key) = serde_json::to_vec(spec) else {
        return compile(spec);
    };
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    let name = format!("{:016x}.bpf", h.finish());
    let header = entry_header(&key);
    if trusted_dir(dir) {
        if let Ok(bytes) = fs::read(dir.join(&name)) {
            if let Some(prog) = decode_entry(&bytes, &header) {
                return Ok(prog);
            }
        }
    }
    let prog = compile(spec)?;
    let _ = store(dir, &name, &header, &prog);
    Ok(prog)
}

fn trusted_dir(dir: &Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| {
        m.is_dir() && m.uid() == rustix::process::geteuid().as_raw() && m.mode() & 0o022 == 0
    })
}

fn entry_header(key: &[u8]) -> Vec<u8> {
    let v = versions();
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + v.len() + key.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend_from_slice(v.as_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out
}

/// Entry: header, flags (u32 LE), instruction count (u32 LE), instructions (native endian).
fn encode_entry(header: &[u8], prog: &SeccompProgram) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + 8 + prog.filter.len() * 8);
    out.extend_from_slice(header);
    out.extend_from_slice(&prog.flags.to_le_bytes());
    out.extend_from_slice(&(prog.filter.len() as u32).to_le_bytes());
    for i in &prog.filter {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

fn decode_entry(bytes: &[u8], header: &[u8]) -> Option<SeccompProgram> {
    let rest = bytes.strip_prefix(header)?;
    let (flags, rest) = rest.split_first_chunk::<4>()?;
    let (count, rest) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count) as usize;
    if count == 0 || count > MAX_INSNS || rest.len() != count * 8 {
        return None;
    }
    let filter = super::decode(rest).ok()?;
    Some(SeccompProgram {
        filter,
        flags: u32::from_le_bytes(*flags),
    })
}

fn store(dir: &Path, name: &str, header: &[u8], prog: &SeccompProgram) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    if !trusted_dir(dir) {
        return Ok(());
    }
    // Write a private temporary file, then rename it into place: readers see whole entries.
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let res = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&encode_entry(header, prog))?;
        fs::rename(&tmp, dir.join(name))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::super::SockFilter;
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_round_trip_and_reject_other_specs() {
        let prog = SeccompProgram {
            filter: vec![
                SockFilter {
                    code: 0x20,
                    jt: 0,
                    jf: 0,
                    k: 4,
                },
                SockFilter {
                    code: 0x06,
                    jt: 1,
                    jf: 2,
                    k: 0x7fff_0000,
                },
            ],
            flags: 3,
        };
        let h = entry_header(b"{\"a\":1}");
        let e = encode_entry(&h, &prog);
        assert_eq!(decode_entry(&e, &h), Some(prog));
        assert_eq!(decode_entry(&e, &entry_header(b"{\"a\":2}")), None);
        assert_eq!(decode_entry(&e[..e.len() - 1], &h), None);
    }

    #[test]
    fn cache_hit_equals_fresh_compile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("seccomp");
        let spec: LinuxSeccomp = serde_json::from_value(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{ "names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW" }]
        }))
        .expect("spec");
        let first = compile_cached(&spec, &cache).expect("compile");
        assert_eq!(fs::read_dir(&cache).expect("cache dir").count(), 1);
        let second = compile_cached(&spec, &cache).expect("cached");
        assert_eq!(first, second);
        assert_eq!(first, compile(&spec).expect("fresh"));
        // A corrupt entry is ignored and replaced.
        let entry = fs::read_dir(&cache)
            .expect("dir")
            .flatten()
            .next()
            .expect("entry")
            .path();
        fs::write(&entry, b"garbage").expect("corrupt");
        assert_eq!(compile_cached(&spec, &cache).expect("recompiled"), first);
        // A group-writable directory is not trusted.
        fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o770))
            .expect("chmod");
        assert!(!trusted_dir(&cache));
    }
}
