//! What every managed distribution gets, pct's Base plugin: host name and `/etc/hosts`,
//! resolv.conf, the time zone, machine-id, securetty, and the checks on systemd.

use super::context::{GuestConfig, Setup};
use super::error::SetupError;
use super::root::{GuestRoot, ModifyOptions};
use super::section::{Placement, perl_lines, remove_sections};
use crate::config::{Ip4Config, Ip6Config};

/// The SSH host keys pct makes at create: ssh-keygen type and file name.
pub const SSH_HOST_KEY_TYPES: &[(&str, &str)] = &[
    ("rsa", "ssh_host_rsa_key"),
    ("ecdsa", "ssh_host_ecdsa_key"),
    ("ed25519", "ssh_host_ed25519_key"),
];

/// pct's `split_list`: words separated by white space, commas or semicolons.
pub fn split_list(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|word| !word.is_empty())
        .collect()
}

/// Perl truth of an optional string: neither missing, empty nor `"0"`.
pub fn truthy(text: Option<&str>) -> bool {
    text.is_some_and(|t| !t.is_empty() && t != "0")
}

/// A privileged container's ttys live in /dev/lxc/; unprivileged ones cannot use that.
pub fn devttydir(conf: &GuestConfig) -> &'static str {
    if conf.unprivileged { "" } else { "lxc/" }
}

/// net0's static addresses without their prefix, pct's `get_primary_ips`.
pub fn primary_ips(conf: &GuestConfig) -> (Option<String>, Option<String>) {
    let Some((_, net0)) = conf.nets.iter().find(|(index, _)| *index == 0) else {
        return (None, None);
    };
    let ipv4 = match &net0.ip {
        Some(Ip4Config::Static { address, .. }) => Some(address.clone()),
        _ => None,
    };
    let ipv6 = match &net0.ip6 {
        Some(Ip6Config::Static { address, .. }) => Some(address.clone()),
        _ => None,
    };
    (ipv4, ipv6)
}

/// Search domains and name servers: the config's, else the host's (`lookup_dns_conf`).
pub fn lookup_dns(setup: &Setup) -> (Option<String>, String) {
    let search = setup
        .conf
        .searchdomain
        .clone()
        .or_else(|| setup.host.search.clone());
    let nameservers = setup
        .conf
        .nameserver
        .clone()
        .unwrap_or_else(|| setup.host.nameservers.join(" "));
    (search, nameservers)
}

fn has_line_starting(text: &str, address: &str) -> bool {
    text.lines().any(|line| {
        line.trim_start_matches([' ', '\t'])
            .strip_prefix(address)
            .is_some_and(|rest| rest.starts_with([' ', '\t']))
    })
}

/// `/etc/hosts`'s managed section for `hostname` and the primary address, pct's
/// `update_etc_hosts`.
pub fn update_etc_hosts(
    setup: &Setup,
    host_ip: Option<&str>,
    hostname: &str,
    search: Option<&str>,
) -> Result<(), SetupError> {
    const HOSTS: &str = "/etc/hosts";
    if setup.root.is_ignored(HOSTS) {
        return Ok(());
    }
    let short = hostname.split('.').next().unwrap_or(hostname);
    let all_names = if hostname.contains('.') {
        format!("{hostname} {short}")
    } else {
        let mut names: Vec<String> = split_list(search.unwrap_or(""))
            .into_iter()
            .map(|domain| format!("{hostname}.{domain}"))
            .collect();
        names.push(hostname.to_string());
        names.join(" ")
    };
    let lo4 = "127.0.0.1 localhost.localnet localhost\n";
    let lo6 = "::1 localhost.localnet localhost\n";
    let mut section = String::new();
    if setup.root.is_file(HOSTS) {
        let data = remove_sections(&setup.read(HOSTS)?);
        if !has_line_starting(&data, "127.0.0.1") {
            section.push_str(lo4);
        }
        if !has_line_starting(&data, "::1") {
            section.push_str(lo6);
        }
    } else {
        section.push_str(lo4);
        section.push_str(lo6);
    }
    match host_ip {
        Some(ip) => section.push_str(&format!("{ip} {all_names}\n")),
        None if short != "localhost" => section.push_str(&format!("127.0.1.1 {all_names}\n")),
        None => section.push_str(&format!("127.0.1.1 {short}\n")),
    }
    setup.modify(HOSTS, &section, ModifyOptions::default())
}

