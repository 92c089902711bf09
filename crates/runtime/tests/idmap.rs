//! Id-mapped overlays (berth_runtime::idmap) on real layers: owners seen through the mount, what
//! a write stores on the host, and the chown-copy fallback. Root only.
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_runtime::idmap::{self, IdMapping, IdRange, OverlayPlan};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        for m in ["m", "m2"] {
            let p = CString::new(self.0.join(m).to_string_lossy().as_bytes()).expect("cstr");
            let _ = berth_runtime::sys::umount2(&p, libc::MNT_DETACH);
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn setup(tag: &str) -> Option<Dir> {
    if berth_runtime::sys::geteuid() != 0 {
        eprintln!("skipping: needs root");
        return None;
    }
    let d = Dir(PathBuf::from(format!(
        "/tmp/berth-test-idmap-{tag}-{}",
        std::process::id()
    )));
    let _ = fs::remove_dir_all(&d.0);
    for s in ["l1/fs/etc", "l2/fs/bin", "up", "work", "m", "m2", "cache"] {
        fs::create_dir_all(d.0.join(s)).expect("mkdir");
    }
    fs::write(d.0.join("l1/fs/etc/passwd"), "root:x:0:0\n").expect("write");
    fs::write(d.0.join("l2/fs/bin/tool"), "x").expect("write");
    std::os::unix::fs::chown(d.0.join("l2/fs/bin/tool"), Some(1000), Some(1000)).expect("chown");
    fs::set_permissions(
        d.0.join("l2/fs/bin/tool"),
        fs::Permissions::from_mode(0o4755),
    )
    .expect("chmod");
    std::os::unix::fs::chown(d.0.join("up"), Some(200000), Some(200000)).expect("chown");
    Some(d)
}

fn mapping() -> IdMapping {
    let r = IdRange {
        container: 0,
        host: 200000,
        size: 65536,
    };
    IdMapping {
        uids: vec![r],
        gids: vec![r],
    }
}

fn options(d: &Path) -> Vec<String> {
    vec![
        format!(
            "lowerdir={}:{}",
            d.join("l2/fs").display(),
            d.join("l1/fs").display()
        ),
        format!("upperdir={}", d.join("up").display()),
        format!("workdir={}", d.join("work").display()),
        "index=off".into(),
    ]
}

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    (m.uid(), m.gid())
}

#[test]
fn idmapped_layers_show_mapped_owners_and_writes_store_host_ids() {
    let Some(d) = setup("mnt") else { return };
    let m = d.0.join("m");
    idmap::mount_overlay(&m, &options(&d.0), None, &mapping(), None).expect("mount");
    assert_eq!(owner(&m.join("etc/passwd")), (200000, 200000));
    assert_eq!(owner(&m.join("bin/tool")), (201000, 201000));
    // The layers themselves are untouched: no copy, no chown.
    assert_eq!(owner(&d.0.join("l1/fs/etc/passwd")), (0, 0));
    // Copy-up stores the mapped owner in the upper dir; the lower keeps its own.
    fs::write(m.join("etc/passwd"), "changed\n").expect("copy-up");
    assert_eq!(owner(&d.0.join("up/etc/passwd")), (200000, 200000));
    assert_eq!(
        fs::read_to_string(d.0.join("l1/fs/etc/passwd")).expect("read"),
        "root:x:0:0\n"
    );
    assert_eq!(
        fs::metadata(m.join("bin/tool")).expect("stat").mode() & 0o7777,
        0o4755
    );
    assert!(
        !d.0.join("cache/200000.200000").exists(),
        "no chown-copy when id-mapped mounts work"
    );
}

