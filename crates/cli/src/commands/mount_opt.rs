//! `--mount` values as the docker CLI parses them (`opts.MountOpt`): comma-separated
//! `key=value` fields (CSV quoting allowed), `type` defaulting to `volume`, bare booleans
//! (`readonly`, `volume-nocopy`, `bind-nonrecursive`), option groups created on first use, and
//! the CLI's checks (`target is required`, options of another mount type).

use berth_api::container::{BindOptions, Mount, TmpfsOptions, VolumeDriverConfig, VolumeOptions};

use crate::units;

/// `--mount` parse errors, worded as the docker CLI words them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountOptError {
    /// Anything wrong with the value.
    #[error("invalid argument \"{value}\" for \"--mount\" flag: {reason}")]
    Invalid {
        /// The whole flag value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// Splits a CSV record (Go's `encoding/csv` with one line): `"` quotes fields, `""` is a quote.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' => return Err("parse error: bare \" in non-quoted-field".into()),
            ',' => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            c => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("parse error: extraneous or missing \" in quoted-field".into());
    }
    out.push(cur);
    Ok(out)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parses one `--mount` value. `cwd` makes `./x` bind sources absolute, as the CLI does.
pub fn parse(value: &str, cwd: &std::path::Path) -> Result<Mount, MountOptError> {
    let err = |reason: String| MountOptError::Invalid {
        value: value.to_owned(),
        reason,
    };
    let mut m = Mount {
        r#type: "volume".into(),
        ..Mount::default()
    };
    let (mut bind, mut vol, mut tmpfs) = (
        None::<BindOptions>,
        None::<VolumeOptions>,
        None::<TmpfsOptions>,
    );
    let vol_opts = |vol: &mut Option<VolumeOptions>| -> VolumeOptions {
        let mut v = vol.take().unwrap_or_default();
        if v.driver_config.is_none() {
            v.driver_config = Some(VolumeDriverConfig::default());
        }
        v
    };
    for field in csv_fields(value).map_err(err)? {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_owned())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let flag = |val: &Option<String>| -> Result<bool, MountOptError> {
            match val {
                None => Ok(true),
                Some(v) => {
                    parse_bool(v).ok_or_else(|| err(format!("invalid value for {key}: {v}")))
                }
            }
        };
        match key.as_str() {
            "readonly" | "ro" => m.read_only = flag(&val)?,
            "volume-nocopy" => {
                let mut v = vol_opts(&mut vol);
                v.no_copy = flag(&val)?;
                vol = Some(v);
            }
            "bind-nonrecursive" => {
                let mut b = bind.take().unwrap_or_default();
                b.non_recursive = flag(&val)?;
                bind = Some(b);
            }
            _ => {
                let Some(val) = val else {
                    return Err(err(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )));
                };
                match key.as_str() {
                    "type" => m.r#type = val.to_ascii_lowercase(),
                    "source" | "src" => {
                        m.source = if val == "." || val.starts_with("./") || val.starts_with("../")
                        {
                            super::abs_path(cwd, &val)
                        } else {
                            val
                        };
                    }
                    "target" | "dst" | "destination" => m.target = val,
                    "consistency" => m.consistency = val.to_ascii_lowercase(),
                    "bind-propagation" => {
                        let mut b = bind.take().unwrap_or_default();
                        b.propagation = val.to_ascii_lowercase();
                        bind = Some(b);
                    }
                    "volume-driver" => {
                        let mut v = vol_opts(&mut vol);
                        if let Some(d) = v.driver_config.as_mut() {
                            d.name = val;
                        }
                        vol = Some(v);
                    }
                    "volume-label" => {
                        let mut v = vol_opts(&mut vol);
                        let (k, lv) = val.split_once('=').unwrap_or((&val, ""));
                        v.labels.insert(k.to_owned(), lv.to_owned());
                        vol = Some(v);
                    }
                    "volume-opt" => {
                        let mut v = vol_opts(&mut vol);
                        let (k, ov) = val
                            .split_once('=')
                            .ok_or_else(|| err(format!("invalid volume-opt '{val}'")))?;
                        if let Some(d) = v.driver_config.as_mut() {
                            d.options.insert(k.to_owned(), ov.to_owned());
                        }
                        vol = Some(v);
                    }
                    "tmpfs-size" => {
                        let mut t = tmpfs.take().unwrap_or_default();
                        t.size_bytes = units::ram_in_bytes(&val)
                            .map_err(|_| err(format!("invalid value for {key}: {val}")))?;
                        tmpfs = Some(t);
                    }
                    "tmpfs-mode" => {
                        let mut t = tmpfs.take().unwrap_or_default();
                        t.mode = u32::from_str_radix(&val, 8)
                            .map_err(|_| err(format!("invalid value for {key}: {val}")))?;
                        tmpfs = Some(t);
                    }
                    _ => return Err(err(format!("unexpected key '{key}' in '{field}'"))),
                }
            }
        }
    }
    if m.r#type.is_empty() {
        return Err(err("type is required".into()));
    }
    if m.target.is_empty() {
        return Err(err("target is required".into()));
    }
    if vol.is_some() && m.r#type != "volume" {
        return Err(err(format!(
            "cannot mix 'volume-*' options with mount type '{}'",
            m.r#type
        )));
    }
    if bind.is_some() && m.r#type != "bind" {
        return Err(err(format!(
            "cannot mix 'bind-*' options with mount type '{}'",
            m.r#type
        )));
    }
    if tmpfs.is_some() && m.r#type != "tmpfs" {
        return Err(err(format!(
            "cannot mix 'tmpfs-*' options with mount type '{}'",
            m.r#type
        )));
    }
    m.bind_options = bind;
    m.volume_options = vol;
    m.tmpfs_options = tmpfs;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn p(s: &str) -> Mount {
        parse(s, Path::new("/work")).unwrap()
    }

    #[test]
    fn volume_by_default_with_options() {
        let m = p("src=data,dst=/d,ro,volume-nocopy,volume-label=a=b,volume-driver=local,volume-opt=type=tmpfs");
        assert_eq!(m.r#type, "volume");
        assert_eq!(
            (m.source.as_str(), m.target.as_str(), m.read_only),
            ("data", "/d", true)
        );
        let v = m.volume_options.unwrap();
        assert!(v.no_copy);
        assert_eq!(v.labels["a"], "b");
        let d = v.driver_config.unwrap();
        assert_eq!(d.name, "local");
        assert_eq!(d.options["type"], "tmpfs");
        // Serialized as moby's omitempty fields.
        let m = p("type=volume,target=/d,volume-nocopy");
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"Type":"volume","Target":"/d","VolumeOptions":{"NoCopy":true,"DriverConfig":{}}}"#
        );
    }

    #[test]
    fn bind_and_tmpfs() {
        let m = p("type=bind,source=./x,destination=/x,bind-propagation=rshared,bind-nonrecursive,readonly=false");
        assert_eq!(m.source, "/work/x");
        assert!(!m.read_only);
        let b = m.bind_options.unwrap();
        assert_eq!(b.propagation, "rshared");
        assert!(b.non_recursive);
        let m = p("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770");
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (1 << 20, 0o1770));
        let m = p(r#""type=bind","src=/a,b",target=/c"#);
        assert_eq!(m.source, "/a,b");
    }

    #[test]
    fn errors_like_docker() {
        let e = |s: &str| parse(s, Path::new("/")).unwrap_err().to_string();
        assert_eq!(
            e("type=volume,src=x"),
            "invalid argument \"type=volume,src=x\" for \"--mount\" flag: target is required"
        );
        assert!(e("type=bind,dst=/x,volume-nocopy")
            .ends_with("cannot mix 'volume-*' options with mount type 'bind'"));
        assert!(e("dst=/x,bogus=1").ends_with("unexpected key 'bogus' in 'bogus=1'"));
        assert!(e("dst=/x,src").ends_with("invalid field 'src' must be a key=value pair"));
        assert!(e("dst=/x,ro=maybe").ends_with("invalid value for ro: maybe"));
    }
}
