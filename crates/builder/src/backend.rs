//! What the evaluator needs from the engine, as one narrow trait the daemon implements: images
//! by name, step containers (created from an image and a config, run with their output
//! streamed, their root opened for COPY), commits, a persistent cache and tags.

use std::os::fd::BorrowedFd;

use serde_json::Value;

/// An engine failure, with its message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    /// What went wrong.
    pub message: String,
    /// The thing asked for does not exist (an unknown base image).
    pub not_found: bool,
}

impl BackendError {
    /// A failure.
    pub fn new(message: impl Into<String>) -> BackendError {
        BackendError {
            message: message.into(),
            not_found: false,
        }
    }
}

/// What a build reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Text for the user: `Step n/m : …`, ` ---> id`, a RUN step's output.
    Stream(String),
    /// The final image's ID, just before `Successfully built` (the API's `aux` message).
    Built(String),
    /// A pull's progress message (Docker's JSON message) while a base image is fetched.
    Progress(Value),
}

/// The sink for [`Event`]s.
pub type Out<'a> = &'a mut dyn FnMut(Event);

/// An image as the builder sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// `sha256:…`.
    pub id: String,
    /// The image's runtime config (the config blob's `config` object, Docker's keys).
    pub config: Value,
}

/// The history entry a commit appends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct History {
    /// `created_by`.
    pub created_by: String,
    /// The step made no layer.
    pub empty_layer: bool,
    /// RFC 3339 time of the image and the entry.
    pub created: String,
    /// `MAINTAINER`: the image's author.
    pub author: Option<String>,
}

/// A step container to create.
#[derive(Debug, Clone, PartialEq)]
pub struct StepContainer<'a> {
    /// The image it starts from (`None`: an empty filesystem).
    pub parent: Option<&'a str>,
    /// Its config (Docker's container config keys: Cmd, Entrypoint, Env, User, WorkingDir…).
    pub config: &'a Value,
    /// Network mode for RUN (`default`, `none`, `host`, a network name).
    pub network: Option<&'a str>,
}

/// The engine below a build. All methods block.
pub trait BuildBackend {
    /// The image `name`, pulled when missing (or always with `pull`), pull progress to `out`.
    fn image(&mut self, name: &str, pull: bool, out: Out<'_>) -> Result<ImageInfo, BackendError>;

    /// Creates (does not start) a step container; its ID.
    fn create(&mut self, c: &StepContainer<'_>) -> Result<String, BackendError>;

    /// Starts the container, streams its output to `out` and waits: the exit code.
    fn run(&mut self, container: &str, out: Out<'_>) -> Result<i64, BackendError>;

    /// Calls `f` with the container's root filesystem opened read-write.
    fn with_root(
        &mut self,
        container: &str,
        f: &mut dyn FnMut(BorrowedFd<'_>) -> Result<(), crate::BuildError>,
    ) -> Result<(), crate::BuildError>;

    /// Calls `f` with the image's filesystem opened read-only (COPY --from).
    fn with_image_root(
        &mut self,
        image: &str,
        f: &mut dyn FnMut(BorrowedFd<'_>) -> Result<(), crate::BuildError>,
    ) -> Result<(), crate::BuildError>;

    /// A new image: `parent`'s layers plus the container's changes (none without a container),
    /// `config` as its runtime config, `history` appended. With `epoch`, file times in the new
    /// layer are clamped to it. The image ID.
    fn commit(
        &mut self,
        container: Option<&str>,
        parent: Option<&str>,
        config: &Value,
        history: &History,
        epoch: Option<i64>,
    ) -> Result<String, BackendError>;

    /// Removes a step container (and its filesystem).
    fn remove(&mut self, container: &str) -> Result<(), BackendError>;

    /// The image a cache key points at, if it still exists.
    fn cache_get(&mut self, key: &str) -> Option<String>;

    /// Records a cache key.
    fn cache_put(&mut self, key: &str, image: &str) -> Result<(), BackendError>;

    /// Tags `image` as `name`; the name as Docker prints it (`x:latest`).
    fn tag(&mut self, image: &str, name: &str) -> Result<String, BackendError>;
}
