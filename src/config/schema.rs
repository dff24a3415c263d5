//! The pct option schema: every top-level option with its type, range, default and help text;
//! the API-level check `pct create`/`pct set` apply to a value; and the looser type check of
//! the file parser.

use super::propstring::{check_range, is_number, parse_boolean};
use super::validate;
use super::{PropertyFormat, ValueError};

/// The type of an option's value in pct's schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptionKind {
    /// `0`/`1` (pct also takes `yes`, `on`, `true` ...).
    Boolean,
    /// A whole number, within bounds when given.
    Integer {
        /// The smallest value allowed.
        min: Option<i64>,
        /// The largest value allowed.
        max: Option<i64>,
    },
    /// A number with a fraction, within bounds when given.
    Number {
        /// The smallest value allowed.
        min: Option<f64>,
        /// The largest value allowed.
        max: Option<f64>,
    },
    /// One of these words.
    Enum(&'static [&'static str]),
    /// Free text with a maximum length and a named pct format (dns-name, ...), if any.
    String {
        /// The longest text allowed.
        max_length: Option<usize>,
        /// The pct format the text must have (`dns-name`, ...).
        format: Option<&'static str>,
    },
    /// A property string (`key=value,...`) of this format.
    Property(PropertyFormat),
}

/// One option of the container config as pct's schema defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionSpec {
    /// The key, or for indexed options (`mp0`..`mp255`) the prefix `mp`.
    pub name: &'static str,
    /// For indexed options, the largest index (`mp` → 255, `net` → 31).
    pub max_index: Option<u16>,
    /// The type of its value.
    pub kind: OptionKind,
    /// The value pct assumes when it is not set.
    pub default: Option<&'static str>,
    /// pct's description of it.
    pub description: &'static str,
}

/// Why a value was refused; `Display` is the text pct prints after `<key>: `, ending with a
/// newline where pct's does (failed named formats and property strings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OptionError(pub String);

const fn spec(
    name: &'static str,
    kind: OptionKind,
    default: Option<&'static str>,
    description: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        max_index: None,
        kind,
        default,
        description,
    }
}

const fn indexed(
    name: &'static str,
    max: u16,
    format: PropertyFormat,
    description: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        max_index: Some(max),
        kind: OptionKind::Property(format),
        default: None,
        description,
    }
}

/// The most MiB whose byte count fits in 64 bits. pct's schema sets no maximum for `memory`
/// and `swap`; corral writes them to the kernel in bytes, so a larger value could only wrap.
pub const MAX_MIB: i64 = (u64::MAX >> 20) as i64;

const fn int(min: Option<i64>, max: Option<i64>) -> OptionKind {
    OptionKind::Integer { min, max }
}

const fn text(max_length: Option<usize>, format: Option<&'static str>) -> OptionKind {
    OptionKind::String { max_length, format }
}

