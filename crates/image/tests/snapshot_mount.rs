//! Root tests: the prepared overlay mounts and behaves (copy-up, whiteouts, opaque dirs), diff
//! and commit see the changes, the committed layer re-unpacks to the same view, and very deep
//! stacks fall back to short links.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_image::{
    chain_ids, Change, ChangeKind, ContentStore, Digest, LayerSource, LayerUnpacker, Mount,
    Snapshotter,
};
use common::{tar_of, tree, TestRoot, E};

fn mount(m: &Mount, target: &Path) {
    std::fs::create_dir_all(target).unwrap();
    if let Some(cwd) = &m.cwd {
        // Relative lowerdirs: mount from the snapshotter root, in a child so that this test
        // process's cwd (shared by all test threads) never changes.
        let st = std::process::Command::new("mount")
            .args([
                "-t",
                &m.kind,
                "-o",
                &m.data(),
                m.source.to_str().unwrap(),
                target.to_str().unwrap(),
            ])
            .current_dir(cwd)
            .status()
            .unwrap();
        assert!(st.success());
        return;
    }
    if m.kind == "bind" {
        rustix::mount::mount_bind_recursive(&m.source, target).unwrap();
        return;
    }
    let data = std::ffi::CString::new(m.data()).unwrap();
    rustix::mount::mount(
        &m.source,
        target,
        &m.kind,
        rustix::mount::MountFlags::empty(),
        Some(data.as_c_str()),
    )
    .unwrap();
}

fn umount(target: &Path) {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()).unwrap();
}

struct Stack {
    cs: ContentStore,
    sn: Snapshotter,
}

fn stack(t: &TestRoot) -> Stack {
    Stack {
        cs: ContentStore::open(t.join("content")).unwrap(),
        sn: Snapshotter::open(t.join("snapshots"), LayerUnpacker::default()).unwrap(),
    }
}

fn layers(s: &Stack, tars: &[Vec<u8>]) -> Vec<String> {
    let src: Vec<LayerSource> = tars
        .iter()
        .map(|t| LayerSource {
            diff_id: Digest::of(t),
            blob: s.cs.write_blob(t).unwrap().digest,
        })
        .collect();
    s.sn.ensure_layers(&s.cs, &src)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect()
}

