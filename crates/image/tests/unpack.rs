//! Layer unpacking: metadata kept, whiteouts converted, hostile archives refused with nothing
//! left behind, limits enforced. Root-only (chown, mknod, trusted.* xattrs).
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use berth_image::{Digest, LayerUnpacker, Limits, UnpackError};
use common::{gzip, tar_of, tree, zstd, TestRoot, E};

fn unpack(
    t: &TestRoot,
    data: &[u8],
    limits: Limits,
) -> Result<berth_image::UnpackStats, UnpackError> {
    let dest = t.join("dest");
    LayerUnpacker::new(limits).unpack("sha256:test", data, None, &dest)
}

#[test]
fn keeps_metadata_and_converts_whiteouts() {
    require_root!();
    let t = TestRoot::new("unpack-meta");
    let tar = tar_of(&[
        E::Dir("./"),
        E::Dir("etc/"),
        E::FileMode("etc/passwd", b"root:x:0:0\n", 0o640, 0, 42),
        E::FileMode("bin/su", b"\x7fELF", 0o4755, 0, 0),
        E::Symlink("bin/sh", "/bin/busybox"),
        E::Hardlink("bin/su2", "bin/su"),
        E::Char("dev/null", 1, 3),
        E::Fifo("run/fifo"),
        E::File("gone/.wh.file", b""),
        E::Dir("opaque/"),
        E::File("opaque/.wh..wh..opq", b""),
        E::File(".wh..wh.plnk", b""),
        E::File("dup", b"first"),
        E::File("dup", b"second"),
    ]);
    let want = Digest::of(&tar);
    for (i, data) in [tar.clone(), gzip(&tar), zstd(&tar)].iter().enumerate() {
        let dest = t.join(&format!("d{i}"));
        let st = LayerUnpacker::default()
            .unpack("l", &data[..], Some(&want), &dest)
            .unwrap();
        assert_eq!(st.diff_id, want);
        assert_eq!(st.tar_size, tar.len() as u64);
        let m = std::fs::metadata(dest.join("etc/passwd")).unwrap();
        assert_eq!(
            (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
            (0o640, 0, 42, 1_600_000_000)
        );
        assert_eq!(
            std::fs::metadata(dest.join("bin/su")).unwrap().mode() & 0o7777,
            0o4755
        );
        assert_eq!(
            std::fs::read_link(dest.join("bin/sh")).unwrap().to_str(),
            Some("/bin/busybox")
        );
        assert_eq!(
            std::fs::metadata(dest.join("bin/su2")).unwrap().ino(),
            m_ino(&dest.join("bin/su"))
        );
        let dn = std::fs::symlink_metadata(dest.join("dev/null")).unwrap();
        assert!(dn.file_type().is_char_device());
        assert_eq!(dn.rdev(), rustix::fs::makedev(1, 3));
        assert!(std::fs::symlink_metadata(dest.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        let wh = std::fs::symlink_metadata(dest.join("gone/file")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        assert!(!dest.join("gone/.wh.file").exists());
        let mut x = [0u8; 8];
        let n =
            rustix::fs::lgetxattr(dest.join("opaque"), "trusted.overlay.opaque", &mut x).unwrap();
        assert_eq!(&x[..n], b"y");
        assert!(!dest.join("opaque/.wh..wh..opq").exists());
        assert!(!dest.join(".wh..wh.plnk").exists());
        assert_eq!(std::fs::read(dest.join("dup")).unwrap(), b"second");
        assert_eq!(
            std::fs::metadata(dest.join("etc")).unwrap().mtime(),
            1_600_000_000
        );
        assert_eq!(std::fs::metadata(&dest).unwrap().mtime(), 1_600_000_000);
    }
}

fn m_ino(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

#[test]
fn duplicate_names_later_wins_but_never_through_a_symlink() {
    require_root!();
    let t = TestRoot::new("unpack-dup");
    std::fs::create_dir(t.join("outside")).unwrap();
    let out = t.join("outside");
    let outs = out.to_str().unwrap();
    // A symlink replaced by a file: the file replaces the link, not its target.
    let tar = tar_of(&[
        E::Symlink("x", &format!("{outs}/victim")),
        E::File("x", b"data"),
    ]);
    unpack(&t, &tar, Limits::default()).unwrap();
    assert!(!out.join("victim").exists());
    assert!(std::fs::symlink_metadata(t.join("dest/x"))
        .unwrap()
        .is_file());
    std::fs::remove_dir_all(t.join("dest")).unwrap();
    // dir → file → dir
    let tar = tar_of(&[
        E::Dir("a/"),
        E::File("a/f", b"1"),
        E::File("a", b"now a file"),
        E::Dir("a/"),
        E::File("a/g", b""),
    ]);
    unpack(&t, &tar, Limits::default()).unwrap();
    assert!(t.join("dest/a/g").exists() && !t.join("dest/a/f").exists());
    std::fs::remove_dir_all(t.join("dest")).unwrap();
    // a hardlink to a symlink links the symlink itself (inside the root), as Docker does
    let tar = tar_of(&[E::Symlink("s", outs), E::Hardlink("h", "s")]);
    unpack(&t, &tar, Limits::default()).unwrap();
    assert!(std::fs::symlink_metadata(t.join("dest/h"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(tree(&out).is_empty());
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    require_root!();
    let t = TestRoot::new("unpack-hostile");
    std::fs::create_dir(t.join("outside")).unwrap();
    std::fs::write(t.join("outside/secret"), b"s").unwrap();
    let outs = t.join("outside").display().to_string();
    let rel_out = "../../outside"; // from dest/x
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            tar_of(&[E::File("../evil", b"x")]),
            "escapes the root",
        ),
        (
            "dotdot deep",
            tar_of(&[E::Dir("a/"), E::File("a/../../evil", b"x")]),
            "escapes the root",
        ),
        (
            "absolute",
            tar_of(&[E::File("/etc/evil", b"x")]),
            "absolute name",
        ),
        (
            "write through symlink",
            tar_of(&[E::Symlink("l", &outs), E::File("l/evil", b"x")]),
            "goes through a symlink",
        ),
        (
            "write through relative symlink",
            tar_of(&[
                E::Dir("d/"),
                E::Symlink("d/l", rel_out),
                E::File("d/l/evil", b"x"),
            ]),
            "goes through a symlink",
        ),
        (
            "dir replaced by symlink",
            tar_of(&[
                E::Dir("d/"),
                E::File("d/ok", b""),
                E::Symlink("d", &outs),
                E::File("d/evil", b"x"),
            ]),
            "goes through a symlink",
        ),
        (
            "hardlink out",
            tar_of(&[E::Hardlink("h", "../outside/secret")]),
            "escapes the root",
        ),
        (
            "hardlink missing",
            tar_of(&[E::Hardlink("h", "nope")]),
            "hardlink target",
        ),
        (
            "hardlink through symlink",
            tar_of(&[E::Symlink("l", &outs), E::Hardlink("h", "l/secret")]),
            "goes through a symlink",
        ),
        (
            "whiteout out",
            tar_of(&[E::File("../.wh.outside", b"")]),
            "escapes the root",
        ),
        (
            "whiteout through symlink",
            tar_of(&[E::Symlink("l", &outs), E::File("l/.wh.secret", b"")]),
            "symlink",
        ),
        (
            "whiteout of dotdot",
            tar_of(&[E::File("a/.wh...", b"")]),
            "whiteout of nothing",
        ),
        (
            "whiteout of nothing",
            tar_of(&[E::File("a/.wh.", b"")]),
            "whiteout of nothing",
        ),
        (
            "root replaced",
            tar_of(&[E::File("./", b"")]),
            "replaces the root",
        ),
        (
            "opaque through symlink",
            tar_of(&[E::Symlink("l", &outs), E::File("l/.wh..wh..opq", b"")]),
            "symlink",
        ),
    ];
    for (what, tar, msg) in cases {
        for data in [tar.clone(), gzip(&tar)] {
            let e = unpack(&t, &data, Limits::default()).expect_err(what);
            let s = e.to_string();
            assert!(s.contains(msg), "{what}: {s}");
            assert!(
                s.starts_with("unpack layer sha256:test: entry \""),
                "{what}: {s}"
            );
            assert_eq!(
                tree(&t.path),
                vec!["outside", "outside/secret"],
                "{what}: left something"
            );
            assert_eq!(std::fs::read(t.join("outside/secret")).unwrap(), b"s");
        }
    }
    // the brief's example message
    let e = unpack(
        &t,
        &tar_of(&[E::File("../etc/passwd", b"")]),
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "unpack layer sha256:test: entry \"../etc/passwd\" escapes the root"
    );
}

#[test]
fn bombs_digests_and_truncation() {
    require_root!();
    let t = TestRoot::new("unpack-bomb");
    let big = vec![0u8; 4 << 20];
    let tar = tar_of(&[E::File("zeros", &big)]);
    let gz = gzip(&tar);
    assert!(gz.len() < 100_000);
    let lim = Limits {
        max_bytes: 1 << 20,
        max_entries: 100,
    };
    let e = unpack(&t, &gz, lim).unwrap_err();
    assert!(matches!(e, UnpackError::TooLarge { .. }), "{e}");
    assert!(tree(&t.path).is_empty());
    let many: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let entries: Vec<E<'_>> = many.iter().map(|n| E::File(n, b"")).collect();
    let e = unpack(
        &t,
        &tar_of(&entries),
        Limits {
            max_bytes: 1 << 30,
            max_entries: 10,
        },
    )
    .unwrap_err();
    assert!(matches!(e, UnpackError::TooManyEntries { .. }), "{e}");
    assert!(tree(&t.path).is_empty());
    // wrong diff id
    let small = tar_of(&[E::File("a", b"1")]);
    let wrong = Digest::of(b"nope");
    let e = LayerUnpacker::default()
        .unpack("l", &small[..], Some(&wrong), &t.join("dest"))
        .unwrap_err();
    assert!(e.to_string().contains("diff id mismatch"), "{e}");
    assert!(tree(&t.path).is_empty());
    // truncated: header promises more data than there is
    let trunc = &tar[..tar.len() / 2];
    let e = unpack(&t, trunc, Limits::default()).unwrap_err();
    assert!(matches!(e, UnpackError::Invalid { .. }), "{e}");
    let e = unpack(&t, &gz[..gz.len() - 20], Limits::default()).unwrap_err();
    assert!(matches!(e, UnpackError::Invalid { .. }), "{e}");
    assert!(tree(&t.path).is_empty());
    // destination exists
    std::fs::create_dir(t.join("dest")).unwrap();
    assert!(matches!(
        unpack(&t, &small, Limits::default()),
        Err(UnpackError::Exists { .. })
    ));
    let _ = PermissionsExt::mode(&std::fs::metadata(t.join("dest")).unwrap().permissions());
}
