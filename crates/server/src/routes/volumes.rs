//! `/volumes`: list, create, inspect, remove, prune.
use berth_api::volume::{
    Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse, VolumeUsageData,
};
use berth_daemon::volumes::{self, CreateOptions, ListFilter};
use berth_daemon::{Error, Result};
use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::http::{self as h, Resp};
use crate::router::Ctx;

/// The daemon's record as the API shows it.
pub fn to_api(d: &berth_daemon::Daemon, v: &volumes::Volume) -> Volume {
    Volume {
        created_at: berth_daemon::containers::record::rfc3339_ns(v.created_ns)
            .split('.')
            .next()
            .map(|s| format!("{s}Z"))
            .unwrap_or_default(),
        driver: v.driver.clone(),
        labels: v.labels.clone(),
        mountpoint: d.volumes.mountpoint(&v.name).to_string_lossy().into_owned(),
        name: v.name.clone(),
        options: v.options.clone(),
        scope: "local".into(),
        ..Volume::default()
    }
}

fn bool_filter(f: &berth_api::Filters, key: &str) -> Result<Option<bool>> {
    match f.get(key).first() {
        None => Ok(None),
        Some(&("true" | "1")) => Ok(Some(true)),
        Some(&("false" | "0")) => Ok(Some(false)),
        Some(other) => Err(Error::invalid(format!("invalid filter '{key}={other}'"))),
    }
}

fn list_filter(f: &berth_api::Filters) -> Result<ListFilter> {
    let own = |k: &str| f.get(k).iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Ok(ListFilter {
        dangling: bool_filter(f, "dangling")?,
        names: own("name"),
        drivers: own("driver"),
        labels: own("label"),
        labels_not: own("label!"),
    })
}

pub fn list(c: &Ctx) -> Result<Resp> {
    let f = c.query.filters()?;
    f.validate(berth_api::filters::VOLUME_LIST_FILTERS)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let vols = c.daemon.volumes.list(&list_filter(&f)?)?;
    Ok(h::json(
        StatusCode::OK,
        &VolumeListResponse {
            volumes: vols.iter().map(|v| to_api(&c.daemon, v)).collect(),
            warnings: None,
        },
    ))
}

pub async fn create(c: &Ctx, req: Request<Incoming>) -> Result<Resp> {
    let body = h::read_body(req.into_body(), 1 << 20).await?;
    let r: VolumeCreateRequest = h::parse_json(&body)?;
    let vols = c.daemon.volumes.clone();
    let (v, _) = tokio::task::spawn_blocking(move || {
        vols.create(CreateOptions {
            name: r.name,
            driver: r.driver,
            labels: r.labels,
            options: r.driver_opts,
        })
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))??;
    Ok(h::json(StatusCode::CREATED, &to_api(&c.daemon, &v)))
}

pub fn inspect(c: &Ctx, name: &str) -> Result<Resp> {
    let v = c.daemon.volumes.get(name)?;
    Ok(h::json(StatusCode::OK, &to_api(&c.daemon, &v)))
}

pub async fn remove(c: &Ctx, name: &str) -> Result<Resp> {
    let vols = c.daemon.volumes.clone();
    let force = c.query.bool("force", false);
    let name = name.to_string();
    tokio::task::spawn_blocking(move || vols.remove(&name, force))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    Ok(h::empty(StatusCode::NO_CONTENT))
}

/// Before API 1.42 prune took every unused volume; from 1.42 only anonymous ones unless
/// `all=true`.
pub async fn prune(c: &Ctx) -> Result<Resp> {
    let f = c.query.filters()?;
    f.validate(berth_api::filters::VOLUME_PRUNE_FILTERS)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let all = match bool_filter(&f, "all")? {
        Some(a) => a,
        None => c.version < berth_api::ApiVersion::new(1, 42),
    };
    let lf = list_filter(&f)?;
    let vols = c.daemon.volumes.clone();
    let (names, freed) = tokio::task::spawn_blocking(move || vols.prune(&lf, all))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    Ok(h::json(
        StatusCode::OK,
        &VolumePruneResponse {
            volumes_deleted: names,
            space_reclaimed: freed,
        },
    ))
}

/// Volumes with their usage, for `GET /system/df`.
pub fn usage(d: &berth_daemon::Daemon) -> Result<Vec<Volume>> {
    let vols = d.volumes.list(&ListFilter::default())?;
    Ok(vols
        .iter()
        .map(|v| {
            let (size, refs) = d.volumes.usage(&v.name);
            Volume {
                usage_data: Some(VolumeUsageData {
                    ref_count: refs,
                    size,
                }),
                ..to_api(d, v)
            }
        })
        .collect())
}
