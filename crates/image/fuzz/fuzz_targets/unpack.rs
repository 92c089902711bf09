//! Fuzz the layer unpacker: any input either unpacks inside its destination or is refused with
//! nothing left behind; nothing outside the scratch root ever changes.
#![no_main]

use std::path::PathBuf;

use berth_image::{LayerUnpacker, Limits};
use libfuzzer_sys::fuzz_target;

fn scratch() -> PathBuf {
    let p = PathBuf::from(format!("/tmp/berth-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(p.join("root")).expect("scratch root");
    std::fs::create_dir_all(p.join("outside")).expect("scratch outside");
    std::fs::write(p.join("outside/secret"), b"s").expect("secret");
    p
}

fn listing(p: &std::path::Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
                v.push(e.path());
            }
        }
    }
    v.sort();
    v
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    let before = listing(&s.join("outside"));
    let limits = Limits { max_bytes: 64 << 20, max_entries: 10_000 };
    let dest = s.join("root/dest");
    let res = LayerUnpacker::new(limits).unpack("fuzz", data, None, &dest);
    assert_eq!(listing(&s.join("outside")), before, "something changed outside");
    assert_eq!(std::fs::read(s.join("outside/secret")).ok().as_deref(), Some(&b"s"[..]));
    let root_entries = std::fs::read_dir(s.join("root")).map(|r| r.count()).unwrap_or(0);
    assert_eq!(root_entries, usize::from(res.is_ok()), "staging left behind");
    let _ = std::fs::remove_dir_all(&s);
});
