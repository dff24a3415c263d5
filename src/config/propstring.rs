//! The generic property-string engine (`k=v,k=v` with an optional default key) shared by the
//! typed sub-formats, with pct's error messages and printing order.

use std::collections::BTreeMap;

use super::{DeviceEntry, Features, MountPoint, NetDevice, Startup, ValueError};

/// The property-string formats of the pct schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PropertyFormat {
    /// `rootfs`.
    Rootfs,
    /// `mpN`.
    MountPoint,
    /// `netN`.
    Net,
    /// `devN`.
    Device,
    /// `features`.
    Features,
    /// `startup`.
    Startup,
    /// `unusedN`.
    Unused,
}

/// `Display` is pct's message, e.g. `invalid key in comma-separated list property: foo` or
/// `format error\nname: property is missing and it is not optional`, without the final
/// newline pct's message always has (a key whose named format failed keeps its own:
/// `format error\nhwaddr: invalid format - value does not look like a valid unicast MAC
/// address\n`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PropertyError(pub String);

impl PropertyFormat {
    /// Validate `value`, and return what pct stores: network devices and mount points are
    /// printed back in pct's key order (booleans as 1/0); the other formats are kept as given.
    pub fn normalize(self, value: &str) -> Result<String, PropertyError> {
        match self {
            PropertyFormat::Rootfs => Ok(MountPoint::parse_rootfs(value)?.to_string()),
            PropertyFormat::MountPoint => Ok(MountPoint::parse_mp(value)?.to_string()),
            PropertyFormat::Net => Ok(NetDevice::parse(value)?.to_string()),
            PropertyFormat::Device => DeviceEntry::parse(value).map(|_| value.to_string()),
            PropertyFormat::Features => Features::parse(value).map(|_| value.to_string()),
            PropertyFormat::Startup => Startup::parse(value).map(|_| value.to_string()),
            PropertyFormat::Unused => {
                let map = parse(UNUSED, value)?;
                Ok(map["volume"].clone())
            }
        }
    }
}

/// How one key's value is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Boolean,
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Number,
    Enum(&'static [&'static str]),
    /// Free text checked by a validator that returns pct's message (a pattern check).
    Text(fn(&str) -> Result<(), ValueError>),
    /// Text checked by one of pct's named formats (`mac-addr`, `disk-size`, ...). pct
    /// reports their failures as `invalid format - <message>`, with the newline of the
    /// `die` that raised them.
    Format(fn(&str) -> Result<(), ValueError>),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub default_key: bool,
    pub required: bool,
}

pub(crate) const fn key(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        default_key: false,
        required: false,
    }
}

const UNUSED: &[Key] = &[Key {
    name: "volume",
    kind: Kind::Text(|_| Ok(())),
    default_key: true,
    required: true,
}];

pub(crate) fn parse_boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// Check one value against its kind; booleans come back as `1`/`0`.
pub(crate) fn check_value(kind: Kind, value: &str) -> Result<String, ValueError> {
    let not_a = |expected| ValueError::Type {
        expected,
        value: value.to_string(),
    };
    match kind {
        Kind::Boolean => match parse_boolean(value) {
            Some(b) => Ok(if b { "1" } else { "0" }.into()),
            None => Err(not_a("boolean")),
        },
        Kind::Integer { min, max } => {
            let number: i64 = value
                .strip_prefix('+')
                .unwrap_or(value)
                .parse()
                .map_err(|_| not_a("integer"))?;
            check_range(number.into(), min, max)?;
            Ok(value.to_string())
        }
        Kind::Number => {
            if is_number(value) {
                Ok(value.to_string())
            } else {
                Err(not_a("number"))
            }
        }
        Kind::Enum(choices) => {
            if choices.contains(&value) {
                Ok(value.to_string())
            } else {
                Err(ValueError::NotInEnumeration {
                    value: value.to_string(),
                    choices,
                })
            }
        }
        Kind::Text(validate) => validate(value).map(|()| value.to_string()),
        Kind::Format(validate) => validate(value)
            .map(|()| value.to_string())
            .map_err(ValueError::format),
    }
}

