//! Human units as the docker CLI prints and parses them (go-units): durations ("5 seconds",
//! "About a minute"), decimal sizes with 3 significant digits ("1.98MB"), binary byte amounts in
//! flags (`--memory 64m`), Go-style `%.Ng`, timestamps (`--since`) and Unix time formatting.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unit errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitsError {
    /// `--memory` and friends.
    #[error("invalid size: '{0}'")]
    Size(String),
    /// `--since`, `--until`.
    #[error("failed to parse value as time or duration: \"{0}\"")]
    Time(String),
    /// `--cpus`.
    #[error(
        "invalid argument \"{0}\" for \"--cpus\" flag: failed to parse {0} as a rational number"
    )]
    Cpus(String),
}

/// go-units `HumanDuration` for whole seconds.
pub fn human_duration(secs: i64) -> String {
    let seconds = secs;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // d.Round(time.Hour).Hours()
    let hours = (seconds + 1800) / 3600;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", seconds / 3600 / 24 / 365)
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// "5 seconds ago" for a Unix timestamp.
pub fn ago(created: i64) -> String {
    format!("{} ago", human_duration(now_unix() - created))
}

/// Go's `strconv.FormatFloat(v, 'g', prec, 64)`: shortest of %e/%f with `prec` significant
/// digits, trailing zeros removed, exponent with at least two digits (`1e+03`).
pub fn go_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    // Round to prec significant digits via scientific formatting, then read the exponent.
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// go-units `HumanSizeWithPrecision(size, 3)`, as `docker images` prints SIZE.
pub fn human_size(size: f64) -> String {
    human_size_prec(size, 3)
}

/// go-units `HumanSizeWithPrecision`.
pub fn human_size_prec(mut size: f64, prec: usize) -> String {
    let mut i = 0;
    while size >= 1000.0 && i < DECIMAL.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(size, prec), DECIMAL[i])
}

/// go-units `RAMInBytes`: `64m`, `1g`, `512k`, `100` (bytes), binary multiples, optional `b`.
pub fn ram_in_bytes(s: &str) -> Result<i64, UnitsError> {
    let err = || UnitsError::Size(s.to_owned());
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| err())?;
    let unit = unit.to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .map_or(unit.as_str(), |u| u);
    let mul: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(err()),
    };
    if n < 0.0 {
        return Err(err());
    }
    Ok((n * mul) as i64)
}

/// `--cpus 0.5` → NanoCPUs 500000000 (the CLI parses a rational number).
pub fn nano_cpus(s: &str) -> Result<i64, UnitsError> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| UnitsError::Cpus(s.to_owned()))?;
    if !v.is_finite() || v < 0.0 {
        return Err(UnitsError::Cpus(s.to_owned()));
    }
    Ok((v * 1e9).round() as i64)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Civil date of a day count since the epoch.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `time.Unix(t, 0).String()` in UTC: `2024-01-02 15:04:05 +0000 UTC`.