static OPTIONS: &[OptionSpec] = &[
    spec(
        "arch",
        OptionKind::Enum(&["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"]),
        Some("amd64"),
        "OS architecture type.",
    ),
    spec(
        "cmode",
        OptionKind::Enum(&["shell", "console", "tty"]),
        Some("tty"),
        "Console mode. By default, the console command tries to open a connection to one of the available tty devices. By setting cmode to 'console' it tries to attach to /dev/console instead. If you set cmode to 'shell', it simply invokes a shell inside the container (no login).",
    ),
    spec(
        "console",
        OptionKind::Boolean,
        Some("1"),
        "Attach a console device (/dev/console) to the container.",
    ),
    spec(
        "cores",
        int(Some(1), Some(8192)),
        None,
        "The number of cores assigned to the container. A container can use all available cores by default.",
    ),
    spec(
        "cpulimit",
        OptionKind::Number {
            min: Some(0.0),
            max: Some(8192.0),
        },
        Some("0"),
        "Limit of CPU usage. NOTE: If the computer has 2 CPUs, it has a total of '2' CPU time. Value '0' indicates no CPU limit.",
    ),
    spec(
        "cpuunits",
        int(Some(0), Some(500000)),
        None,
        "CPU weight for a container, will be clamped to [1, 10000] in cgroup v2.",
    ),
    spec(
        "debug",
        OptionKind::Boolean,
        Some("0"),
        "Try to be more verbose. For now this only enables debug log-level on start.",
    ),
    spec(
        "description",
        text(Some(8192), None),
        None,
        "Description for the Container. Shown in the web-interface CT's summary. This is saved as comment inside the configuration file.",
    ),
    indexed(
        "dev",
        255,
        PropertyFormat::Device,
        "Device to pass through to the container",
    ),
    spec(
        "entrypoint",
        text(None, Some("entrypoint")),
        Some("/sbin/init"),
        "Command to run as init, optionally with arguments; may start with an absolute path, relative path, or a binary in $PATH.",
    ),
    spec(
        "env",
        text(None, Some("env")),
        None,
        "The container runtime environment as NUL-separated list. Replaces any lxc.environment.runtime entries in the config.",
    ),
    spec(
        "features",
        OptionKind::Property(PropertyFormat::Features),
        None,
        "Allow containers access to advanced features.",
    ),
    spec(
        "hookscript",
        text(None, Some("pve-volume-id")),
        None,
        "Script that will be executed during various steps in the containers lifetime.",
    ),
    spec(
        "hostname",
        text(Some(255), Some("dns-name")),
        None,
        "Set a host name for the container.",
    ),
    spec(
        "lock",
        OptionKind::Enum(&[
            "backup",
            "create",
            "destroyed",
            "disk",
            "fstrim",
            "migrate",
            "mounted",
            "rollback",
            "snapshot",
            "snapshot-delete",
        ]),
        None,
        "Lock/unlock the container.",
    ),
    spec(
        "memory",
        int(Some(16), Some(MAX_MIB)),
        Some("512"),
        "Amount of RAM for the container in MB.",
    ),
    indexed(
        "mp",
        255,
        PropertyFormat::MountPoint,
        "Use volume as container mount point. Use the special syntax STORAGE_ID:SIZE_IN_GiB to allocate a new volume.",
    ),
    spec(
        "nameserver",
        text(None, Some("lxc-ip-with-ll-iface-list")),
        None,
        "Sets DNS server IP address for a container. Create will automatically use the setting from the host if you neither set searchdomain nor nameserver.",
    ),
    indexed(
        "net",
        31,
        PropertyFormat::Net,
        "Specifies network interfaces for the container.",
    ),
    spec(
        "onboot",
        OptionKind::Boolean,
        Some("0"),
        "Specifies whether a container will be started during system bootup.",
    ),
    spec(
        "ostype",
        OptionKind::Enum(&[
            "debian",
            "devuan",
            "ubuntu",
            "centos",
            "fedora",
            "opensuse",
            "archlinux",
            "alpine",
            "gentoo",
            "nixos",
            "unmanaged",
        ]),
        None,
        "OS type. This is used to setup configuration inside the container, and corresponds to lxc setup scripts in /usr/share/lxc/config/<ostype>.common.conf. Value 'unmanaged' can be used to skip and OS specific setup.",
    ),
    spec(
        "parent",
        text(Some(40), Some("pve-configid")),
        None,
        "Parent snapshot name. This is used internally, and should not be modified.",
    ),
    spec(
        "protection",
        OptionKind::Boolean,
        Some("0"),
        "Sets the protection flag of the container. This will prevent the CT or CT's disk remove/update operation.",
    ),
    spec(
        "rootfs",
        OptionKind::Property(PropertyFormat::Rootfs),
        None,
        "Use volume as container root.",
    ),
    spec(
        "searchdomain",
        text(None, Some("dns-name-list")),
        None,
        "Sets DNS search domains for a container. Create will automatically use the setting from the host if you neither set searchdomain nor nameserver.",
    ),
    spec(
        "snaptime",
        int(Some(0), None),
        None,
        "Timestamp for snapshots.",
    ),
    spec(
        "startup",
        OptionKind::Property(PropertyFormat::Startup),
        None,
        "Startup and shutdown behavior. Order is a non-negative number defining the general startup order. Shutdown in done with reverse ordering. Additionally you can set the 'up' or 'down' delay in seconds, which specifies a delay to wait before the next VM is started or stopped.",
    ),
    spec(
        "swap",
        int(Some(0), Some(MAX_MIB)),
        Some("512"),
        "Amount of SWAP for the container in MB.",
    ),
    spec(
        "tags",
        text(None, Some("pve-tag-list")),
        None,
        "Tags of the Container. This is only meta information.",
    ),
    spec(
        "template",
        OptionKind::Boolean,
        Some("0"),
        "Enable/disable Template.",
    ),
    spec(
        "timezone",
        text(None, Some("pve-ct-timezone")),
        None,
        "Time zone to use in the container. If option isn't set, then nothing will be done. Can be set to 'host' to match the host time zone, or an arbitrary time zone option from /usr/share/zoneinfo/zone.tab",
    ),
    spec(
        "tty",
        int(Some(0), Some(6)),
        Some("2"),
        "Specify the number of tty available to the container",
    ),
    spec(
        "unprivileged",
        OptionKind::Boolean,
        Some("0"),
        "Makes the container run as unprivileged user. For creation, the default is 1. For restore, the default is the value from the backup. (Should not be modified manually.)",
    ),
    indexed(
        "unused",
        255,
        PropertyFormat::Unused,
        "Reference to unused volumes. This is used internally, and should not be modified manually.",
    ),
];

