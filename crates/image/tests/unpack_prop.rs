//! Property: whatever archive (random mixes of hostile names, symlinks, hardlinks, whiteouts,
//! duplicates, compressions), unpacking never creates, changes or removes anything outside its
//! destination; a refused archive leaves no destination at all.
#![allow(clippy::unwrap_used)]

mod common;

use berth_image::{LayerUnpacker, Limits};
use common::{gzip, tar_of, tree, zstd, TestRoot, E};
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "a",
    "b",
    "a/b",
    "a/b/c",
    "l",
    "l/x",
    "l/.wh.x",
    "a/l",
    "a/l/y",
    "../x",
    "../../outside/secret",
    "/abs",
    "./a",
    "a/../b",
    "a/../../x",
    ".wh.a",
    "a/.wh..wh..opq",
    "l/.wh..wh..opq",
    ".wh..",
    "h",
    "l/l/z",
    "./",
    "a/h",
    "../outside/new",
    "l/../../x",
    "dev",
];
const TARGETS: &[&str] = &[
    "OUTSIDE",
    "../outside",
    "../../outside/secret",
    "/",
    "..",
    "a",
    "a/b",
    "l",
    "/outside",
    "secret",
    "l/secret",
    "OUTSIDE/secret",
    "h",
    "a/l",
    ".",
    "../..",
];

#[derive(Debug, Clone)]
enum G {
    File(usize),
    Dir(usize),
    Sym(usize, usize),
    Hard(usize, usize),
    Fifo(usize),
}

fn g() -> impl Strategy<Value = G> {
    let n = 0..NAMES.len();
    let t = 0..TARGETS.len();
    prop_oneof![
        n.clone().prop_map(G::File),
        n.clone().prop_map(G::Dir),
        (n.clone(), t.clone()).prop_map(|(a, b)| G::Sym(a, b)),
        (n.clone(), t).prop_map(|(a, b)| G::Hard(a, b)),
        n.prop_map(G::Fifo),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn nothing_escapes(entries in proptest::collection::vec(g(), 1..12), comp in 0..3u8) {
        if !common::is_root() {
            eprintln!("skipped: needs root");
            return Ok(());
        }
        let t = TestRoot::new("prop");
        std::fs::create_dir_all(t.join("outside/dir")).unwrap();
        std::fs::write(t.join("outside/secret"), b"s").unwrap();
        std::fs::create_dir(t.join("root")).unwrap();
        let outside = t.join("outside").display().to_string();
        let before = tree(&t.path);
        let targets: Vec<String> = TARGETS.iter().map(|s| s.replace("OUTSIDE", &outside)).collect();
        let dirnames: Vec<String> = NAMES.iter().map(|n| format!("{n}/")).collect();
        let es: Vec<E<'_>> = entries.iter().map(|e| match e {
            G::File(n) => E::File(NAMES[*n], b"data"),
            G::Dir(n) => E::Dir(&dirnames[*n]),
            G::Sym(n, t) => E::Symlink(NAMES[*n], &targets[*t]),
            G::Hard(n, t) => E::Hardlink(NAMES[*n], &targets[*t]),
            G::Fifo(n) => E::Fifo(NAMES[*n]),
        }).collect();
        let tar = tar_of(&es);
        let data = match comp { 0 => tar, 1 => gzip(&tar), _ => zstd(&tar) };
        let dest = t.join("root/dest");
        let res = LayerUnpacker::new(Limits::default()).unpack("p", &data[..], None, &dest);
        let mut after = tree(&t.path);
        after.retain(|p| !p.starts_with("root/dest/") && p != "root/dest");
        prop_assert_eq!(&after, &before, "result {:?}", res.as_ref().map(|_| ()));
        prop_assert_eq!(std::fs::read(t.join("outside/secret")).unwrap(), b"s".to_vec());
        prop_assert_eq!(res.is_ok(), dest.exists());
    }
}