#[test]
fn overlay_copy_up_whiteouts_commit_and_reunpack() {
    require_root!();
    let t = TestRoot::new("snap-mount");
    let s = stack(&t);
    let base = tar_of(&[
        E::Dir("etc/"),
        E::File("etc/hostname", b"base"),
        E::File("etc/motd", b"hello"),
        E::Dir("var/"),
        E::Dir("var/cache/"),
        E::File("var/cache/old", b"old"),
        E::File("gone", b"x"),
        E::Dir("opq/"),
        E::File("opq/hidden", b"h"),
    ]);
    let top = tar_of(&[
        E::File(".wh.gone", b""),
        E::Dir("opq/"),
        E::File("opq/.wh..wh..opq", b""),
        E::File("opq/new", b"n"),
    ]);
    let ids = layers(&s, &[base, top]);
    // the layer view, as the image shows it
    let mounts = s.sn.prepare("c1", Some(&ids[1])).unwrap();
    assert_eq!(mounts.len(), 1);
    let m = &mounts[0];
    assert_eq!(m.kind, "overlay");
    assert!(m.options[0].starts_with("lowerdir="), "{:?}", m.options);
    assert!(m.options.iter().any(|o| o == "index=off"));
    let merged = t.join("merged");
    mount(m, &merged);
    assert!(
        !merged.join("gone").exists(),
        "whiteout hides the lower file"
    );
    assert_eq!(
        tree(&merged.join("opq")),
        vec!["new"],
        "opaque dir hides lower content"
    );
    // copy-up: modify a lower file, the lower stays unchanged
    std::fs::write(merged.join("etc/hostname"), b"container").unwrap();
    assert_eq!(
        std::fs::read(s.sn.fs_path(&ids[0]).join("etc/hostname")).unwrap(),
        b"base"
    );
    assert_eq!(
        std::fs::read(s.sn.fs_path("c1").join("etc/hostname")).unwrap(),
        b"container"
    );
    // delete a lower file and a lower dir, recreate the dir (overlay makes it opaque), add files
    std::fs::remove_file(merged.join("etc/motd")).unwrap();
    std::fs::remove_dir_all(merged.join("var/cache")).unwrap();
    std::fs::create_dir(merged.join("var/cache")).unwrap();
    std::fs::write(merged.join("var/cache/fresh"), b"f").unwrap();
    std::fs::create_dir(merged.join("newdir")).unwrap();
    std::fs::write(merged.join("newdir/file"), b"1").unwrap();
    let upper_motd = std::fs::symlink_metadata(s.sn.fs_path("c1").join("etc/motd")).unwrap();
    assert!(upper_motd.file_type().is_char_device() && upper_motd.rdev() == 0);
    let before = tree(&merged);
    let contents: Vec<(String, Vec<u8>)> = before
        .iter()
        .filter(|p| merged.join(p).is_file())
        .map(|p| (p.clone(), std::fs::read(merged.join(p)).unwrap()))
        .collect();
    umount(&merged);

    let diff = s.sn.diff("c1").unwrap();
    let has = |p: &str, k: ChangeKind| {
        diff.contains(&Change {
            path: p.into(),
            kind: k,
        })
    };
    assert!(has("/etc", ChangeKind::Modified), "{diff:?}");
    assert!(has("/etc/hostname", ChangeKind::Modified), "{diff:?}");
    assert!(has("/etc/motd", ChangeKind::Deleted), "{diff:?}");
    assert!(
        has("/newdir", ChangeKind::Added) && has("/newdir/file", ChangeKind::Added),
        "{diff:?}"
    );
    assert!(has("/var/cache/fresh", ChangeKind::Added), "{diff:?}");

    // commit → a layer tar with OCI whiteouts
    let mut layer = Vec::new();
    let ci = s.sn.commit("c1", &mut layer).unwrap();
    assert_eq!(ci.diff_id, Digest::of(&layer));
    let mut names = Vec::new();
    for e in tar::Archive::new(&layer[..]).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.contains(&"etc/.wh.motd".to_string()), "{names:?}");
    assert!(
        names.contains(&"var/cache/.wh..wh..opq".to_string()),
        "{names:?}"
    );
    assert!(!names
        .iter()
        .any(|n| n.contains("motd") && !n.contains(".wh.")));

    // re-unpack the change as a layer over the same parent: same merged view
    let diffs = vec![
        s.sn.info(&ids[0]).unwrap().diff_id.unwrap(),
        s.sn.info(&ids[1]).unwrap().diff_id.unwrap(),
        ci.diff_id.clone(),
    ];
    let chain = chain_ids(&diffs);
    let p = Digest::from_hex(&ids[1]).unwrap();
    s.sn.unpack_layer(&chain[2], Some(&p), &ci.diff_id, &layer[..])
        .unwrap();
    let m2 = s.sn.view("v2", chain[2].hex()).unwrap();
    let merged2 = t.join("merged2");
    mount(&m2[0], &merged2);
    assert_eq!(tree(&merged2), before);
    for (p, c) in &contents {
        assert_eq!(&std::fs::read(merged2.join(p)).unwrap(), c, "{p}");
    }
    umount(&merged2);

    // single-layer view is a read-only bind; usage counts bytes
    let mv = s.sn.view("v1", &ids[0]).unwrap();
    assert_eq!(mv[0].kind, "bind");
    assert!(mv[0].options.contains(&"ro".to_string()));
    let u = s.sn.usage(&ids[0]).unwrap();
    assert_eq!(u.size, 4 + 5 + 3 + 1 + 1);
    // removal: parents refused while children exist
    assert!(s.sn.remove(&ids[1]).is_err());
    for k in ["c1", "v1", "v2"] {
        s.sn.remove(k).unwrap();
    }
    assert!(s.sn.prepare("c1", Some("nope")).is_err());
    assert!(s.sn.prepare("../x", None).is_err());
}

#[test]
fn deep_stacks_use_short_links() {
    require_root!();
    let t = TestRoot::new("snap-deep-with-a-rather-long-directory-name-to-overflow-the-page");
    let s = stack(&t);
    let names: Vec<String> = (0..70).map(|i| format!("f{i}")).collect();
    let tars: Vec<Vec<u8>> = names
        .iter()
        .map(|n| tar_of(&[E::File(n, n.as_bytes())]))
        .collect();
    let ids = layers(&s, &tars);
    let mounts = s.sn.prepare("deep", Some(ids.last().unwrap())).unwrap();
    let m = &mounts[0];
    assert!(m.data().len() <= berth_image::snapshot::MOUNT_DATA_MAX);
    assert!(
        m.options[0].contains("/l/") || m.cwd.is_some(),
        "{}",
        m.options[0]
    );
    eprintln!("deep stack: cwd {:?}, {} bytes", m.cwd, m.data().len());
    let merged = t.join("m");
    mount(m, &merged);
    for n in &names {
        assert_eq!(std::fs::read(merged.join(n)).unwrap(), n.as_bytes());
    }
    umount(&merged);
    // 150 layers do not fit even relatively: 150 * 29 > 4095
    let lowers: Vec<(std::path::PathBuf, String)> = (0..150)
        .map(|i| (format!("/x/{i:0>60}").into(), format!("l/{:026}", i)))
        .collect();
    assert!(berth_image::snapshot::plan_overlay(Path::new("/r"), &lowers, None).is_err());
}