/// Every option of the schema, in name order.
pub fn options() -> &'static [OptionSpec] {
    OPTIONS
}

/// The spec for a concrete key (`memory`, `mp12`); `None` for unknown keys.
pub fn option_spec(key: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|spec| match spec.max_index {
        None => spec.name == key,
        Some(max) => key.strip_prefix(spec.name).is_some_and(|index| {
            !index.is_empty()
                && index.bytes().all(|b| b.is_ascii_digit())
                && (index == "0" || !index.starts_with('0'))
                && index.parse::<u16>().is_ok_and(|i| i <= max)
        }),
    })
}

/// Split a list the way pct does: NUL-separated if it has NULs, else on `,`, `;` and spaces.
pub(crate) fn split_list(text: &str) -> Vec<&str> {
    if text.contains('\0') {
        return text.split('\0').collect();
    }
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect()
}

/// pct's `[a-z][a-z0-9_-]+`, case-blind: a letter and at least one more character.
fn is_configid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn is_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'-'))
}

fn no_control_characters(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c == '\t' || !(c.is_control()))
}

/// An IP address, or a link-local IPv6 address with an interface (`fe80::1%eth0`).
fn is_nameserver(value: &str) -> bool {
    if let Some((address, interface)) = value.split_once('%') {
        return address.to_ascii_lowercase().starts_with("fe80:")
            && address.parse::<std::net::Ipv6Addr>().is_ok()
            && validate::interface_name(interface).is_ok();
    }
    value.parse::<std::net::IpAddr>().is_ok()
}

/// The zone names of the host's zone.tab, read once; `None` when the host has no zone.tab.
fn zone_names() -> Option<&'static [String]> {
    static ZONES: std::sync::OnceLock<Option<Vec<String>>> = std::sync::OnceLock::new();
    ZONES
        .get_or_init(|| {
            let table = std::fs::read_to_string("/usr/share/zoneinfo/zone.tab").ok()?;
            Some(
                table
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .filter_map(|l| l.split('\t').nth(2))
                    .map(str::to_string)
                    .collect(),
            )
        })
        .as_deref()
}

/// A zone from the host's zone.tab (plus `UTC` and `host`).
fn is_timezone(value: &str) -> bool {
    if value == "host" || value == "UTC" {
        return true;
    }
    match zone_names() {
        Some(zones) => zones.iter().any(|zone| zone == value),
        None => looks_like_a_zone(value),
    }
}

