//! `berth build`: the context directory sent as a tar (`.dockerignore` applied here, as the
//! docker CLI does; the Dockerfile and `.dockerignore` always sent), `POST /build` with Docker's
//! query options, the classic builder's stream printed; `-q` prints the ID, `--iidfile` writes it,
//! a failed RUN step's exit code is the command's.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use berth_api::dockerignore::{clean, Ignore};
use clap::Args;

use super::{CmdError, CmdResult, Ctx};
use crate::client::{Body, Request};
use crate::progress::{Mode, Renderer};

/// `berth build`.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "list")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "string")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    pub build_args: Vec<String>,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list")]
    pub labels: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "string")]
    pub network: Option<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "string")]
    pub target: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Write the image ID to the file
    #[arg(long, value_name = "string")]
    pub iidfile: Option<PathBuf>,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value = "true", value_name = "bool", num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long)]
    pub force_rm: bool,
    /// Images to consider as cache sources (not supported by Berth's builder)
    #[arg(long = "cache-from", value_name = "strings")]
    pub cache_from: Vec<String>,
    /// Add a custom host-to-IP mapping (not supported by Berth's builder)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// PATH | URL | -
    pub context: String,
}

fn err(message: impl Into<String>) -> CmdError {
    CmdError::Status {
        message: message.into(),
        code: 1,
    }
}

/// The Dockerfile's place: inside the context (a relative name), or outside (its bytes).
enum Dockerfile {
    Inside(String),
    Outside(Vec<u8>),
}

/// Walks the context, leaving out what `.dockerignore` excludes.
fn append_tree<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &str,
    ig: &Ignore,
    keep: &[String],
) -> Result<(), CmdError> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| err(format!("read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let r = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let p = root.join(&r);
        let meta =
            std::fs::symlink_metadata(&p).map_err(|e| err(format!("{}: {e}", p.display())))?;
        let excluded = ig.excluded(&r) && !keep.contains(&r);
        if excluded && !(meta.is_dir() && ig.has_exceptions_below(&r)) {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        h.set_uid(0);
        h.set_gid(0);
        let _ = h.set_username("");
        let _ = h.set_groupname("");
        let io = |e: std::io::Error| err(format!("{}: {e}", p.display()));
        if meta.is_dir() {
            if !excluded {
                h.set_size(0);
                b.append_data(&mut h, format!("{r}/"), std::io::empty())
                    .map_err(io)?;
            }
            append_tree(b, root, &r, ig, keep)?;
        } else if meta.file_type().is_symlink() {
            let t = std::fs::read_link(&p).map_err(io)?;
            h.set_size(0);
            b.append_link(&mut h, &r, t).map_err(io)?;
        } else if meta.is_file() {
            let f = std::fs::File::open(&p).map_err(io)?;
            b.append_data(&mut h, &r, f).map_err(io)?;
        }
    }
    Ok(())
}

fn random_name() -> String {
    let mut b = [0u8; 10];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The context tar and the Dockerfile name the daemon reads.
fn context_tar(dir: &Path, df: Dockerfile) -> Result<(Vec<u8>, String), CmdError> {
    let ignore_text = std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
    let ig = Ignore::parse(&ignore_text).map_err(|e| err(format!(".dockerignore: {e}")))?;
    let mut keep = vec![".dockerignore".to_string()];
    let mut b = tar::Builder::new(Vec::new());
    let name = match df {
        Dockerfile::Inside(n) => {
            keep.push(clean(&n));
            append_tree(&mut b, dir, "", &ig, &keep)?;
            n
        }
        Dockerfile::Outside(bytes) => {
            // As the docker CLI: under a random name, which .dockerignore then leaves out of COPY.
            let n = format!(".dockerfile.{}", random_name());
            append_tree(&mut b, dir, "", &ig, &keep)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let add = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o600);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(now);
                b.append_data(&mut h, name, data)
            };
            add(&mut b, &n, &bytes).map_err(|e| err(e.to_string()))?;
            let ig2 = format!("{}\n{n}\n", ignore_text.trim_end());
            add(&mut b, ".dockerignore", ig2.as_bytes()).map_err(|e| err(e.to_string()))?;
            n
        }
    };
    let data = b.into_inner().map_err(|e| err(e.to_string()))?;
    Ok((data, name))
}

