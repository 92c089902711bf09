//! Archive formats: save → skopeo reads it; skopeo writes (docker-archive, oci-archive) → Berth
//! loads it; old docker-archive layouts; import with changes; export; hostile archives.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_image::archive::{self, store_image};
use berth_image::{Digest, ImageRoot, ImportOptions, Progress, Reference};
use common::{gzip, tar_of, TestRoot, E};
use serde_json::json;

fn fixture_tar() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixture-busybox.sh");
    let out = Command::new(script).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rootfs = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    rootfs.parent().unwrap().join("busybox-rootfs.tar")
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn have_skopeo() -> bool {
    Command::new("skopeo")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Adds a layer (already a tar) on top of an image, as a build step would.
fn child_image(root: &ImageRoot, base: &Digest, layer_tar: &[u8], name: &str) -> Digest {
    let base_img = root.images.get(base).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&root.images.config_bytes(base).unwrap()).unwrap();
    let blob = root.content.write_blob(&gzip(layer_tar)).unwrap();
    cfg["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(json!(Digest::of(layer_tar).to_string()));
    cfg["history"]
        .as_array_mut()
        .unwrap()
        .push(json!({"created_by": "RUN generate", "created": "2024-01-01T00:00:00Z"}));
    cfg["config"]["Labels"] = json!({"stage": "child"});
    let bytes = serde_json::to_vec(&cfg).unwrap();
    let mut layers: Vec<(Digest, String)> = base_img
        .layers
        .iter()
        .map(|l| (l.blob.clone(), l.media_type.clone()))
        .collect();
    layers.push((
        blob.digest,
        berth_image::manifest::MEDIA_OCI_LAYER_GZIP.into(),
    ));
    store_image(
        root.stores(),
        &bytes,
        &layers,
        &[Reference::parse(name).unwrap()],
    )
    .unwrap()
    .image
    .id
}

fn archive_names(path: &Path) -> Vec<String> {
    let f = std::fs::File::open(path).unwrap();
    let mut ar = tar::Archive::new(f);
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn save_load_and_skopeo_round_trips() {
    require_root!();
    if !have_skopeo() {
        eprintln!("skipped: skopeo not installed (apt-get install -y skopeo)");
        return;
    }
    let t = TestRoot::new("archive-rt");
    let a = ImageRoot::open(t.join("a")).unwrap();
    let opts = ImportOptions {
        changes: vec![r#"CMD ["sh"]"#.into(), "ENV X=1".into()],
        message: Some("busybox base".into()),
        reference: Some(Reference::parse("busybox").unwrap()),
        platform: None,
    };
    let img1 = archive::import(
        a.stores(),
        std::fs::File::open(fixture_tar()).unwrap(),
        &opts,
    )
    .unwrap()
    .image;
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let layer2 = tar_of(&[
        E::Dir("data/"),
        E::File("data/blob", &big),
        E::File("bin/.wh.ls", b""),
    ]);
    let id2 = child_image(&a, &img1.id, &layer2, "localhost:5000/x:1");

    // save both; the shared base layer is written once
    let file = t.join("both.tar");
    let mut events = Vec::new();
    archive::save(
        a.stores(),
        &[
            (img1.id.clone(), vec![Reference::parse("busybox").unwrap()]),
            (
                id2.clone(),
                vec![Reference::parse("localhost:5000/x:1").unwrap()],
            ),
        ],
        std::fs::File::create(&file).unwrap(),
        &mut |p| events.push(p),
    )
    .unwrap();
    assert!(events.iter().any(|p| matches!(p, Progress::Layer { .. })));
    let names = archive_names(&file);
    let base_path = format!("blobs/sha256/{}", img1.layers[0].diff_id.hex());
    assert_eq!(
        names.iter().filter(|n| **n == base_path).count(),
        1,
        "{names:?}"
    );
    for f in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.iter().any(|n| n == f), "{f} missing: {names:?}");
    }

    // skopeo reads what we wrote
    let fs = file.display().to_string();
    let insp: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("docker-archive:{fs}:localhost:5000/x:1"),
    ]))
    .unwrap();
    assert_eq!(insp["Layers"].as_array().unwrap().len(), 2, "{insp}");
    assert_eq!(insp["Labels"]["stage"], "child");
    let insp: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--config",
        &format!("docker-archive:{fs}:busybox:latest"),
    ]))
    .unwrap();
    assert_eq!(insp["config"]["Cmd"], json!(["sh"]));
    skopeo(&[
        "--insecure-policy",
        "copy",
        "-q",
        &format!("docker-archive:{fs}:localhost:5000/x:1"),
        &format!("oci:{}:x", t.join("oci").display()),
    ]);
    assert!(t.join("oci/index.json").exists());

    // Berth loads it back, IDs and names intact, layers shared
    let b = ImageRoot::open(t.join("b")).unwrap();
    let loaded =
        archive::load(b.stores(), std::fs::File::open(&file).unwrap(), &mut |_| {}).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(b.images.resolve("busybox:latest").unwrap().id, img1.id);
    let x = b.images.resolve("localhost:5000/x:1").unwrap();
    assert_eq!(x.id, id2);
    assert_eq!(x.repo_tags[0].familiar(), "localhost:5000/x:1");
    let chains = x.chain_ids();
    assert!(b
        .snapshots
        .fs_path(chains[0].hex())
        .join("bin/busybox")
        .is_file());
    assert!(b
        .snapshots
        .fs_path(chains[1].hex())
        .join("data/blob")
        .is_file());
    assert_eq!(b.snapshots.list().unwrap().len(), 2);
    let h = b.images.history(&id2).unwrap();
    assert_eq!(h[0].comment.as_deref(), Some("busybox base"));

    // skopeo writes oci-archive and docker-archive; Berth loads both
    let oa = t.join("x-oci.tar");
    skopeo(&[
        "--insecure-policy",
        "copy",
        "-q",
        &format!("docker-archive:{fs}:localhost:5000/x:1"),
        &format!("oci-archive:{}:localhost:5000/x:2", oa.display()),
    ]);
    let da = t.join("bb.tar");
    skopeo(&[
        "--insecure-policy",
        "copy",
        "-q",
        &format!("docker-archive:{fs}:busybox:latest"),
        &format!("docker-archive:{}:busybox:copied", da.display()),
    ]);
    let c = ImageRoot::open(t.join("c")).unwrap();
    let l = archive::load(c.stores(), std::fs::File::open(&oa).unwrap(), &mut |_| {}).unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].names[0].familiar(), "localhost:5000/x:2");
    assert_eq!(l[0].image.diff_ids(), x.diff_ids());
    let l = archive::load(c.stores(), std::fs::File::open(&da).unwrap(), &mut |_| {}).unwrap();
    assert_eq!(l[0].names[0].familiar(), "busybox:copied");
    assert_eq!(l[0].image.diff_ids(), img1.diff_ids());
    // the busybox layer is shared between the two images in c
    assert_eq!(c.snapshots.list().unwrap().len(), 2);
    // re-saving a loaded image works (blobs kept in the store as loaded)
    let again = t.join("again.tar");
    let id = c.images.resolve("busybox:copied").unwrap().id;
    archive::save(
        c.stores(),
        &[(id, vec![Reference::parse("busybox:copied").unwrap()])],
        std::fs::File::create(&again).unwrap(),
        &mut |_| {},
    )
    .unwrap();
    skopeo(&["inspect", &format!("docker-archive:{}", again.display())]);
}