/// Without a zone.tab to look in: `Area/Location` words of letters, digits, `_`, `-`, `+`.
fn looks_like_a_zone(value: &str) -> bool {
    value.split('/').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
    })
}

/// Check a named string format; returns the value as pct stores it.
fn check_format(format: &str, value: &str) -> Result<String, ValueError> {
    let invalid = |inner: ValueError| Err(ValueError::format(inner));
    match format {
        "dns-name" => validate::dns_name(value)
            .map(|()| value.to_string())
            .or_else(invalid),
        "dns-name-list" => {
            let names = split_list(value);
            match names.iter().find_map(|n| validate::dns_name(n).err()) {
                Some(error) => invalid(error),
                None => Ok(names.join(" ")),
            }
        }
        "lxc-ip-with-ll-iface-list" => {
            let servers = split_list(value);
            match servers.iter().find(|s| !is_nameserver(s)) {
                Some(_) => invalid(ValueError::Malformed {
                    expected: "IP address",
                }),
                None => Ok(servers.join(" ")),
            }
        }
        "pve-tag-list" => {
            let mut tags: Vec<String> = split_list(value)
                .into_iter()
                .map(str::to_ascii_lowercase)
                .collect();
            if tags.iter().any(|t| !is_tag(t)) {
                return invalid(ValueError::Tag);
            }
            tags.sort();
            tags.dedup();
            Ok(tags.join(";"))
        }
        "pve-volume-id" => validate::volume_id(value)
            .map(|()| value.to_string())
            .or_else(invalid),
        "pve-configid" => {
            if is_configid(value) {
                Ok(value.to_string())
            } else {
                invalid(ValueError::ConfigId {
                    value: value.to_string(),
                })
            }
        }
        "pve-ct-timezone" => {
            if is_timezone(value) {
                Ok(value.to_string())
            } else {
                invalid(ValueError::TimeZone {
                    value: value.to_string(),
                })
            }
        }
        "entrypoint" => {
            if no_control_characters(value) {
                Ok(value.to_string())
            } else {
                Err(ValueError::Pattern)
            }
        }
        "env" => {
            let valid = value.split('\0').all(|entry| {
                entry.split_once('=').is_some_and(|(name, v)| {
                    !name.is_empty()
                        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                        && v.chars().all(|c| c == '\t' || !c.is_control())
                })
            });
            if valid {
                Ok(value.to_string())
            } else {
                Err(ValueError::Pattern)
            }
        }
        _ => Ok(value.to_string()),
    }
}

/// A property-string error as the API reports it for option `key`: nested keys named
/// `key.sub`, and the newline of the error pct raised kept at the end.
fn property_error(key: &str, error: super::PropertyError) -> String {
    match error.0.strip_prefix("format error\n") {
        Some(details) => {
            let nested: Vec<String> = details
                .split('\n')
                .map(|line| {
                    if line.is_empty() {
                        String::new()
                    } else {
                        format!("{key}.{line}")
                    }
                })
                .collect();
            format!("invalid format - format error\n{}\n", nested.join("\n"))
        }
        None => format!("invalid format - {}\n", error.0),
    }
}