/// JSONSchema's `minimum`/`maximum` with pct's messages.
pub(crate) fn check_range(
    number: i128,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<(), ValueError> {
    if let Some(min) = min
        && number < min.into()
    {
        return Err(ValueError::BelowMinimum { min });
    }
    if let Some(max) = max
        && number > max.into()
    {
        return Err(ValueError::AboveMaximum { max });
    }
    Ok(())
}

/// JSONSchema's number: optional sign, digits with an optional fraction, optional exponent.
pub(crate) fn is_number(value: &str) -> bool {
    let value = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (mantissa, exponent) = match value.find(['e', 'E']) {
        Some(at) => (&value[..at], Some(&value[at + 1..])),
        None => (value, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (digits(whole) || whole.is_empty())
                && (digits(fraction) || fraction.is_empty())
                && !(whole.is_empty() && fraction.is_empty())
        }
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// A parsed property string: each key given, with its checked value.
pub(crate) type PropertyValues = BTreeMap<String, String>;

/// Split and check a property string. Values come back checked (booleans normalised); keys
/// missing from the string are absent.
pub(crate) fn parse(keys: &[Key], data: &str) -> Result<PropertyValues, PropertyError> {
    let mut values = PropertyValues::new();
    let default_key = keys.iter().find(|k| k.default_key);
    let mut default_seen = false;
    for part in data.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        if let Some((k, v)) = part
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        {
            if values.contains_key(k) {
                return Err(PropertyError(format!(
                    "duplicate key in comma-separated list property: {k}"
                )));
            }
            if !keys.iter().any(|key| key.name == k) {
                return Err(PropertyError(format!(
                    "invalid key in comma-separated list property: {k}"
                )));
            }
            values.insert(k.to_string(), v.to_string());
        } else if !part.contains('=') {
            let Some(default_key) = default_key else {
                return Err(PropertyError(
                    "value without key, but schema does not define a default key".into(),
                ));
            };
            if default_seen || values.contains_key(default_key.name) {
                return Err(PropertyError(format!(
                    "duplicate key in comma-separated list property: {}",
                    default_key.name
                )));
            }
            default_seen = true;
            values.insert(default_key.name.to_string(), part.to_string());
        } else {
            return Err(PropertyError(
                "missing key in comma-separated list property".into(),
            ));
        }
    }
    let mut errors: Vec<String> = Vec::new();
    for key in keys {
        match values.get(key.name) {
            None if key.required => errors.push(format!(
                "{}: property is missing and it is not optional",
                key.name
            )),
            None => {}
            Some(value) => match check_value(key.kind, value) {
                Ok(checked) => {
                    values.insert(key.name.to_string(), checked);
                }
                Err(message) => errors.push(format!("{}: {message}", key.name)),
            },
        }
    }
    if !errors.is_empty() {
        errors.sort();
        return Err(PropertyError(format!(
            "format error\n{}",
            errors.join("\n")
        )));
    }
    Ok(values)
}

/// Print as pct does: the default key bare first, then required keys sorted, then the rest
/// sorted.
pub(crate) fn print(keys: &[Key], values: &BTreeMap<&'static str, String>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    if let Some(default_key) = keys.iter().find(|k| k.default_key)
        && let Some(value) = values.get(default_key.name)
    {
        parts.push(value.clone());
        done.push(default_key.name);
    }
    for required in [true, false] {
        for (name, value) in values {
            let is_required = keys.iter().any(|k| k.name == *name && k.required);
            if is_required == required && !done.contains(name) {
                parts.push(format!("{name}={value}"));
                done.push(name);
            }
        }
    }
    parts.join(",")
}

pub(crate) fn bool_text(value: bool) -> String {
    if value { "1" } else { "0" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[Key] = &[
        Key {
            name: "volume",
            kind: Kind::Text(|_| Ok(())),
            default_key: true,
            required: true,
        },
        key("ro", Kind::Boolean),
        key(
            "mtu",
            Kind::Integer {
                min: Some(64),
                max: Some(65535),
            },
        ),
        key("kind", Kind::Enum(&["veth"])),
    ];

    #[test]
    fn parses_default_key_and_normalises_booleans() {
        let map = parse(KEYS, "local:1,ro=yes,mtu=1500").unwrap();
        assert_eq!(map["volume"], "local:1");
        assert_eq!(map["ro"], "1");
        assert_eq!(map["mtu"], "1500");
        let map = parse(KEYS, "volume=local:1,,").unwrap();
        assert_eq!(map["volume"], "local:1");
    }

    #[test]
    fn pct_error_messages() {
        let err = |data: &str| parse(KEYS, data).unwrap_err().0;
        assert_eq!(
            err("a,ro=1,ro=0"),
            "duplicate key in comma-separated list property: ro"
        );
        assert_eq!(
            err("a,b"),
            "duplicate key in comma-separated list property: volume"
        );
        assert_eq!(
            err("a,foo=1"),
            "invalid key in comma-separated list property: foo"
        );
        assert_eq!(err("a,ro="), "missing key in comma-separated list property");
        assert_eq!(
            err("ro=1"),
            "format error\nvolume: property is missing and it is not optional"
        );
        assert_eq!(
            err("a,ro=maybe,mtu=10"),
            "format error\nmtu: value must have a minimum value of 64\nro: type check ('boolean') failed - got 'maybe'"
        );
        assert_eq!(
            err("a,kind=tap"),
            "format error\nkind: value 'tap' does not have a value in the enumeration 'veth'"
        );
        assert_eq!(
            parse(&KEYS[1..], "x").unwrap_err().0,
            "value without key, but schema does not define a default key"
        );
    }

    #[test]
    fn ranges_include_their_bounds() {
        assert_eq!(parse(KEYS, "a,mtu=64").unwrap()["mtu"], "64");
        assert_eq!(parse(KEYS, "a,mtu=65535").unwrap()["mtu"], "65535");
        assert_eq!(
            parse(KEYS, "a,mtu=65536").unwrap_err().0,
            "format error\nmtu: value must have a maximum value of 65535"
        );
        assert!(check_range(-1, Some(-1), Some(-1)).is_ok());
        assert!(matches!(
            check_range(-2, Some(-1), None),
            Err(ValueError::BelowMinimum { min: -1 })
        ));
        assert!(matches!(
            check_range(65536, None, Some(65535)),
            Err(ValueError::AboveMaximum { max: 65535 })
        ));
    }

    /// The default key given by name, then bare: one key twice.
    #[test]
    fn a_bare_value_after_the_named_default_key_is_a_duplicate() {
        assert_eq!(
            parse(KEYS, "volume=a,b").unwrap_err().0,
            "duplicate key in comma-separated list property: volume"
        );
    }

    #[test]
    fn numbers() {
        for yes in ["1", "1.5", "-2", ".5", "5.", "1e3", "+2.5E-1"] {
            assert!(is_number(yes), "{yes}");
        }
        for no in ["", ".", "1.2.3", "abc", "1e", "0x10"] {
            assert!(!is_number(no), "{no}");
        }
    }
}