/// `/etc/hosts` for the configured host name, net0's address and the search domains.
pub fn update_etc_hosts_for_config(setup: &Setup) -> Result<(), SetupError> {
    let (ipv4, ipv6) = primary_ips(setup.conf);
    let (search, _) = lookup_dns(setup);
    update_etc_hosts(
        setup,
        ipv4.or(ipv6).as_deref(),
        setup.conf.hostname(),
        search.as_deref(),
    )
}

/// `/etc/hostname` (the short name) and `/etc/hosts`.
pub fn set_hostname(setup: &mut Setup) -> Result<(), SetupError> {
    update_etc_hosts_for_config(setup)?;
    let short = setup.conf.short_hostname().to_string();
    setup.write("/etc/hostname", &format!("{short}\n"), None)
}

/// The resolv.conf pct writes for the config's (or the host's) DNS settings.
pub fn resolv_conf_data(search: Option<&str>, nameservers: &str) -> String {
    let mut data = String::new();
    if truthy(search) {
        data.push_str(&format!(
            "search {}\n",
            split_list(search.unwrap_or("")).join(" ")
        ));
    }
    for server in split_list(nameservers) {
        data.push_str(&format!("nameserver {server}\n"));
    }
    data
}

/// `/etc/resolv.conf`, all of it a managed section.
pub fn set_dns(setup: &mut Setup) -> Result<(), SetupError> {
    let (search, nameservers) = lookup_dns(setup);
    let data = resolv_conf_data(search.as_deref(), &nameservers);
    setup.modify(
        "/etc/resolv.conf",
        &data,
        ModifyOptions {
            placement: Placement::Replace,
            ..ModifyOptions::default()
        },
    )
}

/// `/etc/localtime` as a link to the zone (or the host's zone), and `/etc/timezone` where
/// the guest has one.
pub fn set_timezone(setup: &mut Setup) -> Result<(), SetupError> {
    let Some(zone) = setup.conf.timezone.clone() else {
        return Ok(());
    };
    let zone_path = if zone == "host" {
        setup.host.localtime.clone().unwrap_or_default()
    } else {
        format!("/usr/share/zoneinfo/{zone}")
    };
    if !setup.root.is_file(&zone_path) {
        setup.warn(format!(
            "container does not have {zone_path}, timezone can not be modified"
        ));
        return Ok(());
    }
    if setup.root.canonicalize("/etc/localtime").as_deref() != Some(zone_path.as_str()) {
        let temp = format!("/localtime.{}.new.tmpfile", std::process::id());
        setup.root.symlink(&zone_path, &temp);
        if !setup.root.rename(&temp, "/etc/localtime") {
            setup.root.unlink(&temp);
        }
    }
    if setup.root.is_file("/etc/timezone") {
        let contents = if zone == "host" {
            setup.host.timezone.clone().unwrap_or_default()
        } else {
            zone
        };
        setup.write("/etc/timezone", &format!("{contents}\n"), None)?;
    }
    Ok(())
}

/// Whether the guest runs systemd, as pct tells.
pub fn uses_systemd(root: &GuestRoot) -> bool {
    root.is_executable("/lib/systemd/systemd") || root.is_executable("/usr/lib/systemd/systemd")
}

/// A new container must make its own machine-id; a clone keeps the file but empties it.
pub fn clear_machine_id(setup: &mut Setup, clone: bool) -> Result<(), SetupError> {
    const DBUS: &str = "/var/lib/dbus/machine-id";
    const MACHINE_ID: &str = "/etc/machine-id";
    let systemd = uses_systemd(setup.root);
    let existed = setup.root.is_file(MACHINE_ID);
    if setup.root.is_file(DBUS) && !setup.root.is_symlink(DBUS) && systemd {
        setup.root.unlink(DBUS);
    }
    if existed {
        if clone {
            let old = setup.root.read_first_line(MACHINE_ID).unwrap_or_default();
            if systemd && old != "uninitialized" {
                setup.write(MACHINE_ID, "\n", None)?;
            }
        } else {
            setup.root.unlink(MACHINE_ID);
        }
    }
    Ok(())
}

