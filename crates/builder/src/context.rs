//! The build context: the tar a client sends, unpacked below a private temp directory with the
//! image crate's hostile-archive-proof extractor, `.dockerignore` applied (the Dockerfile and
//! `.dockerignore` are read first, as Docker does, even when they are ignored).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::ignore::{clean, Ignore};
use crate::BuildError;

/// An unpacked context; removed when dropped.
#[derive(Debug)]
pub struct Context {
    dir: tempfile::TempDir,
    root: std::fs::File,
    ignore: Ignore,
}

impl Context {
    /// Unpacks the tar stream `r` (plain, gzip or zstd) into a new directory below `parent`.
    pub fn from_tar<R: std::io::Read>(r: R, parent: &Path) -> Result<Context, BuildError> {
        std::fs::create_dir_all(parent)
            .map_err(|e| BuildError::Backend(format!("{}: {e}", parent.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("berth-build-")
            .tempdir_in(parent)
            .map_err(|e| BuildError::Backend(format!("context directory: {e}")))?;
        let root = std::fs::File::open(dir.path())
            .map_err(|e| BuildError::Backend(format!("context directory: {e}")))?;
        berth_image::copy::extract(
            root.as_fd(),
            "/",
            r,
            berth_image::copy::ExtractOptions::default(),
        )
        .map_err(|e| BuildError::Invalid(format!("error reading the build context: {e}")))?;
        let ignore = match berth_image::copy::read_file(root.as_fd(), "/.dockerignore", 1 << 20) {
            Ok(b) => Ignore::parse(&String::from_utf8_lossy(&b))
                .map_err(|e| BuildError::Invalid(format!(".dockerignore: {e}")))?,
            Err(_) => Ignore::default(),
        };
        Ok(Context { dir, root, ignore })
    }

    /// The context's root directory.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Its path on the host.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Reads the Dockerfile at `name` (relative to the context; symlinks resolved inside it).
    pub fn dockerfile(&self, name: &str) -> Result<String, BuildError> {
        let rel = clean(name);
        let b = berth_image::copy::read_file(self.root.as_fd(), &format!("/{rel}"), 16 << 20)
            .map_err(|_| {
                BuildError::NotFound(format!("Cannot locate specified Dockerfile: {name}"))
            })?;
        String::from_utf8(b)
            .map_err(|_| BuildError::Invalid(format!("the Dockerfile {name} is not UTF-8 text")))
    }

    /// Removes what `.dockerignore` excludes (after the Dockerfile was read).
    pub fn apply_ignore(&self) -> Result<(), BuildError> {
        if self.ignore.is_empty() {
            return Ok(());
        }
        prune(self.dir.path(), "", &self.ignore)
            .map_err(|e| BuildError::Backend(format!("applying .dockerignore: {e}")))
    }
}

fn prune(dir: &Path, rel: &str, ig: &Ignore) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let p = e.path();
        // Never follows a symlink: file_type() is the entry's own type.
        let ft = e.file_type()?;
        if ig.excluded(&r) {
            if ft.is_dir() && ig.has_exceptions_below(&r) {
                prune(&p, &r, ig)?;
                if std::fs::read_dir(&p)?.next().is_none() {
                    std::fs::remove_dir(&p)?;
                }
            } else if ft.is_dir() {
                std::fs::remove_dir_all(&p)?;
            } else {
                std::fs::remove_file(&p)?;
            }
        } else if ft.is_dir() {
            prune(&p, &r, ig)?;
        }
    }
    Ok(())
}
