//! A writer killed with SIGKILL at any byte leaves no blob under a wrong name, and the ingest
//! resumes. The child is this test binary re-run with `BERTH_CHILD_WRITER` set.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use berth_image::{ContentStore, Digest};

const SIZE: usize = 1 << 20;

fn data() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The child: writes the blob in small chunks, killing itself at `BERTH_KILL_AT` bytes (or
/// never, if absent: then the parent kills it from outside at a random time).
#[test]
#[ignore = "child process of killed_writers_leave_no_wrong_blob"]
fn child_writer() {
    let Ok(root) = std::env::var("BERTH_CHILD_WRITER") else {
        return;
    };
    let kill_at: Option<usize> = std::env::var("BERTH_KILL_AT")
        .ok()
        .map(|s| s.parse().unwrap());
    let data = data();
    let d = Digest::of(&data);
    let store = ContentStore::open(&root).unwrap();
    let Some(mut w) = store.writer("blob", Some(&d)).unwrap() else {
        return;
    };
    let mut off = w.offset() as usize;
    println!("started");
    std::io::stdout().flush().unwrap();
    while off < data.len() {
        let n = (997 + off % 4093).min(data.len() - off);
        if let Some(k) = kill_at {
            if off + n > k {
                w.write_all(&data[off..k.max(off)]).unwrap();
                rustix::process::kill_process(
                    rustix::process::getpid(),
                    rustix::process::Signal::KILL,
                )
                .unwrap();
            }
        }
        w.write_all(&data[off..off + n]).unwrap();
        off += n;
    }
    if kill_at == Some(data.len()) {
        rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL)
            .unwrap();
    }
    w.commit(Some(data.len() as u64)).unwrap();
}

fn check_store(store: &ContentStore) {
    for b in store.walk().unwrap() {
        let mut v = Vec::new();
        store
            .reader(&b.digest)
            .unwrap()
            .read_to_end(&mut v)
            .unwrap();
        assert_eq!(Digest::of(&v), b.digest, "blob under a wrong name");
    }
}

#[test]
fn killed_writers_leave_no_wrong_blob() {
    let data = data();
    let d = Digest::of(&data);
    let exe = std::env::current_exe().unwrap();
    let mut seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    for round in 0..12 {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("content");
        let store = ContentStore::open(&root).unwrap();
        // several kills in a row on the same ingest, each resuming the previous one
        for _ in 0..3 {
            let mut cmd = Command::new(&exe);
            cmd.args([
                "--exact",
                "child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BERTH_CHILD_WRITER", &root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
            let external = round % 3 == 2;
            if !external {
                let k = if round % 4 == 3 {
                    SIZE
                } else {
                    (rnd() as usize) % SIZE
                };
                cmd.env("BERTH_KILL_AT", k.to_string());
            }
            let mut child = cmd.spawn().unwrap();
            if external {
                let mut buf = [0u8; 8];
                let _ = child.stdout.as_mut().unwrap().read(&mut buf);
                std::thread::sleep(std::time::Duration::from_micros(rnd() % 20_000));
                let _ = child.kill(); // SIGKILL
            }
            let st = child.wait().unwrap();
            assert!(
                st.success() || std::os::unix::process::ExitStatusExt::signal(&st) == Some(9),
                "{st:?}"
            );
            check_store(&store);
            if let Some(w) = store.writer("blob", Some(&d)).unwrap() {
                assert!(w.offset() as usize <= SIZE);
            }
        }
        // resume to completion
        let info = store
            .ingest("blob", &data[..], Some((&d, Some(SIZE as u64))))
            .unwrap();
        assert_eq!(info.digest, d);
        check_store(&store);
        assert!(store.ingests().unwrap().is_empty());
    }
}