#[test]
fn import_with_changes_and_export() {
    require_root!();
    let t = TestRoot::new("archive-import");
    let r = ImageRoot::open(t.join("r")).unwrap();
    let tar = std::fs::read(fixture_tar()).unwrap();
    let opts = ImportOptions {
        changes: vec![
            "ENTRYPOINT /bin/sh -c 'echo hi'".into(),
            "WORKDIR /srv".into(),
            "USER nobody".into(),
            "EXPOSE 8080/udp".into(),
            "LABEL org.x=y".into(),
            r#"VOLUME ["/data"]"#.into(),
        ],
        message: None,
        reference: Some(Reference::parse("imported:gz").unwrap()),
        platform: None,
    };
    let l = archive::import(r.stores(), &gzip(&tar)[..], &opts).unwrap();
    let cfg = r.images.config(&l.image.id).unwrap();
    let c = cfg.config().clone().unwrap();
    assert_eq!(c.working_dir().as_deref(), Some("/srv"));
    assert_eq!(c.user().as_deref(), Some("nobody"));
    assert_eq!(
        c.entrypoint().clone().unwrap(),
        vec!["/bin/sh", "-c", "/bin/sh -c 'echo hi'"]
    );
    assert!(c
        .exposed_ports()
        .clone()
        .unwrap()
        .contains(&"8080/udp".to_string()));
    assert_eq!(l.image.labels.get("org.x").map(String::as_str), Some("y"));
    assert_eq!(l.image.layers[0].diff_id, Digest::of(&tar));
    assert_eq!(
        l.image.layers[0].media_type,
        berth_image::manifest::MEDIA_OCI_LAYER_GZIP
    );
    assert_eq!(
        r.images.history(&l.image.id).unwrap()[0].comment.as_deref(),
        Some("Imported from -")
    );
    // a bad change stores nothing
    let bad = ImportOptions {
        changes: vec!["RUN rm -rf /".into()],
        ..Default::default()
    };
    assert!(archive::import(r.stores(), &tar[..], &bad)
        .unwrap_err()
        .to_string()
        .contains("RUN"));
    assert_eq!(r.images.list().len(), 1);
    // export the unpacked rootfs: same files back
    let fs = r.snapshots.fs_path(l.image.top_chain_id().unwrap().hex());
    let mut out = Vec::new();
    archive::export(&fs, &mut out).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&out[..]).entries().unwrap() {
        let e = e.unwrap();
        names.push((
            e.path().unwrap().display().to_string(),
            e.header().entry_type(),
        ));
    }
    assert!(
        names.iter().any(|(n, k)| n == "bin/busybox" && k.is_file()),
        "{names:?}"
    );
    assert!(names.iter().any(|(n, k)| n == "bin/sh" && k.is_symlink()));
}

