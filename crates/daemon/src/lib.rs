//! berth-daemon: the services behind berthd's API, with no HTTP in them.
//!
//! Module map:
//! - [`apparmor`]: the default AppArmor profile, its loading, a container's profile choice.
//! - [`build`]: [`BuildService`], `docker build` through the builder crate's backend trait.
//! - [`config`]: [`DaemonConfig`] (paths, defaults).
//! - [`error`]: [`Error`] with an [`ErrorKind`] the server maps to HTTP statuses in one place.
//! - [`events`]: the [`Events`] bus behind `/events`.
//! - [`images`]: [`ImageService`], the image crate's stores as Docker's image objects.
//! - [`containers`]: [`ContainerService`]: records on disk, names, the lifecycle through one
//!   `berth-shim` per container, `ps`/`inspect`/`logs`, live restore.
//! - [`volumes`]: [`VolumeService`], the `local` driver's volumes and who uses them.
//! - [`networks`]: [`NetworkService`], networks and the sandboxes of running containers.
//! - [`userns`]: `--userns-remap`: the remapped user's ranges, refusals, ownership on disk.
//!
//! The daemon never forks container processes and does not link the runtime's container code:
//! it writes `config.json` and a shim task, and talks to shims over their sockets.
#![forbid(unsafe_code)]

pub mod apparmor;
pub mod build;
pub mod config;
pub mod containers;
pub mod error;
pub mod events;
mod fsutil;
pub mod images;
pub mod networks;
pub mod userns;
pub mod volumes;

use std::sync::Arc;

pub use build::BuildService;
pub use config::{DaemonConfig, NetConfig, RegistrySettings};
pub use containers::ContainerService;
pub use error::{Error, ErrorKind, Result};
pub use events::Events;
pub use images::ImageService;
pub use networks::NetworkService;
pub use volumes::VolumeService;

/// The daemon's services, wired together. Routes take the one they need.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub config: Arc<DaemonConfig>,
    pub images: Arc<ImageService>,
    pub containers: Arc<ContainerService>,
    pub volumes: Arc<VolumeService>,
    pub networks: Arc<NetworkService>,
    pub builds: Arc<BuildService>,
    pub events: Events,
}

impl Daemon {
    /// Open the data root (creating it, mode 0710) and restore containers.
    pub fn open(config: DaemonConfig) -> Result<Daemon> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&config.data_root)?;
        std::fs::set_permissions(&config.data_root, std::fs::Permissions::from_mode(0o710))?;
        std::fs::create_dir_all(&config.exec_root)?;
        install_init(&config.init_path())?;
        let config = Arc::new(config);
        let events = Events::default();
        let images = Arc::new(ImageService::open(
            &config.data_root,
            &config.registry,
            events.clone(),
        )?);
        let volumes = Arc::new(VolumeService::open(&config.data_root, events.clone())?);
        if let Some(r) = &config.userns_remap {
            volumes.set_owner(r.root_uid(), r.root_gid());
        }
        let networks = NetworkService::open(config.clone(), events.clone())?;
        let containers = ContainerService::open(
            config.clone(),
            images.clone(),
            volumes.clone(),
            networks.clone(),
            events.clone(),
        )?;
        let builds = BuildService::open(&config.data_root, images.clone(), containers.clone())?;
        userns::secure_roots(&config)?;
        Ok(Daemon {
            builds,
            config,
            images,
            containers,
            volumes,
            networks,
            events,
        })
    }
}

/// `berth-init`, built static by the build script (see `init/main.rs`).
const INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// Put `berth-init` where containers started with `--init` bind-mount it from (replaced when
/// this daemon carries a different one; written to a temp file and renamed, so a running
/// container's mount keeps the old inode).
fn install_init(path: &std::path::Path) -> Result<()> {
    if std::fs::read(path).is_ok_and(|b| b == INIT_BINARY) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    fsutil::write_atomic(
        path,
        INIT_BINARY,
        fsutil::Atomic {
            mode: Some(0o755),
            sync: false,
        },
    )
}
