//! Serde helpers that give the derived types the leniency of moby's Go decoder and the exact
//! shapes of its encoder.
//!
//! Go's `encoding/json` ignores unknown fields, leaves missing fields at their zero value and
//! treats `null` as "leave the zero value" for strings, numbers and booleans (and as `nil` for
//! slices, maps and pointers). Every wire struct in this crate is therefore
//! `#[serde(default)]`, and every field that is not an `Option` carries
//! `#[serde(deserialize_with = "null_default")]`. The `Option` fields are those that Go emits as
//! `null` when unset (a nil slice, map or pointer without `omitempty`): `None` round-trips to
//! `null`, which is what `docker inspect` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serializer};

/// Deserialize `T`, mapping `null` to `T::default()` (Go's "null leaves the zero value").
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A map whose `null` values become `V::default()`, and which is empty when the map itself is
/// `null` (Go's `map[string]*T` holding nil pointers, e.g. `EndpointsConfig: {"bridge": null}`).
pub fn map_null_values<'de, D, V>(d: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Default + Deserialize<'de>,
{
    let raw: Option<BTreeMap<String, Option<V>>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// moby's `strslice.StrSlice` (`Cmd`, `Entrypoint`, `Shell`, `CapAdd`, `CapDrop`): a JSON array
/// of strings, or a single string meaning a one-element list; `null` is `None`.
pub fn str_slice<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a list of strings or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![s.to_owned()]))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<Option<String>>()? {
                out.push(s.unwrap_or_default());
            }
            Ok(Some(out))
        }
    }
    d.deserialize_option(V)
}

/// A Go `map[string]struct{}` (`ExposedPorts`, `Volumes`) as a set of keys: written as
/// `{"80/tcp":{}}`, read from any map whatever its values, `null` read as empty.
pub mod set_as_map {
    use super::*;

    /// Write the set as a map of empty objects.
    pub fn serialize<S: Serializer>(set: &BTreeSet<String>, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(set.len()))?;
        for k in set {
            m.serialize_entry(k, &Empty {})?;
        }
        m.end()
    }

    /// Read the keys of a map (values ignored); `null` is the empty set.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<String>, D::Error> {
        Ok(super::opt_set_as_map::deserialize(d)?.unwrap_or_default())
    }
}

/// [`set_as_map`] for a field Go emits as `null` when unset (`Config.Volumes`).
pub mod opt_set_as_map {
    use super::*;

    /// `None` as `null`, a set as a map of empty objects.
    pub fn serialize<S: Serializer>(
        set: &Option<BTreeSet<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match set {
            None => s.serialize_none(),
            Some(set) => super::set_as_map::serialize(set, s),
        }
    }

    /// `null` as `None`, a map as the set of its keys.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<BTreeSet<String>>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<BTreeSet<String>>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                d.deserialize_map(V)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeSet::new();
                while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    out.insert(k);
                }
                Ok(Some(out))
            }
        }
        d.deserialize_option(V)
    }
}

/// Go's `[]byte` (base64 text, `null` when nil), used by exec inspect's `DetachKeys`.
pub mod opt_base64 {
    use super::*;

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// Standard base64 with padding, as Go's encoding/json writes `[]byte`.
    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// Decode standard base64 (padding optional); `None` on bad input.
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let text = text.trim_end_matches('=');
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        let (mut acc, mut bits) = (0u32, 0u32);
        for c in text.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c)? as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push(((acc >> bits) & 0xff) as u8);
            }
        }
        Some(out)
    }

    /// `None` as `null`, bytes as base64 text.
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(bytes) => s.serialize_str(&encode(bytes)),
        }
    }

    /// `null` as `None`, base64 text as bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(t) => decode(&t)
                .map(Some)
                .ok_or_else(|| de::Error::custom("invalid base64 data")),
        }
    }
}

/// An empty JSON object `{}` on output, anything on input (the value of a Go `struct{}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Empty {}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Empty {})
    }
}

/// `skip_serializing_if` for Go's `omitempty` on a bool.
pub fn is_false(b: &bool) -> bool {
    !*b
}

/// `skip_serializing_if` for Go's `omitempty` on a number.
pub fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_go() {
        // Go: json.Marshal([]byte{16, 17}) == "\"EBE=\"" (ctrl-p,ctrl-q, the default detach keys).
        assert_eq!(opt_base64::encode(&[16, 17]), "EBE=");
        assert_eq!(opt_base64::encode(b""), "");
        assert_eq!(opt_base64::encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(opt_base64::encode(b"fooba"), "Zm9vYmE=");
        for s in [&b""[..], b"f", b"fo", b"foo", b"\x00\xff\x10"] {
            assert_eq!(
                opt_base64::decode(&opt_base64::encode(s)).as_deref(),
                Some(s)
            );
        }
        assert_eq!(opt_base64::decode("!!"), None);
    }
}
