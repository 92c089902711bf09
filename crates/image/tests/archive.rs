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
