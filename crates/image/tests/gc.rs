//! GC: untag/remove/prune keep what is named or in use, layers are freed only when nothing
//! references them, verify finds and repairs damage.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::Write;

use berth_image::archive::store_image;
use berth_image::gc::{self, snapshot_refcounts};
use berth_image::{Digest, ImageRoot, Reference};
use common::{gzip, tar_of, TestRoot, E};
use serde_json::json;

fn image(root: &ImageRoot, tars: &[&[u8]], names: &[&str], label: &str) -> Digest {
    let diffs: Vec<String> = tars.iter().map(|t| Digest::of(t).to_string()).collect();
    let cfg = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"l": label}},
        "rootfs": {"type": "layers", "diff_ids": diffs},
    }))
    .unwrap();
    let layers: Vec<(Digest, String)> = tars
        .iter()
        .map(|t| {
            (
                root.content.write_blob(&gzip(t)).unwrap().digest,
                berth_image::manifest::MEDIA_OCI_LAYER_GZIP.to_string(),
            )
        })
        .collect();
    let names: Vec<Reference> = names.iter().map(|n| Reference::parse(n).unwrap()).collect();
    store_image(root.stores(), &cfg, &layers, &names)
        .unwrap()
        .image
        .id
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

#[test]
fn untag_remove_prune_and_refcounts() {
    require_root!();
    let t = TestRoot::new("gc");
    let root = ImageRoot::open(t.join("r")).unwrap();
    let a = tar_of(&[E::File("a", b"a")]);
    let b = tar_of(&[E::File("b", &[7u8; 5000])]);
    let base = image(&root, &[&a], &["base:1"], "base");
    let child = image(&root, &[&a, &b], &["child:1", "child:latest"], "child");
    let none: BTreeSet<Digest> = BTreeSet::new();
    assert_eq!(root.snapshots.list().unwrap().len(), 2);
    let counts = snapshot_refcounts(&root.images, &root.snapshots).unwrap();
    let chains = root.images.get(&child).unwrap().chain_ids();
    assert_eq!(
        counts[chains[0].hex()],
        3,
        "two images and one child snapshot"
    );

    // untag one of two names: image stays
    let rep = gc::untag(&root, &r("child:1"), &none).unwrap();
    assert_eq!(rep.untagged, vec![r("child:1")]);
    assert!(rep.deleted.is_empty());
    // last name of an image in use: conflict
    let used: BTreeSet<Digest> = [child.clone()].into();
    let e = gc::untag(&root, &r("child"), &used).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "conflict: unable to remove repository reference \"child:latest\" (must force)"
        ),
        "{e}"
    );
    // by ID while in use: cannot be forced
    let e = gc::remove_image(&root, &child.hex()[..8], &used, true).unwrap_err();
    assert!(e.to_string().contains("cannot be forced"), "{e}");
    // forced by name while in use: untagged, kept (dangling)
    let rep = gc::remove_image(&root, "child", &used, true).unwrap();
    assert_eq!(rep.untagged, vec![r("child:latest")]);
    assert!(root.images.get(&child).is_some());
    assert_eq!(root.images.dangling(), vec![child.clone()]);
    // prune dangling skips in-use images, then removes it
    assert!(gc::prune(&root, false, &used).unwrap().deleted.is_empty());
    let rep = gc::prune(&root, false, &none).unwrap();
    assert_eq!(rep.deleted, vec![child.clone()]);
    assert_eq!(rep.snapshots_removed, vec![chains[1].hex().to_owned()]);
    assert!(rep.reclaimed >= 5000);
    assert!(
        root.snapshots.exists(chains[0].hex()),
        "base layer still used by base:1"
    );

    // an active snapshot keeps its parent layer alive after the image goes
    root.snapshots
        .prepare("ctr", Some(chains[0].hex()))
        .unwrap();
    let rep = gc::remove_image(&root, "base:1", &none, false).unwrap();
    assert_eq!(rep.deleted, vec![base]);
    assert!(root.snapshots.exists(chains[0].hex()));
    root.snapshots.remove("ctr").unwrap();
    let rep = gc::collect(&root).unwrap();
    assert_eq!(rep.snapshots_removed, vec![chains[0].hex().to_owned()]);
    assert!(
        root.content.walk().unwrap().is_empty(),
        "all blobs collected"
    );
    assert!(gc::verify(&root, false).unwrap().is_clean());

    // a multi-repository image needs force when removed by ID
    let m = image(&root, &[&a], &["one:1", "two:1"], "m");
    let e = gc::remove_image(&root, m.hex(), &none, false).unwrap_err();
    assert!(
        e.to_string()
            .contains("referenced in multiple repositories"),
        "{e}"
    );
    let rep = gc::remove_image(&root, m.hex(), &none, true).unwrap();
    assert_eq!(rep.untagged.len(), 2);
    // prune --all keeps in-use images
    let k = image(&root, &[&a], &["keep:1"], "k");
    let g = image(&root, &[&b], &["go:1"], "g");
    let rep = gc::prune(&root, true, &[k.clone()].into()).unwrap();
    assert_eq!(rep.deleted, vec![g]);
    assert!(root.images.get(&k).is_some());
}