#[test]
fn old_docker_archive_with_symlinked_layers() {
    require_root!();
    let t = TestRoot::new("archive-old");
    let layer = tar_of(&[E::File("hello", b"world")]);
    let d = Digest::of(&layer);
    let cfg = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [d.to_string(), d.to_string()]},
    }))
    .unwrap();
    let cid = Digest::of(&cfg);
    let manifest = serde_json::to_vec(&json!([{
        "Config": format!("{}.json", cid.hex()),
        "RepoTags": ["old:v1"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
    }]))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&format!("{}.json", cid.hex()), &cfg);
    add("aaa/layer.tar", &layer);
    add("aaa/VERSION", b"1.0");
    add("manifest.json", &manifest);
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar")
        .unwrap();
    let data = b.into_inner().unwrap();
    let r = ImageRoot::open(t.join("r")).unwrap();
    let l = archive::load(r.stores(), &data[..], &mut |_| {}).unwrap();
    assert_eq!(l[0].image.id, cid);
    assert_eq!(l[0].names[0].familiar(), "old:v1");
    let chains = l[0].image.chain_ids();
    assert_ne!(chains[0], chains[1]);
    assert_eq!(
        std::fs::read(r.snapshots.fs_path(chains[1].hex()).join("hello")).unwrap(),
        b"world"
    );
}

#[test]
fn hostile_archives_are_refused() {
    require_root!();
    let t = TestRoot::new("archive-bad");
    let r = ImageRoot::open(t.join("r")).unwrap();
    let mk = |files: &[(&str, &[u8])]| {
        let mut b = tar::Builder::new(Vec::new());
        for (n, d) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, n, *d).unwrap();
        }
        b.into_inner().unwrap()
    };
    // a blob whose content does not match its name
    let wrong = format!("blobs/sha256/{}", Digest::of(b"x").hex());
    let e = archive::load(r.stores(), &mk(&[(&wrong, b"y")])[..], &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("does not match its digest"), "{e}");
    // a manifest that points outside the archive
    let m = br#"[{"Config":"../../etc/passwd","RepoTags":["x:1"],"Layers":[]}]"#;
    let e = archive::load(r.stores(), &mk(&[("manifest.json", m)])[..], &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    // a hostile layer: refused, no image, no snapshot
    let layer = tar_of(&[E::File("../../evil", b"x")]);
    let cfg = serde_json::to_vec(&json!({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[Digest::of(&layer).to_string()]}})).unwrap();
    let m = serde_json::to_vec(
        &json!([{"Config":"c.json","RepoTags":["evil:1"],"Layers":["l/layer.tar"]}]),
    )
    .unwrap();
    let e = archive::load(
        r.stores(),
        &mk(&[
            ("c.json", &cfg),
            ("l/layer.tar", &layer),
            ("manifest.json", &m),
        ])[..],
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("escapes the root"), "{e}");
    assert!(r.images.list().is_empty());
    assert!(r.snapshots.list().unwrap().is_empty());
    assert!(!t.path.parent().unwrap().join("evil").exists());
    // not an archive at all
    assert!(archive::load(r.stores(), &b"garbage"[..], &mut |_| {}).is_err());
}

