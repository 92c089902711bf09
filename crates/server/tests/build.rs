//! Black-box: `docker build` (the stock CLI's classic builder, DOCKER_BUILDKIT=0) against
//! berthd — every instruction checked by running or inspecting the result, the cache, the
//! .dockerignore, multi-stage builds, failures that leave nothing behind, reproducible IDs.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::Berthd;

/// `docker args` with the classic builder; (code, stdout, stderr).
fn d(b: &Berthd, args: &[&str]) -> (i32, String, String) {
    let o = b
        .docker()
        .env("DOCKER_BUILDKIT", "0")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(b: &Berthd, args: &[&str]) -> String {
    let (code, out, err) = d(b, args);
    assert_eq!(code, 0, "docker {args:?}: {out}\n{err}\n{}", b.log());
    out
}

/// A context directory with `files` (path, content); `Dockerfile` among them.
fn context(b: &Berthd, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = b.dir.join("ctx").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (p, c) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(b: &Berthd, image: &str, sh: &str) -> String {
    ok(
        b,
        &["run", "--rm", "--network", "none", image, "sh", "-c", sh],
    )
}

#[test]
fn every_instruction_shows_in_the_image() {
    need_root!();
    let b = Berthd::start();
    let df = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS base
ARG GREETING=hello
ARG FROM_CLI
ENV APP=/srv/app \
    WHO="the world"
LABEL org.example.title="demo app" version=$GREETING
WORKDIR $APP
COPY files/ ./
COPY --chown=7:8 --chmod=640 one.txt /owned.txt
RUN echo "$GREETING $WHO $FROM_CLI" > greeting && id -u > uid
RUN ["sh", "-c", "echo exec-form > /exec"]
COPY <<EOF /heredoc.txt
made by $APP
EOF
RUN <<EOT
echo one > /script.out
echo two >> /script.out
EOT
EXPOSE 8080 53/udp
VOLUME /data
HEALTHCHECK --interval=5s --retries=2 CMD true
STOPSIGNAL SIGUSR1
SHELL ["/bin/sh", "-ec"]
RUN echo shell-set > /shell.out
USER 1000:1000
ONBUILD RUN echo triggered > /tmp/onbuild
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greeting"]
"#;
    let ctx = context(
        &b,
        "all",
        &[
            ("Dockerfile", df),
            ("files/a.txt", "A\n"),
            ("files/sub/b.txt", "B\n"),
            ("one.txt", "1\n"),
        ],
    );
    let out = ok(
        &b,
        &[
            "build",
            "-t",
            "demo:1",
            "-t",
            "demo:latest",
            "--build-arg",
            "FROM_CLI=cli",
            "--label",
            "built.by=test",
            s(&ctx),
        ],
    );
    // Docker's classic stream.
    assert!(out.contains("Step 1/"), "{out}");
    assert!(out.contains(" : FROM ${BASE} AS base"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("Removing intermediate container "), "{out}");
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged demo:1"), "{out}");
    assert!(out.contains("Successfully tagged demo:latest"), "{out}");
    // The default command: entrypoint + cmd, user, workdir, env, build args.
    let o = ok(&b, &["run", "--rm", "--network", "none", "demo:1"]);
    assert_eq!(o, "hello the world cli\n");
    let o = ok(
        &b,
        &[
            "run", "--rm", "--network", "none", "demo:1",
            "id -u; pwd; cat uid; cat a.txt sub/b.txt; ls -ln /owned.txt; cat /exec /heredoc.txt /script.out /shell.out; test -d /data && echo vol",
        ],
    );
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "1000", "{o}");
    assert_eq!(lines[1], "/srv/app", "{o}");
    assert_eq!(lines[2], "0", "RUN runs as root before USER: {o}");
    assert_eq!(&lines[3..5], &["A", "B"], "{o}");
    assert!(
        lines[5].starts_with("-rw-r-----") && lines[5].contains(" 7 ") && lines[5].contains(" 8 "),
        "{o}"
    );
    assert_eq!(
        &lines[6..],
        &[
            "exec-form",
            "made by /srv/app",
            "one",
            "two",
            "shell-set",
            "vol"
        ],
        "{o}"
    );
    // inspect: config fields.
    let f = |t: &str| ok(&b, &["inspect", "-f", t, "demo:1"]).trim().to_string();
    assert_eq!(f("{{.Config.User}}"), "1000:1000");
    assert_eq!(f("{{.Config.WorkingDir}}"), "/srv/app");
    assert_eq!(f("{{json .Config.Entrypoint}}"), r#"["/bin/sh","-c"]"#);
    assert_eq!(f("{{json .Config.Cmd}}"), r#"["cat greeting"]"#);
    assert_eq!(f("{{json .Config.Shell}}"), r#"["/bin/sh","-ec"]"#);
    assert_eq!(f("{{.Config.StopSignal}}"), "SIGUSR1");
    assert_eq!(
        f("{{json .Config.ExposedPorts}}"),
        r#"{"53/udp":{},"8080/tcp":{}}"#
    );
    assert_eq!(f("{{json .Config.Volumes}}"), r#"{"/data":{}}"#);
    assert_eq!(
        f("{{json .Config.Healthcheck.Test}}"),
        r#"["CMD-SHELL","true"]"#
    );
    assert_eq!(f("{{.Config.Healthcheck.Retries}}"), "2");
    assert_eq!(
        f("{{index .Config.Labels \"org.example.title\"}}"),
        "demo app"
    );
    assert_eq!(f("{{index .Config.Labels \"version\"}}"), "hello");
    assert_eq!(f("{{index .Config.Labels \"built.by\"}}"), "test");
    let env = f("{{json .Config.Env}}");
    assert!(
        env.contains(r#""APP=/srv/app""#) && env.contains(r#""WHO=the world""#),
        "{env}"
    );
    assert!(
        !env.contains("GREETING"),
        "build args are not persisted: {env}"
    );
    assert_eq!(
        f("{{json .Config.OnBuild}}"),
        r#"["RUN echo triggered > /tmp/onbuild"]"#
    );
    // history: build args shown as Docker does, one entry per step.
    let h = ok(
        &b,
        &[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "demo:1",
        ],
    );
    assert!(
        h.contains("|2 FROM_CLI=cli GREETING=hello /bin/sh -c echo"),
        "{h}"
    );
    assert!(h.contains("#(nop)  ENV APP=/srv/app WHO=the world"), "{h}");
    // ONBUILD fires in a child build.
    let child = context(
        &b,
        "child",
        &[("Dockerfile", "FROM demo:1\nRUN cat /tmp/onbuild\n")],
    );
    let out = ok(&b, &["build", "-t", "child", s(&child)]);
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert!(out.contains("triggered"), "{out}");
    assert_eq!(
        ok(&b, &["inspect", "-f", "{{json .Config.OnBuild}}", "child"]).trim(),
        "null"
    );
    // Intermediate images are hidden from `docker images`, shown with -a.
    let all = ok(&b, &["images", "-aq"]).lines().count();
    let top = ok(&b, &["images", "-q"]).lines().count();
    assert!(all > top + 5, "images -a {all}, images {top}");
    // Nothing left running or created.
    assert_eq!(ok(&b, &["ps", "-aq"]), "");
}

#[test]
fn copy_and_add_follow_dockers_directory_rules() {
    need_root!();
    let b = Berthd::start();
    let df = "FROM busybox\n\
        COPY dir /plain\n\
        COPY dir /slash/\n\
        COPY f1.txt /newname\n\
        COPY f1.txt /intodir/\n\
        COPY *.txt /glob/\n\
        RUN mkdir /exists\n\
        COPY f1.txt /exists\n\
        WORKDIR /w\n\
        COPY f1.txt rel\n\
        ADD arch.tar.gz /unpacked/\n\
        ADD f1.txt /added\n";
    let ctx = context(
        &b,
        "rules",
        &[
            ("Dockerfile", df),
            ("dir/x", "x\n"),
            ("dir/d2/y", "y\n"),
            ("f1.txt", "1\n"),
            ("f2.txt", "2\n"),
        ],
    );
    let tgz = {
        let dir = b.dir.join("tarsrc");
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        std::fs::write(dir.join("inner/t.txt"), "from tar\n").unwrap();
        let out = b.dir.join("ctx/rules/arch.tar.gz");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let st = std::process::Command::new("tar")
            .args(["-czf", s(&out), "-C", s(&dir), "inner"])
            .status()
            .unwrap();
        assert!(st.success());
        out
    };
    assert!(tgz.exists());
    ok(&b, &["build", "-t", "rules", s(&ctx)]);
    let o = run(
        &b,
        "rules",
        "cat /plain/x /plain/d2/y /slash/x /newname /intodir/f1.txt /glob/f1.txt /glob/f2.txt \
         /exists/f1.txt /w/rel /unpacked/inner/t.txt /added; test -f /plain/dir || echo no-nesting",
    );
    assert_eq!(
        o, "x\ny\nx\n1\n1\n1\n2\n1\n1\nfrom tar\n1\nno-nesting\n",
        "{o}"
    );
    // Several sources need a directory destination ending in /.
    let bad = context(
        &b,
        "bad",
        &[
            ("Dockerfile", "FROM busybox\nCOPY a b /dest\n"),
            ("a", ""),
            ("b", ""),
        ],
    );
    let (code, _, err) = d(&b, &["build", s(&bad)]);
    assert_ne!(code, 0);
    assert!(
        err.contains("must be a directory and end with a /"),
        "{err}"
    );
    // A missing source names itself.
    let missing = context(
        &b,
        "missing",
        &[("Dockerfile", "FROM busybox\nCOPY nope /x\n")],
    );
    let (code, _, err) = d(&b, &["build", s(&missing)]);
    assert_ne!(code, 0);
    assert!(
        err.contains("COPY failed: file not found in build context") && err.contains("nope"),
        "{err}"
    );
    // A symlink in the context cannot reach outside it.
    let link = context(
        &b,
        "link",
        &[("Dockerfile", "FROM busybox\nCOPY esc/passwd /p\n")],
    );
    std::os::unix::fs::symlink("/etc", link.join("esc")).unwrap();
    let (code, _, err) = d(&b, &["build", s(&link)]);
    assert_ne!(
        code, 0,
        "a COPY through a symlink to /etc must not read the host's /etc"
    );
    assert!(err.contains("COPY failed"), "{err}");
}

#[test]
fn cache_reuses_steps_until_a_copied_file_changes() {
    need_root!();
    let b = Berthd::start();
    let df = "FROM busybox\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n";
    let ctx = context(
        &b,
        "cache",
        &[("Dockerfile", df), ("a.txt", "a1\n"), ("b.txt", "b\n")],
    );
    let first = ok(&b, &["build", "-q", s(&ctx)]);
    let out = ok(&b, &["build", s(&ctx)]);
    assert_eq!(out.matches("Using cache").count(), 4, "{out}");
    assert!(
        out.contains(&format!("Successfully built {}", &first.trim()[7..19])),
        "{out}"
    );
    // Touching a file (new mtime, same content) keeps the cache.
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.join("a.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    let out = ok(&b, &["build", s(&ctx)]);
    assert_eq!(out.matches("Using cache").count(), 4, "{out}");
    // Changing a.txt: its COPY and the steps after it run again, the RUN before does not.
    std::fs::write(ctx.join("a.txt"), "a2\n").unwrap();
    let out = ok(&b, &["build", "-t", "cached", s(&ctx)]);
    assert_eq!(out.matches("Using cache").count(), 1, "{out}");
    assert_eq!(run(&b, "cached", "cat /copy"), "a2\n");
    // --no-cache runs everything.
    let out = ok(&b, &["build", "--no-cache", s(&ctx)]);
    assert_eq!(out.matches("Using cache").count(), 0, "{out}");
    // The cache survives a daemon restart.
    let mut b = b;
    b.crash();
    b.spawn();
    let out = ok(&b, &["build", s(&ctx)]);
    assert_eq!(out.matches("Using cache").count(), 4, "{out}");
    // builder prune forgets it and frees the step images nothing needs.
    ok(&b, &["rmi", "cached"]);
    let pruned = ok(&b, &["builder", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    let out = ok(&b, &["build", s(&ctx)]);
    assert_eq!(out.matches("Using cache").count(), 0, "{out}");
}

#[test]
fn dockerignore_and_dockerfile_elsewhere() {
    need_root!();
    let b = Berthd::start();
    let ctx = context(
        &b,
        "ign",
        &[
            ("Dockerfile", "FROM busybox\nCOPY . /c/\n"),
            (
                ".dockerignore",
                "# comment\n*.log\nsecret\ndocs\n!docs/keep.md\n**/tmp\n",
            ),
            ("keep.txt", "k\n"),
            ("x.log", "l\n"),
            ("secret", "s\n"),
            ("docs/a.md", "a\n"),
            ("docs/keep.md", "keep\n"),
            ("sub/tmp/t", "t\n"),
            ("sub/ok", "ok\n"),
        ],
    );
    ok(&b, &["build", "-t", "ign", s(&ctx)]);
    let o = run(&b, "ign", "cd /c && find . -type f | sort");
    assert_eq!(
        o, "./.dockerignore\n./Dockerfile\n./docs/keep.md\n./keep.txt\n./sub/ok\n",
        "{o}"
    );
    // -f with a Dockerfile outside the context.
    let other = b.dir.join("elsewhere.Dockerfile");
    std::fs::write(&other, "FROM busybox\nCOPY keep.txt /k\n").unwrap();
    ok(&b, &["build", "-f", s(&other), "-t", "elsewhere", s(&ctx)]);
    assert_eq!(run(&b, "elsewhere", "cat /k"), "k\n");
}

#[test]
fn multi_stage_builds_only_what_the_target_needs() {
    need_root!();
    let b = Berthd::start();
    let df = "FROM busybox AS build\nRUN echo artefact > /out\n\
              FROM busybox AS broken\nRUN exit 9\n\
              FROM busybox AS final\nCOPY --from=build /out /got\nCOPY --from=0 /out /got0\nRUN cat /got\n";
    let ctx = context(&b, "ms", &[("Dockerfile", df)]);
    let out = ok(&b, &["build", "-t", "ms", s(&ctx)]);
    assert!(
        !out.contains("exit 9"),
        "the unused stage is skipped: {out}"
    );
    assert!(out.contains("Step 1/6 : FROM busybox AS build"), "{out}");
    assert_eq!(run(&b, "ms", "cat /got /got0"), "artefact\nartefact\n");
    // --target stops at a stage.
    let out = ok(
        &b,
        &["build", "--target", "build", "-t", "ms-build", s(&ctx)],
    );
    assert!(out.contains("Step 2/2"), "{out}");
    assert_eq!(
        run(&b, "ms-build", "cat /out; test -e /got || echo none"),
        "artefact\nnone\n"
    );
    let (code, _, err) = d(&b, &["build", "--target", "nope", s(&ctx)]);
    assert_ne!(code, 0);
    assert!(err.contains("failed to reach build target nope"), "{err}");
}

#[test]
fn failures_stop_the_build_and_leave_nothing() {
    need_root!();
    let b = Berthd::start();
    let ctx = context(
        &b,
        "fail",
        &[("Dockerfile", "FROM busybox\nRUN echo before\nRUN echo to-out; echo to-err >&2; exit 7\nRUN echo never\n")],
    );
    let (code, out, err) = d(&b, &["build", s(&ctx)]);
    assert_eq!(code, 7, "the CLI exits with the step's code: {out}{err}");
    assert!(out.contains("to-out") && out.contains("to-err"), "{out}");
    assert!(!out.contains("never"), "{out}");
    assert!(
        err.contains("The command '/bin/sh -c echo to-out; echo to-err >&2; exit 7' returned a non-zero code: 7"),
        "{err}"
    );
    assert_eq!(ok(&b, &["ps", "-aq"]), "", "no step container is left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(s(&b.dir)), "no mount is left:\n{mounts}");
    // Parse errors name their line before anything runs.
    let bad = context(
        &b,
        "parse",
        &[("Dockerfile", "FROM busybox\nRUN echo hi\nFOO bar\n")],
    );
    let (code, out, err) = d(&b, &["build", s(&bad)]);
    assert_ne!(code, 0);
    assert!(!out.contains("Step 1"), "{out}");
    assert!(
        err.contains("dockerfile parse error line 3: unknown instruction: FOO"),
        "{err}"
    );
    // An unknown base image.
    let nobase = context(
        &b,
        "nobase",
        &[("Dockerfile", "FROM 127.0.0.1:1/none/such:tag\n")],
    );
    let (code, _, _) = d(&b, &["build", s(&nobase)]);
    assert_ne!(code, 0);
    // BuildKit-only features are refused clearly.
    let bk = context(
        &b,
        "bk",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=cache,target=/c true\n",
        )],
    );
    let (code, _, err) = d(&b, &["build", s(&bk)]);
    assert_ne!(code, 0);
    assert!(err.contains("BuildKit"), "{err}");
}

#[test]
fn source_date_epoch_gives_the_same_image_id() {
    need_root!();
    let b = Berthd::start();
    let df =
        "FROM busybox\nCOPY f /f\nRUN echo hi > /y && mkdir -p /a/b && touch /a/b/c\nENV X=1\n";
    let ctx = context(&b, "repro", &[("Dockerfile", df), ("f", "content\n")]);
    let args = [
        "build",
        "-q",
        "--no-cache",
        "--build-arg",
        "SOURCE_DATE_EPOCH=1700000000",
        s(&ctx),
    ];
    let one = ok(&b, &args);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // A different mtime on the context file and a later second: the same image.
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.join("f"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now()).unwrap();
    let two = ok(&b, &args);
    assert_eq!(one, two);
    let created = ok(&b, &["inspect", "-f", "{{.Created}}", one.trim()]);
    assert_eq!(created.trim(), "2023-11-14T22:13:20Z");
    // Without it, times differ and so do the IDs.
    let three = ok(&b, &["build", "-q", "--no-cache", s(&ctx)]);
    assert_ne!(one, three);
    // Another daemon (another machine) with the same base image gives the same ID.
    let other = Berthd::start();
    let saved = b.dir.join("busybox.tar");
    ok(&b, &["save", "-o", s(&saved), "busybox"]);
    ok(&other, &["load", "-i", s(&saved)]);
    let elsewhere = ok(&other, &args);
    assert_eq!(one, elsewhere);
}

#[test]
fn add_downloads_urls_and_rmi_removes_the_step_images() {
    need_root!();
    let b = Berthd::start();
    // A web server on loopback serving one file.
    let www = b.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("page.txt"), "downloaded\n").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = www.join("page.txt");
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for c in listener.incoming().take(4) {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = std::fs::read(&served).unwrap();
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(&body);
        }
    });
    let df = format!(
        "FROM busybox\nADD http://127.0.0.1:{port}/page.txt /dl/\nADD http://127.0.0.1:{port}/page.txt /named.txt\n"
    );
    let ctx = context(&b, "url", &[("Dockerfile", &df)]);
    // The build's RUN-less steps need no network; the daemon fetches on the host's loopback.
    ok(&b, &["build", "-t", "url", s(&ctx)]);
    let o = run(
        &b,
        "url",
        "cat /dl/page.txt /named.txt; stat -c '%a %Y' /named.txt",
    );
    assert_eq!(o, "downloaded\ndownloaded\n600 1700000000\n", "{o}");
    // rmi of the built image deletes its untagged step images too.
    let before = ok(&b, &["images", "-aq"]).lines().count();
    let out = ok(&b, &["rmi", "url"]);
    assert_eq!(
        out.matches("Deleted: sha256:").count(),
        2,
        "both step images: {out}"
    );
    let after = ok(&b, &["images", "-aq"]).lines().count();
    assert_eq!(after, before - out.matches("Deleted: sha256:").count());
    assert_eq!(
        after,
        1,
        "only busybox is left: {}",
        ok(&b, &["images", "-a"])
    );
}

/// `berth args` against this daemon: (code, stdout, stderr).
fn berth(b: &Berthd, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_berthd")).with_file_name("berth");
    assert!(
        exe.exists(),
        "{} missing: cargo build --workspace --bins first",
        exe.display()
    );
    let mut c = std::process::Command::new(exe)
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", b.sock().display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut i = c.stdin.take().unwrap();
    if let Some(t) = stdin {
        i.write_all(t.as_bytes()).unwrap();
    }
    drop(i);
    let o = c.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn berth_build_matches_docker_build() {
    need_root!();
    let b = Berthd::start();
    let ctx = context(
        &b,
        "cli",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY . /c/\nRUN ls /c > /list\nCMD [\"cat\", \"/list\"]\n",
            ),
            (".dockerignore", "*.log\n"),
            ("a.txt", "a\n"),
            ("b.log", "b\n"),
        ],
    );
    let (code, bout, berr) = berth(&b, &["build", "-t", "fromberth", s(&ctx)], None);
    assert_eq!(code, 0, "{bout}{berr}");
    let dout = ok(&b, &["build", "-t", "fromdocker", s(&ctx)]);
    // The same steps, and docker's build hits the cache berth's filled: the same image.
    let steps = |o: &str| -> Vec<String> {
        o.lines()
            .filter(|l| l.starts_with("Step "))
            .map(String::from)
            .collect()
    };
    assert_eq!(steps(&bout), steps(&dout));
    let id = |n: &str| ok(&b, &["inspect", "-f", "{{.Id}}", n]);
    assert_eq!(id("fromberth"), id("fromdocker"));
    assert_eq!(run(&b, "fromberth", "cat /list"), "Dockerfile\na.txt\n");
    assert!(
        berr.contains("Sending build context to Docker daemon"),
        "{berr}"
    );
    // -q prints the ID; --iidfile writes it.
    let iid = b.dir.join("iid");
    let (code, q, _) = berth(&b, &["build", "-q", "--iidfile", s(&iid), s(&ctx)], None);
    assert_eq!(code, 0);
    assert_eq!(q.trim(), id("fromberth").trim());
    assert_eq!(
        std::fs::read_to_string(&iid).unwrap(),
        id("fromberth").trim()
    );
    // A Dockerfile on stdin, a failing step's exit code.
    let (code, out, err) = berth(&b, &["build", "-"], Some("FROM busybox\nRUN exit 4\n"));
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("returned a non-zero code: 4"), "{err}");
    // builder prune.
    let (code, out, _) = berth(&b, &["builder", "prune", "-f"], None);
    assert_eq!(code, 0);
    assert!(out.contains("Total reclaimed space:"), "{out}");
}

#[test]
fn a_client_that_goes_away_stops_the_build() {
    need_root!();
    let b = Berthd::start();
    let ctx = context(
        &b,
        "cancel",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo started; sleep 60\nRUN echo never\n",
        )],
    );
    let mut child = b
        .docker()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", s(&ctx)])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the step runs, then the client dies (as with ctrl-c).
    let mut out = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let t = std::time::Instant::now();
    while !seen.contains("started") {
        use std::io::Read;
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0 && t.elapsed().as_secs() < 30, "{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = child.kill();
    let _ = child.wait();
    // The step container is killed and removed well before its sleep would end.
    let t = std::time::Instant::now();
    loop {
        if ok(&b, &["ps", "-aq"]).is_empty() {
            break;
        }
        assert!(
            t.elapsed().as_secs() < 20,
            "the step container is still there"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(!b.log().contains("never"));
}
