//! Volumes: `GET /volumes[/{name}]`, `POST /volumes/create`, `POST /volumes/prune`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::null_default;

/// A volume (moby `volume.Volume`; keys in the generated struct's alphabetical order).
/// `volume create` answers `201` with this body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    /// Creation time, RFC 3339; omitted when unknown.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub created_at: String,
    /// `local`.
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    /// Labels (`{}` when none).
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// Host path of the data (`<root>/volumes/<name>/_data`).
    #[serde(deserialize_with = "null_default")]
    pub mountpoint: String,
    /// Name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Driver options given at create; `null` when none.
    pub options: Option<BTreeMap<String, String>>,
    /// `local` or `global`.
    #[serde(deserialize_with = "null_default")]
    pub scope: String,
    /// Driver status; omitted when empty.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub status: BTreeMap<String, serde_json::Value>,
    /// Usage, only from `GET /system/df`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// Size and reference count of a volume; -1 when not computed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeUsageData {
    /// Containers referencing the volume.
    #[serde(deserialize_with = "null_default")]
    pub ref_count: i64,
    /// Bytes used.
    #[serde(deserialize_with = "null_default")]
    pub size: i64,
}

/// `POST /volumes/create` body: `{"Driver":"local","DriverOpts":{},"Labels":{},"Name":"v"}`;
/// an empty name means an anonymous volume with a generated name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateRequest {
    /// Driver; empty means `local`.
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    /// Driver options (`type`, `device`, `o` for local).
    #[serde(deserialize_with = "null_default")]
    pub driver_opts: BTreeMap<String, String>,
    /// Labels.
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// Name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
}

/// `GET /volumes` response: `{"Volumes":[...],"Warnings":null}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeListResponse {
    /// Volumes (`[]` when none).
    #[serde(deserialize_with = "null_default")]
    pub volumes: Vec<Volume>,
    /// Warnings; `null` when none, as dockerd writes it.
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/prune` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumePruneResponse {
    /// Names of removed volumes.
    #[serde(deserialize_with = "null_default")]
    pub volumes_deleted: Vec<String>,
    /// Bytes freed.
    #[serde(deserialize_with = "null_default")]
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_create_body() {
        let req: VolumeCreateRequest = serde_json::from_str(
            r#"{"Driver":"local","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m"},"Labels":{"a":"b"},"Name":"tv1"}"#,
        )
        .unwrap();
        assert_eq!(req.name, "tv1");
        assert_eq!(req.driver_opts["o"], "size=1m");
        // compose: only Name and Labels.
        let req: VolumeCreateRequest = serde_json::from_str(
            r#"{"Name": "p_data", "Labels": {"com.docker.compose.project": "p", "com.docker.compose.volume": "data"}}"#,
        )
        .unwrap();
        assert_eq!(req.driver, "");
        assert_eq!(req.labels.len(), 2);
        // docker-py passes None through for unset driver options.
        let req: VolumeCreateRequest =
            serde_json::from_str(r#"{"Name":"x","Driver":null,"DriverOpts":null,"Labels":null}"#)
                .unwrap();
        assert_eq!(req.name, "x");
    }

    #[test]
    fn volume_as_dockerd_writes_it() {
        let v = Volume {
            created_at: "2024-05-01T10:00:00Z".into(),
            driver: "local".into(),
            mountpoint: "/var/lib/berth/volumes/tv1/_data".into(),
            name: "tv1".into(),
            scope: "local".into(),
            ..Volume::default()
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"CreatedAt":"2024-05-01T10:00:00Z","Driver":"local","Labels":{},"Mountpoint":"/var/lib/berth/volumes/tv1/_data","Name":"tv1","Options":null,"Scope":"local"}"#
        );
        let list = VolumeListResponse {
            volumes: vec![],
            warnings: None,
        };
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"Volumes":[],"Warnings":null}"#
        );
    }

    #[test]
    fn df_usage_and_round_trip() {
        let text = r#"{"CreatedAt":"2024-05-01T10:00:00Z","Driver":"local","Labels":{"a":"b"},"Mountpoint":"/m","Name":"n","Options":{"o":"x"},"Scope":"local","UsageData":{"RefCount":1,"Size":-1}}"#;
        let v: Volume = serde_json::from_str(text).unwrap();
        assert_eq!(v.usage_data.as_ref().unwrap().size, -1);
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
    }
}
