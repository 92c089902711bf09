use super::*;
use crate::events::Events;

struct NoOthers;
impl MountSource for NoOthers {
    fn mounts_of(&self, name: &str) -> Result<Vec<MountPoint>> {
        if name == "data" {
            return Ok(vec![MountPoint {
                kind: "volume".into(),
                name: "shared".into(),
                source: "/v/shared/_data".into(),
                destination: "/shared".into(),
                driver: "local".into(),
                mode: "z".into(),
                rw: true,
                copy_data: true,
                ..MountPoint::default()
            }]);
        }
        Err(Error::not_found(format!("No such container: {name}")))
    }
}

#[test]
fn dash_v_is_parsed_like_docker() {
    let b = parse_bind("/srv/www:/usr/share/www:ro").expect("bind");
    assert_eq!(b.mp.kind, "bind");
    assert_eq!(b.mp.source, "/srv/www");
    assert!(!b.mp.rw);
    assert_eq!(b.mp.propagation, "rprivate");
    assert_eq!(b.mp.mode, "ro");
    let v = parse_bind("data:/var/lib/db:nocopy").expect("volume");
    assert_eq!(
        (v.mp.kind.as_str(), v.mp.name.as_str(), v.mp.copy_data),
        ("volume", "data", false)
    );
    let a = parse_bind("/scratch").expect("anonymous");
    assert_eq!(
        (a.mp.kind.as_str(), a.mp.name.as_str(), a.mp.copy_data),
        ("volume", "", true)
    );
    assert_eq!(
        parse_bind("/x:ro").err().as_deref(),
        Some("invalid volume specification: '/x:ro'")
    );
    assert_eq!(
        parse_bind("/a:/b:bogus").err().as_deref(),
        Some("invalid mode: bogus")
    );
    assert_eq!(
        parse_bind("/a:/b:ro,rw").err().as_deref(),
        Some("invalid mode: ro,rw")
    );
    assert_eq!(
        parse_bind("data:rel").err().as_deref(),
        Some("invalid volume specification: 'data:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute")
    );
    assert!(parse_bind("/a:/")
        .err()
        .unwrap_or_default()
        .contains("destination can't be '/'"));
    assert!(parse_bind("/a:/b:c:d").is_err());
    assert_eq!(
        parse_bind("/a/./b/:/c/../d").expect("clean").mp.destination,
        "/d"
    );
}

#[test]
fn dash_dash_mount_is_checked_like_docker() {
    let m = Mount {
        r#type: "bind".into(),
        source: "/definitely/not/here".into(),
        target: "/x".into(),
        ..Mount::default()
    };
    assert_eq!(
        parse_mount(&m).err().as_deref(),
        Some("invalid mount config for type \"bind\": bind source path does not exist: /definitely/not/here")
    );
    let t = Mount {
        r#type: "tmpfs".into(),
        target: "/run/x".into(),
        tmpfs_options: Some(berth_api::container::TmpfsOptions {
            size_bytes: 64 << 20,
            mode: 0o1770,
        }),
        ..Mount::default()
    };
    assert_eq!(
        parse_mount(&t).expect("tmpfs").mp.tmpfs,
        ["mode=1770", "size=64m"]
    );
    let bad = Mount {
        r#type: "npipe".into(),
        target: "/x".into(),
        ..Mount::default()
    };
    assert!(parse_mount(&bad).is_err());
    let ro_anon = Mount {
        r#type: "volume".into(),
        target: "/x".into(),
        read_only: true,
        ..Mount::default()
    };
    assert!(parse_mount(&ro_anon)
        .err()
        .unwrap_or_default()
        .contains("anonymous"));
}

#[test]
fn resolve_applies_dockers_precedence_and_makes_volumes() {
    let t = tempfile::tempdir().expect("tempdir");
    let vols = VolumeService::open(t.path(), Events::default()).expect("volumes");
    let mut h = HostConfig {
        binds: Some(vec!["named:/data".into(), "/srv:/shared:ro".into()]),
        volumes_from: Some(vec!["data:ro".into()]),
        ..HostConfig::default()
    };
    h.tmpfs.insert("/tmp".into(), "size=1m".into());
    let image: BTreeSet<String> = ["/data", "/cache", "/tmp"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (m, made) = resolve(&h, &image, &NoOthers, &vols).expect("resolve");
    let dsts: Vec<&str> = m.iter().map(|m| m.destination.as_str()).collect();
    assert_eq!(dsts, ["/cache", "/data", "/shared"]);
    // -v beats --volumes-from for /shared; the image volume /cache is anonymous and copied up.
    assert_eq!(m[2].kind, "bind");
    assert!(m[0].copy_data && m[0].name.len() == 64);
    assert_eq!(m[1].name, "named");
    assert_eq!(m[1].mode, "z");
    assert_eq!(made.len(), 2);
    // A duplicate destination fails and removes what the call made.
    h.binds = Some(vec!["again:/x".into(), "/srv:/x".into()]);
    let before = vols.list(&Default::default()).expect("list").len();
    let e = resolve(&h, &BTreeSet::new(), &NoOthers, &vols).expect_err("dup");
    assert_eq!(e.message, "Duplicate mount point: /x");
    assert_eq!(vols.list(&Default::default()).expect("list").len(), before);
    // --volumes-from an unknown container is the container's 404.
    h.binds = None;
    h.volumes_from = Some(vec!["nope".into()]);
    assert_eq!(
        resolve(&h, &BTreeSet::new(), &NoOthers, &vols)
            .expect_err("404")
            .kind,
        crate::ErrorKind::NotFound
    );
}

#[test]
fn oci_mounts_go_parents_first_with_docker_options() {
    let pts = vec![
        MountPoint {
            kind: "bind".into(),
            source: "/tmp".into(),
            destination: "/a/b/c".into(),
            rw: false,
            propagation: "rprivate".into(),
            ..MountPoint::default()
        },
        MountPoint {
            kind: "volume".into(),
            source: "/tmp".into(),
            destination: "/a".into(),
            rw: true,
            ..MountPoint::default()
        },
    ];
    let mut tmpfs = BTreeMap::new();
    tmpfs.insert("/a/b".to_string(), "size=1m,exec".to_string());
    let m = oci_mounts(&pts, &tmpfs).expect("mounts");
    let d: Vec<&str> = m.iter().filter_map(|m| m["destination"].as_str()).collect();
    assert_eq!(d, ["/a", "/a/b", "/a/b/c"]);
    assert_eq!(m[2]["options"], json!(["rbind", "rro", "rprivate"]));
    assert_eq!(
        m[1]["options"],
        json!(["nosuid", "nodev", "noexec", "size=1m", "exec"])
    );
}

#[test]
fn proc_takes_no_user_mounts_but_lxcfs_files() {
    assert!(check_proc("/proc").is_err());
    assert!(check_proc("/proc/sys/x").is_err());
    assert!(check_proc("/proc/meminfo").is_ok());
    assert!(check_proc("/procfoo").is_ok());
    let t = tempfile::tempdir().expect("tempdir");
    let vols = VolumeService::open(t.path(), Events::default()).expect("volumes");
    let h = HostConfig {
        binds: Some(vec!["/tmp:/proc".into()]),
        ..HostConfig::default()
    };
    let e = resolve(&h, &BTreeSet::new(), &NoOthers, &vols).expect_err("proc");
    assert!(e.message.contains("not of type proc"), "{}", e.message);
}
