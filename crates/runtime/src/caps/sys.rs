//! Raw capability syscalls: prctl(2) bounding/ambient/keep-caps operations and capset(2).
//!
//! Every function here is async-signal-safe (no allocation), so the process stages may call
//! them between fork and exec.

use std::io;

/// `_LINUX_CAPABILITY_VERSION_3` from `<linux/capability.h>`: two 32-bit data words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn prctl(option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: the prctl options used in this module (PR_CAPBSET_READ, PR_CAPBSET_DROP,
    // PR_SET_KEEPCAPS, PR_CAP_AMBIENT) take only integer arguments, never pointers, so no
    // memory is read or written by the kernel on our behalf; unused trailing arguments are 0
    // as the kernel requires.
    let rc = unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// PR_CAPBSET_READ: whether `cap` is in the calling thread's bounding set.
pub(super) fn bounding_has(cap: u32) -> io::Result<bool> {
    prctl(libc::PR_CAPBSET_READ, cap.into(), 0).map(|rc| rc == 1)
}

/// PR_CAPBSET_DROP: remove `cap` from the bounding set (needs CAP_SETPCAP).
pub(super) fn bounding_drop(cap: u32) -> io::Result<()> {
    prctl(libc::PR_CAPBSET_DROP, cap.into(), 0).map(drop)
}

/// PR_SET_KEEPCAPS.
pub(super) fn set_keepcaps(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0).map(drop)
}

/// PR_CAP_AMBIENT_CLEAR_ALL.
pub(super) fn ambient_clear_all() -> io::Result<()> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
    )
    .map(drop)
}

/// PR_CAP_AMBIENT_RAISE for one capability.
pub(super) fn ambient_raise(cap: u32) -> io::Result<()> {
    // prctl(PR_CAP_AMBIENT, RAISE, cap, 0, 0): the fourth and fifth arguments must be zero,
    // which `prctl` above passes.
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
        cap.into(),
    )
    .map(drop)
}

/// capset(2), version 3, on the calling thread.
pub(super) fn capset(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    // Low 32 bits in data[0], high 32 bits in data[1]; truncation is the point.
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: `header` and `data` are live, properly aligned #[repr(C)] values with the
    // layout of `__user_cap_header_struct` and `__user_cap_data_struct[2]`, which is what
    // capset(2) reads for _LINUX_CAPABILITY_VERSION_3; the kernel may write the preferred
    // version back into `header`, which is mutable. pid 0 means the calling thread.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
