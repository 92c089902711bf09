//! Images: list, inspect, history, delete and prune bodies, and the JSON progress messages of
//! pull / push / build / load / import streams.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::{ContainerConfig, GraphDriverData};
use crate::de::{is_false, is_zero, null_default};
use crate::ZERO_TIME;

/// `GET /images/json` item (moby `types.ImageSummary` at 1.41; keys as the generated struct
/// orders them). The CLI reads `Id`, `RepoTags`, `RepoDigests`, `Created`, `Size`,
/// `SharedSize`, `Containers`; every key is always written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    /// Containers using the image; -1 when not computed (`/images/json` without `/system/df`).
    #[serde(deserialize_with = "null_default")]
    pub containers: i64,
    /// Creation time, Unix seconds.
    #[serde(deserialize_with = "null_default")]
    pub created: i64,
    /// `sha256:<hex>`.
    #[serde(rename = "Id", deserialize_with = "null_default")]
    pub id: String,
    /// Labels of the image config.
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// Parent image ID (local builds), or empty.
    #[serde(rename = "ParentId", deserialize_with = "null_default")]
    pub parent_id: String,
    /// `name@sha256:...`.
    #[serde(deserialize_with = "null_default")]
    pub repo_digests: Vec<String>,
    /// `name:tag`.
    #[serde(deserialize_with = "null_default")]
    pub repo_tags: Vec<String>,
    /// Bytes shared with other images; -1 when not computed.
    #[serde(deserialize_with = "null_default")]
    pub shared_size: i64,
    /// Total bytes of all layers.
    #[serde(deserialize_with = "null_default")]
    pub size: i64,
    /// Same as `Size` (dropped at 1.44).
    #[serde(deserialize_with = "null_default")]
    pub virtual_size: i64,
}

/// `GET /images/{name}/json` (moby `types.ImageInspect` at 1.41).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspect {
    /// `sha256:<hex>`.
    #[serde(rename = "Id", deserialize_with = "null_default")]
    pub id: String,
    /// `name:tag` (`[]` when none).
    #[serde(deserialize_with = "null_default")]
    pub repo_tags: Vec<String>,
    /// `name@sha256:...`.
    #[serde(deserialize_with = "null_default")]
    pub repo_digests: Vec<String>,
    /// Parent image ID, or empty.
    #[serde(deserialize_with = "null_default")]
    pub parent: String,
    /// Commit message.
    #[serde(deserialize_with = "null_default")]
    pub comment: String,
    /// Creation time, RFC 3339 nano.
    #[serde(deserialize_with = "null_default")]
    pub created: String,
    /// Container the image was committed from (legacy builder), or empty.
    #[serde(deserialize_with = "null_default")]
    pub container: String,
    /// That container's config.
    #[serde(deserialize_with = "null_default")]
    pub container_config: ContainerConfig,
    /// Docker version that built the image.
    #[serde(deserialize_with = "null_default")]
    pub docker_version: String,
    /// Author.
    #[serde(deserialize_with = "null_default")]
    pub author: String,
    /// Default configuration of containers from this image.
    #[serde(deserialize_with = "null_default")]
    pub config: ContainerConfig,
    /// `amd64`, `arm64`, ...
    #[serde(deserialize_with = "null_default")]
    pub architecture: String,
    /// CPU variant (`v8`); omitted when empty.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub variant: String,
    /// `linux`.
    #[serde(deserialize_with = "null_default")]
    pub os: String,
    /// OS version; omitted when empty.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// Bytes of all layers.
    #[serde(deserialize_with = "null_default")]
    pub size: i64,
    /// Same as `Size`.
    #[serde(deserialize_with = "null_default")]
    pub virtual_size: i64,
    /// Storage driver data.
    #[serde(deserialize_with = "null_default")]
    pub graph_driver: GraphDriverData,
    /// Layer diff IDs.
    #[serde(rename = "RootFS", deserialize_with = "null_default")]
    pub root_fs: RootFs,
    /// Local metadata.
    #[serde(deserialize_with = "null_default")]
    pub metadata: ImageMetadata,
}

