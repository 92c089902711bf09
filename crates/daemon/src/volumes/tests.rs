use super::*;

fn svc() -> (tempfile::TempDir, VolumeService) {
    let t = tempfile::tempdir().expect("tempdir");
    let s = VolumeService::open(t.path(), Events::default()).expect("open");
    (t, s)
}

fn named(n: &str) -> CreateOptions {
    CreateOptions {
        name: n.into(),
        ..CreateOptions::default()
    }
}

#[test]
fn names_are_dockers() {
    for ok in ["ab", "data", "my_vol.1-x", "0a"] {
        assert!(valid_name(ok), "{ok}");
    }
    for bad in ["a", "", "-x", ".x", "../x", "a/b", "a b", "..", "_x"] {
        assert!(!valid_name(bad), "{bad}");
    }
}

#[test]
fn create_is_idempotent_and_persists() {
    let (t, s) = svc();
    let (v, made) = s.create(named("data")).expect("create");
    assert!(made && !v.anonymous);
    assert!(s.mountpoint("data").is_dir());
    let (_, made) = s.create(named("data")).expect("again");
    assert!(!made);
    let (anon, _) = s.create(CreateOptions::default()).expect("anonymous");
    assert_eq!(anon.name.len(), 64);
    assert!(anon.labels.contains_key(ANONYMOUS_LABEL));
    drop(s);
    let s = VolumeService::open(t.path(), Events::default()).expect("reopen");
    assert_eq!(s.list(&ListFilter::default()).expect("list").len(), 2);
    assert!(s.create(named("../etc")).is_err());
    let e = s.create(CreateOptions {
        name: "x1".into(),
        driver: "nfs-plugin".into(),
        ..CreateOptions::default()
    });
    assert_eq!(e.err().map(|e| e.kind), Some(crate::ErrorKind::NotFound));
}

#[test]
fn in_use_volumes_are_kept() {
    let (_t, s) = svc();
    s.create(named("data")).expect("create");
    std::fs::write(s.mountpoint("data").join("f"), "keep").expect("write");
    s.acquire("data", "c1").expect("acquire");
    let e = s.remove("data", true).expect_err("in use");
    assert_eq!(e.kind, crate::ErrorKind::Conflict);
    assert!(
        e.message.contains("volume is in use - [c1]"),
        "{}",
        e.message
    );
    assert_eq!(
        std::fs::read_to_string(s.mountpoint("data").join("f")).expect("read"),
        "keep"
    );
    let (gone, _) = s.prune(&ListFilter::default(), true).expect("prune");
    assert!(gone.is_empty());
    s.release("data", "c1");
    s.remove("data", false).expect("remove");
    assert!(!s.mountpoint("data").exists());
    assert_eq!(
        s.remove("data", false).expect_err("gone").kind,
        crate::ErrorKind::NotFound
    );
    s.remove("data", true).expect("force ignores missing");
}

#[test]
fn prune_takes_anonymous_unless_all_and_filters() {
    let (_t, s) = svc();
    s.create(named("keep")).expect("create");
    let mut labelled = named("lab");
    labelled.labels.insert("tier".into(), "db".into());
    s.create(labelled).expect("create");
    let (anon, _) = s.create(CreateOptions::default()).expect("anon");
    std::fs::write(s.mountpoint(&anon.name).join("f"), vec![1u8; 10000]).expect("write");
    let (gone, freed) = s.prune(&ListFilter::default(), false).expect("prune");
    assert_eq!(gone, vec![anon.name.clone()]);
    assert!(freed >= 10000);
    let f = ListFilter {
        labels: vec!["tier=db".into()],
        ..ListFilter::default()
    };
    assert_eq!(s.list(&f).expect("list").len(), 1);
    let (gone, _) = s.prune(&f, true).expect("prune");
    assert_eq!(gone, vec!["lab".to_string()]);
    s.acquire("keep", "c").expect("acquire");
    let dangling = ListFilter {
        dangling: Some(true),
        ..ListFilter::default()
    };
    assert!(s.list(&dangling).expect("list").is_empty());
}
