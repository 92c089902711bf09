//! Manifests, indexes and descriptors in the OCI and Docker schema2 media types, and the small
//! helpers around them (chain IDs, compression by media type or magic bytes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::reference::Digest;

/// OCI image manifest.
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const MEDIA_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema2 manifest.
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema2 manifest list.
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer (what `docker save` wrote).
pub const MEDIA_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker gzip layer.
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Annotation naming a manifest in an OCI layout's index (a tag, or a full reference).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation containerd and Docker 25+ put on index entries with the full image name.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// Errors of manifest parsing.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the expected shape.
    #[error("invalid manifest: {0}")]
    Invalid(String),
    /// A media type Berth does not handle.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
}

/// A layer's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// From a layer media type, or `None` if the media type is not a layer type Berth knows.
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        match mt {
            MEDIA_OCI_LAYER
            | MEDIA_DOCKER_LAYER
            | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Some(Compression::None),
            MEDIA_OCI_LAYER_GZIP
            | MEDIA_DOCKER_LAYER_GZIP
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => {
                Some(Compression::Gzip)
            }
            MEDIA_OCI_LAYER_ZSTD | "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }

    /// From the first bytes of a stream (gzip `1f 8b`, zstd `28 b5 2f fd`, else tar).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type for this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => MEDIA_OCI_LAYER,
            Compression::Gzip => MEDIA_OCI_LAYER_GZIP,
            Compression::Zstd => MEDIA_OCI_LAYER_ZSTD,
        }
    }
}

/// The platform of a manifest in an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// CPU architecture (`amd64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the content.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// For index entries: the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor without annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// An image manifest, OCI or Docker schema2 (the shapes are the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type (optional in OCI, required in Docker schema2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses a manifest and checks its media types.
    pub fn parse(data: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest =
            serde_json::from_slice(data).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        if m.schema_version != 2 {
            return Err(ManifestError::Invalid(format!(
                "schema version {}",
                m.schema_version
            )));
        }
        match m.media_type.as_deref() {
            None | Some(MEDIA_OCI_MANIFEST) | Some(MEDIA_DOCKER_MANIFEST) => {}
            Some(other) => return Err(ManifestError::UnsupportedMediaType(other.to_owned())),
        }
        match m.config.media_type.as_str() {
            MEDIA_OCI_CONFIG | MEDIA_DOCKER_CONFIG => {}
            other => return Err(ManifestError::UnsupportedMediaType(other.to_owned())),
        }
        for l in &m.layers {
            if Compression::from_media_type(&l.media_type).is_none() {
                return Err(ManifestError::UnsupportedMediaType(l.media_type.clone()));
            }
        }
        Ok(m)
    }

    /// A new OCI manifest.
    pub fn oci(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_OCI_MANIFEST.to_owned()),
            config,
            layers,
            annotations: BTreeMap::new(),
        }
    }

    /// Canonical JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// Parses an index or manifest list.
    pub fn parse(data: &[u8]) -> Result<Index, ManifestError> {
        let i: Index =
            serde_json::from_slice(data).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        if i.schema_version != 2 {
            return Err(ManifestError::Invalid(format!(
                "schema version {}",
                i.schema_version
            )));
        }
        Ok(i)
    }
}

/// The chain IDs of a layer stack (bottom first), as the OCI spec defines them:
/// `chain(L0) = diff(L0)`, `chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => {
                let mut h = Sha256::new();
                h.update(format!("{prev} {d}").as_bytes());
                Digest::from_sha256(h.finalize().into())
            }
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_schemas() {
        let d = Digest::of(b"x");
        let docker = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_DOCKER_MANIFEST}","config":{{"mediaType":"{MEDIA_DOCKER_CONFIG}","size":1,"digest":"{d}"}},"layers":[{{"mediaType":"{MEDIA_DOCKER_LAYER_GZIP}","size":3,"digest":"{d}"}}]}}"#
        );
        let m = Manifest::parse(docker.as_bytes()).unwrap();
        assert_eq!(
            Compression::from_media_type(&m.layers[0].media_type),
            Some(Compression::Gzip)
        );
        let oci = Manifest::oci(
            Descriptor::new(MEDIA_OCI_CONFIG, d.clone(), 1),
            vec![Descriptor::new(MEDIA_OCI_LAYER_ZSTD, d.clone(), 2)],
        );
        assert_eq!(Manifest::parse(&oci.to_bytes()).unwrap(), oci);
        let bad = docker.replace(MEDIA_DOCKER_LAYER_GZIP, "application/x-foo");
        assert!(matches!(
            Manifest::parse(bad.as_bytes()),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn chain_ids_match_the_spec() {
        // Values from the OCI image-spec's config.md example.
        let diffs: Vec<Digest> = [
            "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1",
            "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let c = chain_ids(&diffs);
        assert_eq!(c[0], diffs[0]);
        let mut h = Sha256::new();
        h.update(format!("{} {}", diffs[0], diffs[1]));
        assert_eq!(c[1], Digest::from_sha256(h.finalize().into()));
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"foo"), Compression::None);
    }
}