#[test]
fn chown_copy_fallback_shifts_owners_once_per_mapping() {
    let Some(d) = setup("copy") else { return };
    let plan = OverlayPlan::from_options(&options(&d.0), None).expect("plan");
    let cache = d.0.join("cache");
    idmap::mount_overlay_copied(&d.0.join("m"), &plan, &mapping(), &cache).expect("mount");
    let m = d.0.join("m");
    assert_eq!(owner(&m.join("etc/passwd")), (200000, 200000));
    assert_eq!(owner(&m.join("bin/tool")), (201000, 201000));
    assert_eq!(
        fs::metadata(m.join("bin/tool")).expect("stat").mode() & 0o7777,
        0o4755,
        "set-id bits survive the chown"
    );
    let copy = cache.join("200000.200000/l2/bin/tool");
    assert_eq!(owner(&copy), (201000, 201000));
    // A second container of the same mapping reuses the copy (same inode).
    let ino = fs::metadata(&copy).expect("stat").ino();
    fs::create_dir_all(d.0.join("up2")).expect("mkdir");
    fs::create_dir_all(d.0.join("work2")).expect("mkdir");
    let mut plan2 = plan.clone();
    plan2.upper = Some((d.0.join("up2"), d.0.join("work2")));
    idmap::mount_overlay_copied(&d.0.join("m2"), &plan2, &mapping(), &cache).expect("mount 2");
    assert_eq!(fs::metadata(&copy).expect("stat").ino(), ino);
    assert_eq!(owner(&d.0.join("l2/fs/bin/tool")), (1000, 1000));
}

/// Layers on a filesystem that cannot be id-mapped (ramfs): `mount_overlay` falls back to the
/// chown-copies on its own.
#[test]
fn layers_that_cannot_be_idmapped_fall_back_to_copies() {
    let Some(d) = setup("ramfs") else { return };
    let ram = d.0.join("ram");
    fs::create_dir(&ram).expect("mkdir");
    let c = CString::new(ram.to_string_lossy().as_bytes()).expect("cstr");
    berth_runtime::sys::mount(Some(c"ramfs"), &c, Some(c"ramfs"), 0, None).expect("mount ramfs");
    struct Unmount(CString);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = berth_runtime::sys::umount2(&self.0, libc::MNT_DETACH);
        }
    }
    let _ram = Unmount(c);
    fs::create_dir_all(ram.join("l1/fs/etc")).expect("mkdir");
    fs::write(ram.join("l1/fs/etc/passwd"), "root:x:0:0\n").expect("write");
    let opts = vec![
        format!("lowerdir={}", ram.join("l1/fs").display()),
        format!("upperdir={}", d.0.join("up").display()),
        format!("workdir={}", d.0.join("work").display()),
    ];
    let cache = d.0.join("cache");
    let m = d.0.join("m");
    // Without a cache directory the refusal is the error.
    let e = idmap::mount_overlay(&m, &opts, None, &mapping(), None).expect_err("no fallback");
    assert!(e.to_string().contains("id-map layer"), "{e}");
    idmap::mount_overlay(&m, &opts, None, &mapping(), Some(&cache)).expect("mount");
    assert_eq!(owner(&m.join("etc/passwd")), (200000, 200000));
    assert_eq!(
        owner(&cache.join("200000.200000/l1/etc/passwd")),
        (200000, 200000)
    );
    assert_eq!(owner(&ram.join("l1/fs/etc/passwd")), (0, 0));
}

/// The variant for kernels whose overlay takes layers only by path: same owners, and the
/// attached clones are gone once the overlay exists.
#[test]
fn idmapped_layers_by_path_are_detached_after_the_mount() {
    let Some(d) = setup("paths") else { return };
    let plan = OverlayPlan::from_options(&options(&d.0), None).expect("plan");
    let userns = idmap::user_namespace(&mapping()).expect("userns");
    let scratch = d.0.join(".m-idmap");
    let m = d.0.join("m");
    idmap::mount_overlay_idmapped_paths(&m, &plan, std::os::fd::AsFd::as_fd(&userns), &scratch)
        .expect("mount");
    assert_eq!(owner(&m.join("etc/passwd")), (200000, 200000));
    assert_eq!(owner(&m.join("bin/tool")), (201000, 201000));
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let left: Vec<&str> = mounts
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|p| p.starts_with(&*scratch.to_string_lossy()))
        })
        .collect();
    assert!(left.is_empty(), "clones left attached: {left:?}");
    assert!(!scratch.exists());
    fs::write(m.join("etc/new"), "x").expect("write");
    assert_eq!(
        owner(&d.0.join("up/etc/new")),
        (0, 0),
        "written by host root"
    );
}
