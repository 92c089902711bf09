//! Layers are unpacked once per chain ID and shared; independent layers unpack in parallel.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::MetadataExt;

use berth_image::{chain_ids, ContentStore, Digest, LayerSource, LayerUnpacker, Snapshotter};
use common::{gzip, tar_of, TestRoot, E};

#[test]
fn shared_base_is_unpacked_once() {
    require_root!();
    let t = TestRoot::new("snap-share");
    let cs = ContentStore::open(t.join("content")).unwrap();
    let sn = Snapshotter::open(t.join("snapshots"), LayerUnpacker::default()).unwrap();
    let base = tar_of(&[E::Dir("etc/"), E::File("etc/os-release", b"base")]);
    let a = tar_of(&[E::File("a", b"a")]);
    let b = tar_of(&[E::File("b", b"b")]);
    let src = |tar: &[u8], compress: bool| {
        let blob = if compress { gzip(tar) } else { tar.to_vec() };
        LayerSource {
            diff_id: Digest::of(tar),
            blob: cs.write_blob(&blob).unwrap().digest,
        }
    };
    let img1 = vec![src(&base, true), src(&a, false)];
    let img2 = vec![src(&base, false), src(&b, true)];
    let s1 = sn.ensure_layers(&cs, &img1).unwrap();
    let s2 = sn.ensure_layers(&cs, &img2).unwrap();
    assert_eq!(s1[0].id, s2[0].id);
    assert_ne!(s1[1].id, s2[1].id);
    let diffs: Vec<Digest> = img1.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(
        s1.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        chain_ids(&diffs)
            .iter()
            .map(|d| d.hex().to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(s1[1].parent.as_deref(), Some(s1[0].id.as_str()));
    let p = sn.fs_path(&s1[0].id).join("etc/os-release");
    assert_eq!(std::fs::read(&p).unwrap(), b"base");
    // one inode on disk for both images
    assert_eq!(
        std::fs::metadata(&p).unwrap().ino(),
        std::fs::metadata(sn.fs_path(&s2[0].id).join("etc/os-release"))
            .unwrap()
            .ino()
    );
    assert_eq!(sn.list().unwrap().len(), 3);
    // a bad layer fails the stack and leaves no snapshot and no staging
    let bad = LayerSource {
        diff_id: Digest::of(b"wrong"),
        blob: cs.write_blob(&a).unwrap().digest,
    };
    let e = sn.ensure_layers(&cs, &[img1[0].clone(), bad]).unwrap_err();
    assert!(e.to_string().contains("diff id mismatch"), "{e}");
    assert_eq!(sn.list().unwrap().len(), 3);
    assert_eq!(sn.cleanup().unwrap(), 0);
    // removal refuses parents
    assert!(sn.remove(&s1[0].id).is_err());
    sn.remove(&s1[1].id).unwrap();
    sn.remove(&s2[1].id).unwrap();
    sn.remove(&s1[0].id).unwrap();
    assert!(sn.list().unwrap().is_empty());
}

#[test]
fn many_layers_in_parallel() {
    require_root!();
    let t = TestRoot::new("snap-par");
    let cs = ContentStore::open(t.join("content")).unwrap();
    let sn = Snapshotter::open(t.join("snapshots"), LayerUnpacker::default()).unwrap();
    let names: Vec<String> = (0..8).map(|i| format!("f{i}")).collect();
    let layers: Vec<LayerSource> = names
        .iter()
        .map(|n| {
            let data = vec![n.as_bytes()[1]; 300_000];
            let tar = tar_of(&[E::File(n, &data)]);
            LayerSource {
                diff_id: Digest::of(&tar),
                blob: cs.write_blob(&gzip(&tar)).unwrap().digest,
            }
        })
        .collect();
    let s = sn.ensure_layers(&cs, &layers).unwrap();
    assert_eq!(s.len(), 8);
    for (i, si) in s.iter().enumerate() {
        assert_eq!(
            std::fs::metadata(sn.fs_path(&si.id).join(&names[i]))
                .unwrap()
                .len(),
            300_000
        );
        assert_eq!(si.unpacked_size, 300_000);
    }
}