/// go-units `HumanSize` (four significant digits), as the docker CLI prints sizes here.
fn human(n: usize) -> String {
    crate::units::human_size_prec(n as f64, 4)
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: BuildArgs) -> CmdResult {
    if !args.cache_from.is_empty() {
        return Err(err(
            "--cache-from is not supported by Berth's builder: its own cache is used",
        ));
    }
    if !args.add_host.is_empty() {
        return Err(err("--add-host is not supported by Berth's builder"));
    }
    if args.context.starts_with("http://")
        || args.context.starts_with("https://")
        || args.context.starts_with("git@")
    {
        return Err(err(format!(
            "building from a URL ({}) is not supported: clone or download it and build the directory",
            args.context
        )));
    }
    let (tar, df_name) = if args.context == "-" {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input)?;
        let is_tar =
            input.len() > 262 && &input[257..262] == b"ustar" || input.starts_with(&[0x1f, 0x8b]);
        if is_tar {
            (
                input,
                args.file.clone().unwrap_or_else(|| "Dockerfile".into()),
            )
        } else {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(input.len() as u64);
            h.set_mode(0o600);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            b.append_data(&mut h, "Dockerfile", &input[..])
                .map_err(|e| err(e.to_string()))?;
            (
                b.into_inner().map_err(|e| err(e.to_string()))?,
                "Dockerfile".into(),
            )
        }
    } else {
        let dir = PathBuf::from(&args.context);
        if !dir.is_dir() {
            return Err(err(format!(
                "unable to prepare context: path \"{}\" not found",
                args.context
            )));
        }
        let df = match args.file.as_deref() {
            None => Dockerfile::Inside("Dockerfile".into()),
            Some("-") => {
                let mut v = Vec::new();
                std::io::stdin().read_to_end(&mut v)?;
                Dockerfile::Outside(v)
            }
            Some(f) => {
                let p = PathBuf::from(f);
                let abs_dir = std::fs::canonicalize(&dir)?;
                let abs = std::fs::canonicalize(&p).map_err(|_| {
                    err(format!(
                        "unable to prepare context: the Dockerfile ({f}) cannot be found"
                    ))
                })?;
                match abs.strip_prefix(&abs_dir) {
                    Ok(rel) => Dockerfile::Inside(rel.to_string_lossy().into_owned()),
                    Err(_) => Dockerfile::Outside(std::fs::read(&abs)?),
                }
            }
        };
        if let Dockerfile::Inside(n) = &df {
            if !dir.join(n).is_file() {
                return Err(err(format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                    dir.join(n).display()
                )));
            }
        }
        context_tar(&dir, df)?
    };
    if !args.quiet {
        eprintln!(
            "Sending build context to Docker daemon  {}",
            human(tar.len())
        );
    }
    let mut build_args: BTreeMap<String, Option<String>> = BTreeMap::new();
    for a in &args.build_args {
        match a.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), Some(v.to_string())),
            None => build_args.insert(a.clone(), std::env::var(a).ok()),
        };
    }
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut req = Request::new("POST", "/build")
        .query("dockerfile", df_name)
        .query(
            "buildargs",
            serde_json::to_string(&build_args).unwrap_or_default(),
        )
        .query("labels", serde_json::to_string(&labels).unwrap_or_default())
        .query("rm", if args.rm { "1" } else { "0" })
        .flag("forcerm", args.force_rm)
        .flag("nocache", args.no_cache)
        .flag("pull", args.pull)
        .flag("q", args.quiet);
    for t in &args.tags {
        req = req.query("t", t.clone());
    }
    if let Some(n) = &args.network {
        req = req.query("networkmode", n.clone());
    }
    if let Some(t) = &args.target {
        req = req.query("target", t.clone());
    }
    if let Some(p) = &args.platform {
        req = req.query("platform", p.clone());
    }
    let req = req.body(Body::Stream(
        Box::new(std::io::Cursor::new(tar)),
        "application/x-tar",
    ));
    let resp = ctx.client.send(req)?;
    let mut id = String::new();
    let mut quiet_out = String::new();
    let mode = if crate::term::stdout_is_tty() {
        Mode::Terminal {
            width: crate::term::size().map_or(200, |(_, c)| usize::from(c)),
        }
    } else {
        Mode::Plain
    };
    let stdout = std::io::stdout();
    let mut renderer = Renderer::new(stdout.lock(), mode);
    let mut br = BufReader::new(resp);
    let mut line = Vec::new();
    loop {
        line.clear();
        if br.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let t = String::from_utf8_lossy(&line);
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        let m: berth_api::image::ProgressMessage =
            serde_json::from_str(t).map_err(|e| err(format!("bad build stream: {e}")))?;
        if let Some(e) = &m.error_detail {
            let code = if e.code == 0 { 1 } else { e.code as i32 };
            if args.quiet {
                super::out(&quiet_out);
            }
            return Err(CmdError::Status {
                message: e.message.clone(),
                code,
            });
        }
        if let Some(aux) = &m.aux {
            if let Some(i) = aux.get("ID").and_then(|v| v.as_str()) {
                id = i.to_string();
            }
        }
        if args.quiet {
            quiet_out.push_str(&m.stream);
            continue;
        }
        // Pull progress of a base image renders as docker's bars on a terminal.
        renderer
            .message(&m)
            .map_err(|e| err(format!("write the build output: {e}")))?;
    }
    if args.quiet {
        super::out(&quiet_out);
    }
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &id).map_err(|e| err(format!("write {}: {e}", f.display())))?;
    }
    Ok(0)
}

/// `berth builder prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
}

/// `berth builder prune`: `POST /build/prune`.
pub fn prune(ctx: &Ctx, args: PruneArgs) -> CmdResult {
    if !args.force {
        eprint!("WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let v: serde_json::Value = ctx
        .client
        .json(Request::new("POST", "/build/prune").flag("all", args.all))?;
    let ids: Vec<&str> = v["CachesDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let mut out = String::new();
    if !ids.is_empty() {
        out.push_str("Deleted build cache objects:\n");
        for i in ids {
            out.push_str(i);
            out.push('\n');
        }
        out.push('\n');
    }
    let bytes = v["SpaceReclaimed"].as_u64().unwrap_or(0);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human(bytes as usize)
    ));
    super::out(&out);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(human(6144), "6.144kB");
        assert_eq!(human(11903), "11.9kB");
        assert_eq!(human(3000), "3kB");
        assert_eq!(human(512), "512B");
        assert_eq!(human(52_434_944), "52.43MB");
    }
}