pub fn unix_to_string(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Go's `time.Unix(t, 0).Format(time.RFC3339)` in UTC: `2024-01-02T15:04:05Z`.
pub fn rfc3339(t: i64) -> String {
    rfc3339_nanos(t.saturating_mul(1_000_000_000), None)
}

/// RFC 3339 in UTC from Unix nanoseconds with `digits` fixed fraction digits (`Some(9)`: the
/// CLI's `RFC3339NanoFixed` of `docker events`), or none.
pub fn rfc3339_nanos(nanos: i64, digits: Option<usize>) -> String {
    let t = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let f = match digits {
        Some(n) => format!(".{}", &format!("{frac:09}")[..n.min(9)]),
        None => String::new(),
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{f}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Go's `time.Time.String()` of an RFC 3339 timestamp as the API sends it:
/// `2024-01-02T15:04:05.123Z` → `2024-01-02 15:04:05.123 +0000 UTC` (trailing zeros of the
/// fraction dropped; other offsets as `+0100 +0100`). Unparsable text is returned as it is.
pub fn go_time_string(rfc3339: &str) -> String {
    let Some((date, rest)) = rfc3339.split_once('T') else {
        return rfc3339.to_owned();
    };
    let (clock, zone) = match rest.find(['Z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => return rfc3339.to_owned(),
    };
    let clock = match clock.split_once('.') {
        Some((hms, frac)) => {
            let f = frac.trim_end_matches('0');
            if f.is_empty() {
                hms.to_owned()
            } else {
                format!("{hms}.{f}")
            }
        }
        None => clock.to_owned(),
    };
    let zone = if zone == "Z" || zone == "+00:00" {
        "+0000 UTC".to_owned()
    } else {
        let z = zone.replace(':', "");
        format!("{z} {z}")
    };
    format!("{date} {clock} {zone}")
}

/// A Go duration as nanoseconds (`--health-interval 30s`); `None` when it does not parse.
/// Bare `0` is allowed, as in Go.
pub fn go_duration_nanos(s: &str) -> Option<i64> {
    if s.trim() == "0" {
        return Some(0);
    }
    parse_go_duration(s).map(|secs| (secs * 1e9).round() as i64)
}

/// A Go duration (`1h30m`, `10m`, `45s`, `1.5h`, `300ms`) in seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mul = match &rest[..u_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * mul;
        rest = &rest[u_end..];
    }
    Some(total)
}

/// The CLI's `GetTimestamp` for `--since`/`--until`: a Go duration (relative to `now`), Unix
/// seconds (`1700000000[.nnn]`), or an RFC 3339 date/time (`2024-01-02`, `2024-01-02T15:04:05Z`,
/// with an optional fraction and `±hh:mm` zone). Returns the value the API expects.
pub fn timestamp_arg(s: &str, now: i64) -> Result<String, UnitsError> {
    let err = || UnitsError::Time(s.to_owned());
    let t = s.trim();
    if let Some(d) = parse_go_duration(t) {
        if t.chars().any(|c| c.is_ascii_alphabetic()) {
            return Ok(format!("{}", now - d.round() as i64));
        }
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(t.to_owned());
    }
    // RFC 3339-ish.
    let (date, time) = match t.split_once('T') {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let dp: Vec<&str> = date.split('-').collect();
    if dp.len() != 3 {
        return Err(err());
    }
    let y: i64 = dp[0].parse().map_err(|_| err())?;
    let mo: i64 = dp[1].parse().map_err(|_| err())?;
    let d: i64 = dp[2].parse().map_err(|_| err())?;
    let mut secs = days_from_civil(y, mo, d) * 86400;
    let mut frac = String::new();
    if let Some(tm) = time {
        let (clock, offset) = if let Some(c) = tm.strip_suffix('Z') {
            (c, 0)
        } else if let Some(i) = tm.rfind(['+', '-']) {
            let (c, z) = tm.split_at(i);
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (zh, zm) = z[1..].split_once(':').ok_or_else(err)?;
            let zh: i64 = zh.parse().map_err(|_| err())?;
            let zm: i64 = zm.parse().map_err(|_| err())?;
            (c, sign * (zh * 3600 + zm * 60))
        } else {
            (tm, 0)
        };
        let (clock, f) = clock.split_once('.').unwrap_or((clock, ""));
        frac = f.to_owned();
        let cp: Vec<&str> = clock.split(':').collect();
        let num = |i: usize| -> Result<i64, UnitsError> {
            cp.get(i).map_or(Ok(0), |v| v.parse().map_err(|_| err()))
        };
        secs += num(0)? * 3600 + num(1)? * 60 + num(2)? - offset;
    }
    if frac.is_empty() {
        Ok(secs.to_string())
    } else {
        Ok(format!("{secs}.{frac}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nanos(1_700_000_000_000_000_123, Some(9)),
            "2023-11-14T22:13:20.000000123Z"
        );
        assert_eq!(go_duration_nanos("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration_nanos("500ms"), Some(500_000_000));
        assert_eq!(go_duration_nanos("0"), Some(0));
        assert_eq!(go_duration_nanos("5"), None);
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(119), "About a minute");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(59 * 60 + 59), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5400), "2 hours"); // 1.5h rounds to 2
        assert_eq!(human_duration(47 * 3600), "47 hours");
        assert_eq!(human_duration(48 * 3600), "2 days");
        assert_eq!(human_duration(14 * 86400), "2 weeks");
        assert_eq!(human_duration(60 * 86400), "2 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size(1_984_552.0), "1.98MB");
        assert_eq!(human_size(4_430_000.0), "4.43MB");
        assert_eq!(human_size(123_456_789.0), "123MB");
        assert_eq!(human_size(12_345_678.0), "12.3MB");
        assert_eq!(human_size(999_900.0), "1e+03kB"); // Go's %.3g, faithfully
        assert_eq!(human_size_prec(1_984_552.0, 4), "1.985MB");
    }

    #[test]
    fn go_g_format() {
        assert_eq!(go_g(2.0, 3), "2");
        assert_eq!(go_g(1.5, 3), "1.5");
        assert_eq!(go_g(0.0001234, 3), "0.000123");
        assert_eq!(go_g(0.00001234, 3), "1.23e-05");
        assert_eq!(go_g(1234.0, 3), "1.23e+03");
    }

    #[test]
    fn ram_sizes() {
        assert_eq!(ram_in_bytes("64m").unwrap(), 67_108_864);
        assert_eq!(ram_in_bytes("64MB").unwrap(), 67_108_864);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("512k").unwrap(), 524_288);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
        assert!(ram_in_bytes("lots").is_err());
        assert!(ram_in_bytes("5x").is_err());
        assert_eq!(nano_cpus("0.5").unwrap(), 500_000_000);
        assert_eq!(nano_cpus("2").unwrap(), 2_000_000_000);
        assert!(nano_cpus("x").is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(unix_to_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            unix_to_string(1_700_000_000),
            "2023-11-14 22:13:20 +0000 UTC"
        );
        let now = 1_700_000_000;
        assert_eq!(timestamp_arg("10m", now).unwrap(), "1699999400");
        assert_eq!(timestamp_arg("1h30m", now).unwrap(), "1699994600");
        assert_eq!(timestamp_arg("1699990000", now).unwrap(), "1699990000");
        assert_eq!(timestamp_arg("1699990000.5", now).unwrap(), "1699990000.5");
        assert_eq!(
            timestamp_arg("2023-11-14T22:13:20Z", now).unwrap(),
            "1700000000"
        );
        assert_eq!(
            timestamp_arg("2023-11-14T23:13:20+01:00", now).unwrap(),
            "1700000000"
        );
        assert_eq!(
            timestamp_arg("2023-11-14T22:13:20.25Z", now).unwrap(),
            "1700000000.25"
        );
        assert_eq!(timestamp_arg("2023-11-14", now).unwrap(), "1699920000");
        assert!(timestamp_arg("yesterday", now).is_err());
        assert_eq!(parse_go_duration("300ms"), Some(0.3));
    }

    #[test]
    fn go_time_strings() {
        assert_eq!(
            go_time_string("2026-11-23T03:52:02.491273065Z"),
            "2026-11-23 03:52:02.491273065 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2026-11-23T03:52:02.100Z"),
            "2026-11-23 03:52:02.1 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2026-11-23T03:52:02+01:00"),
            "2026-11-23 03:52:02 +0100 +0100"
        );
        assert_eq!(go_time_string("junk"), "junk");
    }
}