/// A docker-archive (Docker 25+ layout) with one layer named by `layer_name`.
fn archive_with_layer(layer: &[u8], layer_name: &Digest, diff_id: &Digest) -> Vec<u8> {
    let cfg = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))
    .unwrap();
    let cid = Digest::of(&cfg);
    let lpath = format!("blobs/sha256/{}", layer_name.hex());
    let manifest = serde_json::to_vec(&json!([{
        "Config": format!("blobs/sha256/{}", cid.hex()),
        "RepoTags": ["big:1"],
        "Layers": [lpath],
    }]))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&format!("blobs/sha256/{}", cid.hex()), &cfg);
    add(&lpath, layer);
    add("manifest.json", &manifest);
    b.into_inner().unwrap()
}

/// No image, no blob but `config`'s (small blobs are stored as they come), no ingest, no
/// snapshot or staging directory.
fn assert_empty(r: &ImageRoot) {
    assert!(r.images.list().is_empty());
    assert!(r.content.walk().unwrap().len() <= 1);
    assert!(r.content.ingests().unwrap().is_empty());
    let left: Vec<String> = std::fs::read_dir(r.snapshots.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "l")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Layers above the in-memory limit are unpacked while they are stored (the tee path): the
/// result is the same as unpacking from the store, and a wrong digest or diff ID still names
/// nothing and leaves nothing behind.
#[test]
fn large_layers_unpacked_while_stored() {
    require_root!();
    let t = TestRoot::new("archive-tee");
    let big: Vec<u8> = (0..9_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let layer = tar_of(&[
        E::Dir("data"),
        E::File("data/big", &big),
        E::File("data/small", b"hello"),
        E::Symlink("data/link", "small"),
    ]);
    let d = Digest::of(&layer);

    // the right archive: loaded, no leftovers, same snapshot as the store path makes
    let r = ImageRoot::open(t.join("r")).unwrap();
    let l = archive::load(
        r.stores(),
        &archive_with_layer(&layer, &d, &d)[..],
        &mut |_| {},
    )
    .unwrap();
    let chain = l[0].image.chain_ids()[0].clone();
    let info = r.snapshots.info(chain.hex()).unwrap();
    assert_eq!(info.diff_id.as_ref(), Some(&d));
    assert_eq!(info.tar_size, layer.len() as u64);
    assert_eq!(info.unpacked_size, big.len() as u64 + 5);
    let fs = r.snapshots.fs_path(chain.hex());
    assert_eq!(std::fs::read(fs.join("data/big")).unwrap(), big);
    assert_eq!(
        std::fs::read_link(fs.join("data/link")).unwrap(),
        Path::new("small")
    );
    assert!(r.content.ingests().unwrap().is_empty());
    let dots: Vec<String> = std::fs::read_dir(r.snapshots.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(dots.is_empty(), "{dots:?}");
    let r2 = ImageRoot::open(t.join("r2")).unwrap();
    r2.content.write_blob(&layer).unwrap();
    let cfg = r.images.config_bytes(&l[0].image.id).unwrap();
    let l2 = store_image(
        r2.stores(),
        &cfg,
        &[(d.clone(), berth_image::manifest::MEDIA_OCI_LAYER.into())],
        &[],
    )
    .unwrap();
    assert_eq!(l2.image.id, l[0].image.id);
    assert_eq!(r2.snapshots.info(chain.hex()).unwrap(), info);
    assert_eq!(
        common::tree(&fs),
        common::tree(&r2.snapshots.fs_path(chain.hex()))
    );

    // a layer blob whose content does not match its name: refused, nothing left
    let r = ImageRoot::open(t.join("bad-digest")).unwrap();
    let wrong = Digest::of(b"something else");
    let e = archive::load(
        r.stores(),
        &archive_with_layer(&layer, &wrong, &d)[..],
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not match its digest"), "{e}");
    assert_empty(&r);
    assert!(!r.content.exists(&wrong) && !r.content.exists(&d));

    // a config whose diff ID is not the layer's: refused, no snapshot named, no staging left
    let r = ImageRoot::open(t.join("bad-diff")).unwrap();
    let e = archive::load(
        r.stores(),
        &archive_with_layer(&layer, &d, &wrong)[..],
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("diff id mismatch"), "{e}");
    assert!(r.images.list().is_empty());
    assert!(r.snapshots.list().unwrap().is_empty());
    let dots: Vec<String> = std::fs::read_dir(r.snapshots.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "l")
        .collect();
    assert!(dots.is_empty(), "{dots:?}");
}