/// `RootFS`: `{"Type":"layers","Layers":["sha256:..."]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RootFs {
    /// `layers`.
    #[serde(deserialize_with = "null_default")]
    pub r#type: String,
    /// Diff IDs, bottom first; omitted when empty.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub layers: Vec<String>,
}

/// `Metadata`: `{"LastTagTime":"..."}`, [`ZERO_TIME`] when never tagged locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageMetadata {
    /// RFC 3339 nano.
    #[serde(deserialize_with = "null_default")]
    pub last_tag_time: String,
}

impl Default for ImageMetadata {
    fn default() -> Self {
        ImageMetadata {
            last_tag_time: ZERO_TIME.into(),
        }
    }
}

/// `GET /images/{name}/history` item, newest first. Layers not from a local build have `Id`
/// `<missing>`; `Tags` is `null` for all but the entries with tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItem {
    /// Image ID or `<missing>`.
    #[serde(rename = "Id", deserialize_with = "null_default")]
    pub id: String,
    /// Unix seconds.
    #[serde(deserialize_with = "null_default")]
    pub created: i64,
    /// The Dockerfile step (`/bin/sh -c #(nop)  CMD ["sh"]`).
    #[serde(deserialize_with = "null_default")]
    pub created_by: String,
    /// Tags of this image ID.
    pub tags: Option<Vec<String>>,
    /// Layer bytes (0 for empty layers).
    #[serde(deserialize_with = "null_default")]
    pub size: i64,
    /// Comment.
    #[serde(deserialize_with = "null_default")]
    pub comment: String,
}

/// `DELETE /images/{name}` and image prune items: `{"Untagged":"busybox:latest"}` or
/// `{"Deleted":"sha256:..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageDeleteItem {
    /// A reference removed.
    Untagged(String),
    /// An image (or layer) ID removed.
    Deleted(String),
}

/// `POST /images/prune` response. `ImagesDeleted` is `null` when nothing was removed (dockerd).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImagePruneResponse {
    /// What was untagged and deleted.
    pub images_deleted: Option<Vec<ImageDeleteItem>>,
    /// Bytes freed.
    #[serde(deserialize_with = "null_default")]
    pub space_reclaimed: u64,
}

/// `POST /build/prune` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BuildCachePruneResponse {
    /// Cache record IDs removed.
    #[serde(deserialize_with = "null_default")]
    pub caches_deleted: Vec<String>,
    /// Bytes freed.
    #[serde(deserialize_with = "null_default")]
    pub space_reclaimed: u64,
}

/// One line of a JSON progress stream (moby `jsonmessage.JSONMessage`), written one object per
/// line and flushed. Every field is omitted when empty. The CLI:
/// - aborts on `errorDetail` only (the bare `error` is for old clients): use
///   [`ProgressMessage::error`], which fills both;
/// - never prints `aux`, passing it to a callback (build `{"ID":"sha256:..."}` for `-q` and
///   `--iidfile`, push `{"Tag","Digest","Size"}`);
/// - on a TTY redraws lines by `id` using `progressDetail`; off a TTY skips messages whose
///   `progressDetail` is non-empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressMessage {
    /// Build output, printed verbatim (include the `\n`).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub stream: String,
    /// Status line (`Pulling fs layer`, `Digest: sha256:...`).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub status: String,
    /// Bytes done and total; `Some(default)` writes `"progressDetail":{}`.
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    /// Pre-rendered bar (deprecated, still sent).
    #[serde(
        rename = "progress",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub progress: String,
    /// Line key (short layer ID).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    /// Source (image) of the message.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub from: String,
    /// Unix seconds.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(
        rename = "timeNano",
        deserialize_with = "null_default",
        skip_serializing_if = "is_zero"
    )]
    pub time_nano: i64,
    /// The error that ends the stream.
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    /// Deprecated copy of `errorDetail.message`.
    #[serde(
        rename = "error",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub error: String,
    /// Side-channel data for the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl ProgressMessage {
    /// `{"status":"..."}`.
    pub fn status(status: impl Into<String>) -> Self {
        ProgressMessage {
            status: status.into(),
            ..Self::default()
        }
    }

    /// `{"status":"...","progressDetail":{},"id":"..."}`: a per-layer line.
    pub fn layer(id: impl Into<String>, status: impl Into<String>) -> Self {
        ProgressMessage {
            status: status.into(),
            progress_detail: Some(ProgressDetail::default()),
            id: id.into(),
            ..Self::default()
        }
    }

    /// `{"stream":"..."}`: build output.
    pub fn stream(text: impl Into<String>) -> Self {
        ProgressMessage {
            stream: text.into(),
            ..Self::default()
        }
    }

    /// `{"errorDetail":{"code":c,"message":m},"error":m}`; build uses `code` as the CLI's exit
    /// status (0 → 1), so pass the failed step's exit code there and 0 otherwise.
    pub fn error(code: i64, message: impl Into<String>) -> Self {
        let message = message.into();
        ProgressMessage {
            error_detail: Some(ErrorDetail {
                code,
                message: message.clone(),
            }),
            error: message,
            ..Self::default()
        }
    }

    /// `{"progressDetail":{},"aux":...}` as push writes its digest; `{"aux":...}` otherwise.
    pub fn aux(value: serde_json::Value) -> Self {
        ProgressMessage {
            aux: Some(value),
            ..Self::default()
        }
    }
}