#[test]
fn verify_finds_and_repairs() {
    require_root!();
    let t = TestRoot::new("gc-verify");
    let root = ImageRoot::open(t.join("r")).unwrap();
    let a = tar_of(&[E::File("a", b"a")]);
    let b = tar_of(&[E::File("b", b"b")]);
    let id = image(&root, &[&a, &b], &["v:1"], "v");
    assert!(gc::verify(&root, false).unwrap().is_clean());
    let img = root.images.get(&id).unwrap();
    // damage: a corrupt blob, a stray file, an orphan blob, a missing snapshot, an ingest
    let orphan = root.content.write_blob(b"orphan").unwrap().digest;
    let victim = root.content.blob_path(&img.manifest.clone().unwrap());
    std::fs::write(&victim, b"corrupted").unwrap();
    std::fs::write(root.content.root().join("blobs/sha256/junk"), b"j").unwrap();
    let top = img.chain_ids()[1].hex().to_owned();
    std::fs::remove_dir_all(root.snapshots.root().join(&top)).unwrap();
    let mut w = root.content.writer("partial", None).unwrap().unwrap();
    w.write_all(b"half").unwrap();
    drop(w);
    let rep = gc::verify(&root, false).unwrap();
    assert_eq!(rep.corrupt_blobs, vec![img.manifest.clone().unwrap()]);
    assert_eq!(rep.stray_files, vec!["junk".to_string()]);
    assert!(rep.orphan_blobs.contains(&orphan));
    assert_eq!(rep.missing_snapshots, vec![(id.clone(), top.clone())]);
    assert_eq!(rep.leftovers, vec!["content/ingest/partial".to_string()]);
    // repair, then verify again: only the corrupt manifest stays reported as missing
    gc::verify(&root, true).unwrap();
    let rep = gc::verify(&root, false).unwrap();
    assert!(
        rep.corrupt_blobs.is_empty() && rep.stray_files.is_empty() && rep.orphan_blobs.is_empty()
    );
    assert!(
        rep.missing_snapshots.is_empty() && rep.leftovers.is_empty(),
        "{rep:?}"
    );
    assert_eq!(
        rep.missing_blobs,
        vec![(id.clone(), img.manifest.clone().unwrap())]
    );
    assert_eq!(
        std::fs::read(root.snapshots.fs_path(&top).join("b")).unwrap(),
        b"b"
    );
    // a missing config removes the image on repair
    std::fs::remove_file(root.content.blob_path(&id)).unwrap();
    let rep = gc::verify(&root, true).unwrap();
    assert_eq!(rep.removed_images, vec![id]);
    assert!(root.images.list().is_empty());
    assert!(gc::verify(&root, false).unwrap().is_clean());
}