/// The API-level check of `pct set`/`pct create`: type, enum, range and format. Returns the
/// value normalised as pct stores it.
pub fn check_option(key: &str, value: &str) -> Result<String, OptionError> {
    let spec = option_spec(key).ok_or_else(|| {
        OptionError(
            "property is not defined in schema and the schema does not allow additional properties"
                .into(),
        )
    })?;
    let fail = |message: String| Err(OptionError(message));
    match spec.kind {
        OptionKind::Boolean => match parse_boolean(value) {
            Some(b) => Ok(if b { "1" } else { "0" }.into()),
            None => fail(format!("type check ('boolean') failed - got '{value}'")),
        },
        OptionKind::Integer { min, max } => {
            // An integer's text is pct's `^[+-]?\d+$`, which is exactly what `i128` parses
            // (one optional sign, ASCII digits, no spaces).
            let number: i128 = value.parse().map_err(|_| {
                OptionError(format!("type check ('integer') failed - got '{value}'"))
            })?;
            check_range(number, min, max).map_err(|e| OptionError(e.to_string()))?;
            // pct clamps the CPU weight to what cgroup v2 accepts before storing it.
            let number = if key == "cpuunits" {
                number.min(10000)
            } else {
                number
            };
            Ok(number.to_string())
        }
        OptionKind::Number { min, max } => {
            if !is_number(value) {
                return fail(format!("type check ('number') failed - got '{value}'"));
            }
            let number: f64 = value.parse().unwrap_or(f64::NAN);
            if let Some(min) = min
                && number < min
            {
                return fail(format!("value must have a minimum value of {min}"));
            }
            if let Some(max) = max
                && number > max
            {
                return fail(format!("value must have a maximum value of {max}"));
            }
            Ok(value.to_string())
        }
        OptionKind::Enum(choices) => {
            if choices.contains(&value) {
                Ok(value.to_string())
            } else {
                fail(format!(
                    "value '{value}' does not have a value in the enumeration '{}'",
                    choices.join(", ")
                ))
            }
        }
        OptionKind::String { max_length, format } => {
            if let Some(max) = max_length
                && value.chars().count() > max
            {
                return fail(format!("value may only be {max} characters long"));
            }
            match format {
                // A named format fails with a `die` in pct: its message keeps the newline.
                Some(format) => check_format(format, value).map_err(|e| OptionError(e.to_string())),
                None => Ok(value.to_string()),
            }
        }
        OptionKind::Property(format) => format
            .normalize(value)
            .map_err(|e| OptionError(property_error(key, e))),
    }
}

