//! Debian: ifupdown's `/etc/network/interfaces`, systemd's container getty or sysvinit's
//! inittab, and the snakeoil certificate some templates ship.

use super::{Distro, Probe};
use crate::setup::context::{GuestConfig, Setup};
use crate::setup::network::interfaces::setup_interfaces;
use crate::setup::root::GuestRoot;
use crate::setup::section::perl_lines;
use crate::setup::systemd::{
    init_links_to_systemd, setup_container_getty_service, setup_systemd_preset,
};

/// Older than this is refused.
const MINIMUM_RELEASE: u32 = 4;
/// Newer than this gets a warning: it has not been tested.
const MAXIMUM_RELEASE: u32 = 14;

pub struct Debian {
    /// The major release.
    pub(super) version: u32,
}

/// Testing releases and derivatives whose debian_version names no number.
fn mapped_version(first_line: &str) -> &str {
    match first_line {
        "stretch/sid" => "9.1",
        "buster/sid" => "10",
        "bullseye/sid" => "11",
        "bookworm/sid" => "12",
        "trixie/sid" => "13",
        "forky/sid" => "14",
        "duke/sid" => "15",
        "kali-rolling" => "12",
        other => other,
    }
}

/// The leading integer of a version like `12.7` or `9.1`.
fn major_of(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub(super) fn read_debian_version(root: &GuestRoot) -> Result<u32, String> {
    let line = root
        .read_first_line("/etc/debian_version")
        .ok_or("unable to read version info")?;
    let version = mapped_version(&line);
    major_of(version).ok_or_else(|| format!("unable to parse version info '{version}'"))
}

impl Debian {
    pub fn new(probe: &mut Probe) -> Result<Debian, String> {
        let version = read_debian_version(probe.root)?;
        if version < MINIMUM_RELEASE {
            return Err(format!("Container Debian version '{version}' is too old"));
        }
        if version > MAXIMUM_RELEASE {
            probe.warnings.push(format!(
                "The container's Debian version '{version}' is newer than the tested version \
                 '{MAXIMUM_RELEASE}'. While everything may work fine, full compatibility cannot \
                 be guaranteed. Please check for PVE system updates."
            ));
        }
        Ok(Debian { version })
    }
}

/// sysvinit's gettys on the container's ttys and a power-fail line, replacing the
/// template's.
pub(super) fn setup_inittab(setup: &Setup, version: u32) -> Result<(), String> {
    const INITTAB: &str = "/etc/inittab";
    if !setup.root.is_file(INITTAB) {
        return Ok(());
    }
    let inittab = setup.read(INITTAB)?;
    let kept: Vec<&str> = perl_lines(&inittab)
        .into_iter()
        .filter(|line| !is_getty_line(line, "") && !is_power_line(line))
        .collect();
    let mut text = kept.join("\n") + "\n";
    text.push_str("p0::powerfail:/sbin/init 0\n");
    for id in (1..=setup.conf.tty).filter(|&id| id != 7) {
        let levels = if id == 1 { "2345" } else { "23" };
        let option = if version < 7 { "-L" } else { "--noclear" };
        text.push_str(&format!(
            "{id}:{levels}:respawn:/sbin/getty {option} 38400 tty{id}\n"
        ));
    }
    setup.write(INITTAB, &text, None)
}

/// `/^\s*<prefix>\d+:\d*:[^:]*:.*getty/`: an inittab getty line, its id after `prefix`
/// (none on Debian, `tty` on Alpine).
pub(super) fn is_getty_line(line: &str, prefix: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix(prefix) else {
        return false;
    };
    let id_len = rest.chars().take_while(char::is_ascii_digit).count();
    if id_len == 0 {
        return false;
    }
    let Some(rest) = rest[id_len..].strip_prefix(':') else {
        return false;
    };
    let levels_len = rest.chars().take_while(char::is_ascii_digit).count();
    let Some(rest) = rest[levels_len..].strip_prefix(':') else {
        return false;
    };
    rest.find(':')
        .is_some_and(|colon| rest[colon + 1..].contains("getty"))
}

/// `/^\s*p[fno0]:/`
fn is_power_line(line: &str) -> bool {
    let rest = line.trim_start().as_bytes();
    rest.len() >= 3 && rest[0] == b'p' && b"fno0".contains(&rest[1]) && rest[2] == b':'
}

/// Debian's init setup, shared with the distributions built on it.
pub(super) fn setup_init(setup: &Setup, version: u32, ttydir: &str) -> Result<(), String> {
    if init_links_to_systemd(setup) {
        setup_container_getty_service(setup, ttydir)?;
        if version >= 12 {
            // Debian uses ifupdown; systemd would enable networkd on first boot.
            setup_systemd_preset(setup, &[("systemd-networkd.service", false)])?;
        }
    }
    setup_inittab(setup, version)
}

const SNAKEOIL_UNIT: &str = "[Unit]
Description=\"Regenerate pre-generated snakeoil certificate and key-pair once\"
ConditionPathExists=/etc/ssl/certs/ssl-cert-snakeoil.pem
ConditionFirstBoot=yes
Wants=first-boot-complete.target
Before=first-boot-complete.target

[Service]
Type=oneshot
ExecStart=make-ssl-cert -f generate-default-snakeoil
";

/// A template with ssl-cert carries a key every container from it would share: have it
/// regenerated on first boot, and remove the key meanwhile.
pub(super) fn snakeoil_fixup(setup: &mut Setup) -> Result<(), String> {
    const KEY: &str = "/etc/ssl/private/ssl-cert-snakeoil.key";
    if !setup.root.is_file(KEY) {
        return Ok(());
    }
    if init_links_to_systemd(setup) {
        let unit = "proxmox-regenerate-snakeoil.service";
        let unit_path = format!("/etc/systemd/system/{unit}");
        setup.say(format!(
            "Setting up '{unit}' to regenerate snakeoil certificate.."
        ));
        setup.write(&unit_path, SNAKEOIL_UNIT, None)?;
        setup.make_path("/etc/systemd/system/first-boot-complete.target.wants")?;
        setup.root.symlink(
            &unit_path,
            &format!("/etc/systemd/system/first-boot-complete.target.wants/{unit}"),
        );
    } else {
        setup.warn("Template contains pre-generated snakeoil certificate!");
        setup.warn("Run `make-ssl-cert generate-default-snakeoil -f` to regenerate it!");
    }
    setup.root.unlink(KEY);
    Ok(())
}

impl Distro for Debian {
    fn ostype(&self) -> &'static str {
        "debian"
    }

    fn devttydir(&self, _conf: &GuestConfig) -> &'static str {
        ""
    }

    fn snakeoil_fixup(&self, setup: &mut Setup) -> Result<(), String> {
        snakeoil_fixup(setup)
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), String> {
        setup_init(setup, self.version, "")
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), String> {
        // `address ip/prefix` from Debian 10 on; Devuan and Ubuntu keep netmask lines.
        setup_interfaces(setup, self.version >= 10)
    }
}

#[cfg(test)]
mod tests;