/// `progressDetail`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressDetail {
    /// Units done.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub current: i64,
    /// Units in all.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub total: i64,
    /// Start, Unix seconds.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub start: i64,
    /// Hide the counts.
    #[serde(
        rename = "hidecounts",
        deserialize_with = "null_default",
        skip_serializing_if = "is_false"
    )]
    pub hide_counts: bool,
    /// Unit name (bytes when empty).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub units: String,
}

/// `errorDetail`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    /// Exit code of a failed build step; omitted when 0.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub code: i64,
    /// Message.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{compact, fixture};

    #[test]
    fn inspect_matches_dockerd_byte_for_byte() {
        let text = fixture!("image_inspect_busybox.json");
        let img: ImageInspect = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&img).unwrap(), compact(text));
        assert_eq!(img.config.cmd, Some(vec!["sh".into()]));
        assert_eq!(img.config.labels, None);
        assert_eq!(img.root_fs.layers.len(), 1);
    }

    #[test]
    fn default_inspect_has_zero_last_tag_time() {
        let v = serde_json::to_value(ImageInspect::default()).unwrap();
        assert_eq!(v["Metadata"]["LastTagTime"], ZERO_TIME);
        assert!(v.get("Variant").is_none() && v.get("OsVersion").is_none());
        assert_eq!(v["RootFS"], serde_json::json!({"Type": ""}));
    }

    #[test]
    fn summary_writes_every_key() {
        let s = ImageSummary {
            containers: -1,
            created: 1670462420,
            id: "sha256:beae".into(),
            repo_tags: vec!["busybox:latest".into()],
            shared_size: -1,
            size: 4864055,
            virtual_size: 4864055,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"Containers":-1,"Created":1670462420,"Id":"sha256:beae","Labels":{},"ParentId":"","RepoDigests":[],"RepoTags":["busybox:latest"],"SharedSize":-1,"Size":4864055,"VirtualSize":4864055}"#
        );
        // dockerd writes null labels and tags for some images; they read as empty.
        let s: ImageSummary =
            serde_json::from_str(r#"{"Id":"x","Labels":null,"RepoTags":null,"RepoDigests":null}"#)
                .unwrap();
        assert!(s.labels.is_empty() && s.repo_tags.is_empty());
    }

    #[test]
    fn history_delete_prune() {
        let h = vec![
            HistoryItem {
                id: "sha256:beae".into(),
                created: 1670462420,
                created_by: "/bin/sh -c #(nop)  CMD [\"sh\"]".into(),
                tags: Some(vec!["busybox:latest".into()]),
                size: 0,
                comment: String::new(),
            },
            HistoryItem {
                id: "<missing>".into(),
                created: 1670462420,
                created_by: "/bin/sh -c #(nop) ADD file:abc in / ".into(),
                tags: None,
                size: 4864055,
                comment: String::new(),
            },
        ];
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"[{"Id":"sha256:beae","Created":1670462420,"CreatedBy":"/bin/sh -c #(nop)  CMD [\"sh\"]","Tags":["busybox:latest"],"Size":0,"Comment":""},{"Id":"<missing>","Created":1670462420,"CreatedBy":"/bin/sh -c #(nop) ADD file:abc in / ","Tags":null,"Size":4864055,"Comment":""}]"#
        );

        let del = vec![
            ImageDeleteItem::Untagged("busybox:latest".into()),
            ImageDeleteItem::Untagged("busybox@sha256:5acb".into()),
            ImageDeleteItem::Deleted("sha256:beae".into()),
        ];
        let text = r#"[{"Untagged":"busybox:latest"},{"Untagged":"busybox@sha256:5acb"},{"Deleted":"sha256:beae"}]"#;
        assert_eq!(serde_json::to_string(&del).unwrap(), text);
        assert_eq!(
            serde_json::from_str::<Vec<ImageDeleteItem>>(text).unwrap(),
            del
        );

        assert_eq!(
            serde_json::to_string(&ImagePruneResponse::default()).unwrap(),
            r#"{"ImagesDeleted":null,"SpaceReclaimed":0}"#
        );
        let p = ImagePruneResponse {
            images_deleted: Some(vec![ImageDeleteItem::Deleted("sha256:1".into())]),
            space_reclaimed: 10,
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"ImagesDeleted":[{"Deleted":"sha256:1"}],"SpaceReclaimed":10}"#
        );
        assert_eq!(
            serde_json::to_string(&BuildCachePruneResponse::default()).unwrap(),
            r#"{"CachesDeleted":[],"SpaceReclaimed":0}"#
        );
    }

    #[test]
    fn progress_lines_as_dockerd_writes_them() {
        // Observed pull / push / build lines: each re-serializes to the same bytes.
        for line in [
            r#"{"status":"Pulling from test/big","id":"1"}"#,
            r#"{"status":"Already exists","progressDetail":{},"id":"852e7b5eab76"}"#,
            r#"{"status":"Downloading","progressDetail":{"current":36445,"total":3146843},"progress":"[>                                                  ]  36.45kB/3.147MB","id":"d706f5b2e99a"}"#,
            r#"{"status":"Digest: sha256:2ef2"}"#,
            r#"{"stream":"Step 1/8 : FROM busybox"}"#,
            r#"{"stream":"\n"}"#,
            r#"{"errorDetail":{"code":7,"message":"The command '/bin/sh -c exit 7' returned a non-zero code: 7"},"error":"The command '/bin/sh -c exit 7' returned a non-zero code: 7"}"#,
        ] {
            let m: ProgressMessage = serde_json::from_str(line).unwrap();
            assert_eq!(serde_json::to_string(&m).unwrap(), line);
        }
        assert_eq!(
            serde_json::to_string(&ProgressMessage::layer("852e7b5eab76", "Already exists"))
                .unwrap(),
            r#"{"status":"Already exists","progressDetail":{},"id":"852e7b5eab76"}"#
        );
        assert_eq!(
            serde_json::to_string(&ProgressMessage::error(0, "manifest unknown")).unwrap(),
            r#"{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#
        );
        assert_eq!(
            serde_json::to_string(&ProgressMessage::stream(
                "Successfully built 63eee2d9cafe\n"
            ))
            .unwrap(),
            r#"{"stream":"Successfully built 63eee2d9cafe\n"}"#
        );
        // aux is passed through as JSON (build ID, push digest).
        let aux = ProgressMessage::aux(serde_json::json!({"ID": "sha256:63ee"}));
        assert_eq!(
            serde_json::to_string(&aux).unwrap(),
            r#"{"aux":{"ID":"sha256:63ee"}}"#
        );
        let push: ProgressMessage = serde_json::from_str(
            r#"{"progressDetail":{},"aux":{"Tag":"1","Digest":"sha256:2ef2","Size":739}}"#,
        )
        .unwrap();
        assert_eq!(push.aux.unwrap()["Size"], 739);
        assert_eq!(push.progress_detail, Some(ProgressDetail::default()));
    }
}