/// The file parser's check (pct's `check_type`): only the type and named format, no enum or
/// range. Returns the stored form (booleans `1`/`0`, integers without leading zeros).
pub(crate) fn check_type(key: &str, value: &str) -> Result<String, ValueError> {
    let spec = option_spec(key).ok_or_else(|| ValueError::UnknownSetting {
        key: key.to_string(),
    })?;
    if value.contains(['\n', '\r']) {
        return Err(ValueError::LineFeed);
    }
    let not_a = |expected| ValueError::Type {
        expected,
        value: value.to_string(),
    };
    match spec.kind {
        OptionKind::Boolean => match parse_boolean(value) {
            Some(b) => Ok(if b { "1" } else { "0" }.into()),
            None => Err(not_a("boolean")),
        },
        OptionKind::Integer { .. } => {
            if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                let trimmed = value.trim_start_matches('0');
                Ok(if trimmed.is_empty() {
                    "0".into()
                } else {
                    trimmed.to_string()
                })
            } else {
                Err(not_a("integer"))
            }
        }
        OptionKind::Number { .. } => {
            let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if digits(whole) && digits(fraction) {
                Ok(value.to_string())
            } else {
                Err(not_a("number"))
            }
        }
        OptionKind::Enum(_) | OptionKind::String { format: None, .. } => Ok(value.to_string()),
        OptionKind::String {
            format: Some(format),
            ..
        } => match format {
            "entrypoint" | "env" => Ok(value.to_string()),
            _ => check_format(format, value)
                .map(|_| value.to_string())
                .map_err(ValueError::without_format),
        },
        OptionKind::Property(format) => format
            .normalize(value)
            .map(|_| value.to_string())
            .map_err(ValueError::Property),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_for_indexed_keys() {
        assert_eq!(option_spec("mp0").unwrap().name, "mp");
        assert_eq!(option_spec("mp255").unwrap().name, "mp");
        assert!(
            option_spec("mp256").is_none()
                && option_spec("mp01").is_none()
                && option_spec("mp").is_none()
        );
        assert_eq!(option_spec("net31").unwrap().name, "net");
        assert!(option_spec("net32").is_none());
        assert!(option_spec("bogus").is_none());
        let names: Vec<&str> = options().iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn api_checks_speak_pct() {
        let err = |k: &str, v: &str| check_option(k, v).unwrap_err().0;
        assert_eq!(err("memory", "8"), "value must have a minimum value of 16");
        assert_eq!(
            err("memory", "lots"),
            "type check ('integer') failed - got 'lots'"
        );
        assert_eq!(
            err("onboot", "maybe"),
            "type check ('boolean') failed - got 'maybe'"
        );
        assert_eq!(err("tty", "7"), "value must have a maximum value of 6");
        // 2^44 MiB is 2^64 bytes, which memory.max cannot hold.
        assert_eq!(
            err("memory", "17592186044416"),
            "value must have a maximum value of 17592186044415"
        );
        assert_eq!(
            err("swap", "17592186044416"),
            "value must have a maximum value of 17592186044415"
        );
        assert_eq!(err("swap", "-1"), "value must have a minimum value of 0");
        assert_eq!(err("cores", "0"), "value must have a minimum value of 1");
        assert_eq!(
            err("cores", "8193"),
            "value must have a maximum value of 8192"
        );
        assert_eq!(
            err("cpuunits", "500001"),
            "value must have a maximum value of 500000"
        );
        assert_eq!(
            err("cpulimit", "-1"),
            "value must have a minimum value of 0"
        );
        assert_eq!(
            err("cpulimit", "x"),
            "type check ('number') failed - got 'x'"
        );
        assert_eq!(
            err("cpulimit", "9000"),
            "value must have a maximum value of 8192"
        );
        assert_eq!(
            err("ostype", "redhat"),
            "value 'redhat' does not have a value in the enumeration 'debian, devuan, ubuntu, centos, fedora, opensuse, archlinux, alpine, gentoo, nixos, unmanaged'"
        );
        assert_eq!(
            err("hostname", "bad_name"),
            "invalid format - value does not look like a valid DNS name\n"
        );
        assert_eq!(
            err("hostname", &"a".repeat(256)),
            "value may only be 255 characters long"
        );
        assert_eq!(
            err("net0", "bridge=vmbr0"),
            "invalid format - format error\nnet0.name: property is missing and it is not optional\n"
        );
        // The nested key's own format failure keeps its prefix and newline, as pct's does.
        assert_eq!(
            err("net0", "name=eth0,hwaddr=01:00:00:00:00:00"),
            "invalid format - format error\nnet0.hwaddr: invalid format - value does not look like a valid unicast MAC address\n\n"
        );
        assert_eq!(
            err("net0", "name=eth0,foo=1"),
            "invalid format - invalid key in comma-separated list property: foo\n"
        );
        assert_eq!(
            err("bogus", "1"),
            "property is not defined in schema and the schema does not allow additional properties"
        );
        assert_eq!(
            err("timezone", "Mars/Olympus"),
            "invalid format - invalid time zone 'Mars/Olympus'\n"
        );
    }

    #[test]
    fn api_checks_normalise() {
        assert_eq!(check_option("onboot", "yes").unwrap(), "1");
        assert_eq!(check_option("memory", "0512").unwrap(), "512");
        assert_eq!(check_option("cpuunits", "200000").unwrap(), "10000");
        assert_eq!(
            check_option("tags", "Web;db,web prod").unwrap(),
            "db;prod;web"
        );
        assert_eq!(
            check_option("nameserver", "1.1.1.1,fe80::1%eth0").unwrap(),
            "1.1.1.1 fe80::1%eth0"
        );
        assert_eq!(
            check_option("searchdomain", "a.example;b.example").unwrap(),
            "a.example b.example"
        );
        assert_eq!(
            check_option("net0", "bridge=vmbr0,name=eth0,firewall=yes").unwrap(),
            "name=eth0,bridge=vmbr0,firewall=1"
        );
        assert_eq!(check_option("rootfs", "local:8").unwrap(), "local:8");
        assert_eq!(
            check_option("features", "nesting=1,keyctl=1").unwrap(),
            "nesting=1,keyctl=1"
        );
        assert_eq!(check_option("timezone", "host").unwrap(), "host");
    }

    /// pct's option set, each name once: a schema missing one refuses a key pct writes.
    #[test]
    fn the_schema_has_every_pct_option() {
        let names: Vec<&str> = options().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "arch",
                "cmode",
                "console",
                "cores",
                "cpulimit",
                "cpuunits",
                "debug",
                "description",
                "dev",
                "entrypoint",
                "env",
                "features",
                "hookscript",
                "hostname",
                "lock",
                "memory",
                "mp",
                "nameserver",
                "net",
                "onboot",
                "ostype",
                "parent",
                "protection",
                "rootfs",
                "searchdomain",
                "snaptime",
                "startup",
                "swap",
                "tags",
                "template",
                "timezone",
                "tty",
                "unprivileged",
                "unused",
            ]
        );
        // An index is digits only: `u16` parsing would take a sign.
        assert!(option_spec("mp+1").is_none() && option_spec("net+0").is_none());
    }

    #[test]
    fn named_formats_refuse_what_pct_refuses() {
        let err = |k: &str, v: &str| check_option(k, v).unwrap_err().0;
        // pve-configid: a letter first, then letters, digits, `-` and `_`.
        assert_eq!(check_option("parent", "snap_1-a").unwrap(), "snap_1-a");
        assert_eq!(check_option("parent", "Ab").unwrap(), "Ab");
        for bad in ["1snap", "snap.1", "_snap", "a"] {
            assert_eq!(
                err("parent", bad),
                format!("invalid format - invalid configuration ID '{bad}'\n")
            );
        }
        // pve-tag-list: the first character a letter, digit or `_`.
        assert_eq!(
            check_option("tags", "_web;a+b.c-d").unwrap(),
            "_web;a+b.c-d"
        );
        for bad in ["+web", "-web", "web!"] {
            assert_eq!(
                err("tags", bad),
                "invalid format - invalid characters in tag\n",
                "{bad}"
            );
        }
        // A link-local IPv6 nameserver may name its interface; no other address may.
        for bad in [
            "fd00::1%eth0",
            "fe80::1%",
            "fe80::1%a b",
            "1.1.1.1%eth0",
            "dns.example",
        ] {
            assert_eq!(
                err("nameserver", bad),
                "invalid format - value does not look like a valid IP address\n",
                "{bad}"
            );
        }
        // pve-volume-id for the hookscript.
        assert_eq!(
            check_option("hookscript", "local:snippets/hook.pl").unwrap(),
            "local:snippets/hook.pl"
        );
        assert_eq!(
            err("hookscript", "/root/hook.pl"),
            "invalid format - unable to parse volume ID '/root/hook.pl'\n"
        );
        // entrypoint: no control characters but the tab.
        assert_eq!(
            check_option("entrypoint", "/sbin/init\t--log").unwrap(),
            "/sbin/init\t--log"
        );
        for bad in ["/sbin/init\u{1}", "\u{7f}"] {
            assert_eq!(
                err("entrypoint", bad),
                "value does not match the regex pattern"
            );
        }
        // env: NUL-separated `NAME=value`, the name of word characters, the value of anything
        // but control characters other than the tab.
        assert_eq!(
            check_option("env", "A_1=x y\0B=\tz").unwrap(),
            "A_1=x y\0B=\tz"
        );
        for bad in ["=1", "A-B=1", "A", "A=1\0B", "A=\u{1}"] {
            assert_eq!(
                err("env", bad),
                "value does not match the regex pattern",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn time_zones() {
        assert_eq!(
            check_option("timezone", "Europe/Vienna").unwrap(),
            "Europe/Vienna"
        );
        assert_eq!(check_option("timezone", "UTC").unwrap(), "UTC");
        assert!(looks_like_a_zone("America/Argentina/Buenos_Aires"));
        assert!(looks_like_a_zone("Etc/GMT+5") && looks_like_a_zone("Etc/GMT-5"));
        for bad in [
            "Europe//Vienna",
            "/Vienna",
            "Europe/Vienna/",
            "Europe/Wien!",
            "Europe/Wien x",
        ] {
            assert!(!looks_like_a_zone(bad), "{bad}");
        }
    }

    #[test]
    fn integers_are_an_optional_sign_and_digits() {
        assert_eq!(check_option("swap", "+0").unwrap(), "0");
        assert_eq!(check_option("swap", "0128").unwrap(), "128");
        for bad in ["", "+", "-", "+-1", " 1", "1 ", "1.0", "1e3", "\u{663}"] {
            assert_eq!(
                check_option("swap", bad).unwrap_err().0,
                format!("type check ('integer') failed - got '{bad}'"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ranges_and_lengths_at_their_bounds() {
        assert_eq!(check_option("cpulimit", "0").unwrap(), "0");
        assert_eq!(check_option("cpulimit", "8192").unwrap(), "8192");
        assert_eq!(check_option("cpulimit", "1.5").unwrap(), "1.5");
        let longest = "a".repeat(255);
        assert_eq!(check_option("hostname", &longest).unwrap(), longest);
        assert_eq!(check_option("hostname", "web").unwrap(), "web");
        assert_eq!(
            check_option("description", &"d".repeat(8192))
                .unwrap()
                .len(),
            8192
        );
        assert_eq!(
            check_option("description", &"d".repeat(8193))
                .unwrap_err()
                .0,
            "value may only be 8192 characters long"
        );
    }

    #[test]
    fn file_numbers_are_digits_with_an_optional_fraction() {
        assert_eq!(check_type("cpulimit", "1.5").unwrap(), "1.5");
        assert_eq!(check_type("cpulimit", "2").unwrap(), "2");
        for bad in [".5", "5.", "1.x", "x.5", "-1", "1e3"] {
            assert_eq!(
                check_type("cpulimit", bad).unwrap_err().to_string(),
                format!("type check ('number') failed - got '{bad}'")
            );
        }
        // entrypoint and env are patterns, which a file read does not check.
        assert_eq!(
            check_type("entrypoint", "/sbin/init\u{1}").unwrap(),
            "/sbin/init\u{1}"
        );
        assert_eq!(check_type("env", "A-B=1").unwrap(), "A-B=1");
    }

    #[test]
    fn file_checks_are_looser() {
        assert_eq!(check_type("ostype", "redhat").unwrap(), "redhat");
        assert_eq!(check_type("memory", "0512").unwrap(), "512");
        assert_eq!(check_type("memory", "1").unwrap(), "1");
        assert_eq!(
            check_type("memory", "-1").unwrap_err().to_string(),
            "type check ('integer') failed - got '-1'"
        );
        assert_eq!(check_type("onboot", "On").unwrap(), "1");
        assert!(matches!(
            check_type("foo", "1"),
            Err(ValueError::UnknownSetting { key }) if key == "foo"
        ));
        assert!(matches!(
            check_type("memory", "x"),
            Err(ValueError::Type {
                expected: "integer",
                ..
            })
        ));
        assert!(matches!(
            check_type("net0", "bogus=1"),
            Err(ValueError::Property(_))
        ));
        assert_eq!(
            check_type("foo", "1").unwrap_err().to_string(),
            "unknown setting 'foo'"
        );
        assert_eq!(
            check_type("hostname", "a\rb").unwrap_err().to_string(),
            "property contains a line feed"
        );
        assert_eq!(
            check_type("hostname", "bad_name").unwrap_err().to_string(),
            "value does not look like a valid DNS name"
        );
        assert_eq!(
            check_type("net0", "bridge=vmbr0,name=eth0").unwrap(),
            "bridge=vmbr0,name=eth0"
        );
    }
}