/// Let root log in on the container's console and first ttys: append them to
/// `/etc/securetty` where it exists. `add` overrides pct's default list.
pub fn setup_securetty(setup: &Setup, ttydir: &str, add: &[&str]) -> Result<(), SetupError> {
    const SECURETTY: &str = "/etc/securetty";
    if !setup.root.is_file(SECURETTY) {
        return Ok(());
    }
    let devices: Vec<String> = if add.is_empty() {
        ["console", "tty1", "tty2", "tty3", "tty4"]
            .iter()
            .map(|dev| format!("{ttydir}{dev}"))
            .collect()
    } else {
        add.iter().map(|dev| dev.to_string()).collect()
    };
    let mut data = setup.read(SECURETTY)?;
    if data.ends_with('\n') {
        data.pop();
    }
    data.push('\n');
    for dev in devices {
        let present = data.lines().any(|line| {
            line.strip_prefix(dev.as_str())
                .is_some_and(|rest| rest.trim().is_empty())
        });
        if !present {
            data.push_str(&dev);
            data.push('\n');
        }
    }
    setup.write(SECURETTY, &data, None)
}

/// Templates from images.linuxcontainers.org carry a bogus `127.0.1.1 LXC_NAME` line.
pub fn remove_lxc_name_from_etc_hosts(setup: &Setup) -> Result<(), SetupError> {
    const HOSTS: &str = "/etc/hosts";
    if !setup.root.exists(HOSTS) {
        return Ok(());
    }
    let hosts = setup.read(HOSTS)?;
    let kept: Vec<&str> = perl_lines(&hosts)
        .into_iter()
        .filter(|line| !is_lxc_name_line(line))
        .collect();
    setup.write(HOSTS, &(kept.join("\n") + "\n"), None)
}

/// `/^127.0.1.1\s+LXC_NAME$/`, dots matching any character as in pct's pattern.
fn is_lxc_name_line(line: &str) -> bool {
    let Some(rest) = line.strip_suffix("LXC_NAME") else {
        return false;
    };
    let bytes = rest.as_bytes();
    if bytes.len() < 10 || !rest.is_char_boundary(9) {
        return false;
    }
    let (address, gap) = rest.split_at(9);
    let pattern = b"127.0.1.1";
    let address_ok = address
        .bytes()
        .zip(pattern)
        .all(|(got, want)| *want == b'.' || got == *want);
    address_ok && !gap.is_empty() && gap.chars().all(char::is_whitespace)
}

/// `/sbin/init`, followed through its links inside the container.
pub fn init_path(root: &GuestRoot) -> Result<String, SetupError> {
    const INIT: &str = "/sbin/init";
    if root.is_symlink(INIT) {
        root.readlink_recursive(INIT)
    } else {
        Ok(INIT.to_string())
    }
}

/// The major version of systemd behind `init`, from the `libsystemd-shared-<N>.so` it is
/// linked against (the name pct reads from `objdump -p`).
pub fn systemd_version(root: &GuestRoot, init: &str) -> Option<u32> {
    let binary = root.read_bytes(init).ok()??;
    const NEEDLE: &[u8] = b"libsystemd-shared-";
    let mut found = None;
    let mut start = 0;
    while let Some(offset) = find(&binary[start..], NEEDLE) {
        let digits_at = start + offset + NEEDLE.len();
        let digits: Vec<u8> = binary[digits_at..]
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        let tail = &binary[digits_at + digits.len()..];
        let name_end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        let suffix_ok = tail[..name_end].ends_with(b".so")
            && tail[..name_end]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b));
        if !digits.is_empty() && suffix_ok {
            found = std::str::from_utf8(&digits).ok()?.parse().ok();
        }
        start = digits_at;
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// What init is, for pct's checks on systemd: `None` when `/sbin/init` is not systemd,
/// else systemd's major version if it can be told. Read once per setup run; the binary is
/// scanned for its library name.
pub fn init_systemd(root: &GuestRoot) -> Option<Option<u32>> {
    let init = init_path(root).ok()?;
    init.ends_with("/systemd")
        .then(|| systemd_version(root, &init))
}

/// pct's warning for a systemd newer than 241 without `nesting`.
pub fn systemd_nesting_warning(systemd: Option<Option<u32>>, conf: &GuestConfig) -> Option<String> {
    let version = systemd.flatten().filter(|_| !conf.nesting)?;
    (version > 241).then(|| format!("Systemd {version} detected. You may need to enable nesting."))
}

/// Whether the guest's init copes with a cgroup2-only host (systemd from 232 on; anything
/// that is not systemd is assumed to).
pub fn unified_cgroupv2_support(systemd: Option<Option<u32>>) -> bool {
    match systemd {
        None => true,
        Some(version) => version.is_some_and(|version| version >= 232),
    }
}

#[cfg(test)]
mod tests;
