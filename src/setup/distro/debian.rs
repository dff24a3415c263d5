//! Debian: ifupdown's `/etc/network/interfaces`, systemd's container getty or sysvinit's
//! inittab, and the snakeoil certificate some templates ship. Devuan and Ubuntu build on the
//! functions here, Alpine on the inittab and interfaces ones.

use super::{Distro, Probe};
use crate::setup::context::{GuestConfig, Setup};
use crate::setup::error::{FileAction, SetupError};
use crate::setup::network::interfaces::{AddressForm, setup_interfaces};
use crate::setup::root::GuestRoot;
use crate::setup::systemd::{
    init_links_to_systemd, setup_container_getty_service, setup_systemd_preset,
};

/// Older than this is refused.
const MINIMUM_RELEASE: u64 = 4;
/// Newer than this gets a warning: it has not been tested.
const MAXIMUM_RELEASE: u64 = 14;

const INITTAB: &str = "/etc/inittab";

pub struct Debian {
    /// The major release (for Devuan, the Debian release it follows).
    pub(super) version: u64,
    /// `debian` or `devuan`: Devuan is Debian's plugin under another name, which also
    /// keeps it on the netmask address form.
    pub(super) ostype: &'static str,
}

/// pct's `file_read_firstline`: the first line without its newline; nothing for a file that
/// is missing, unreadable or empty.
pub(super) fn file_read_firstline(root: &GuestRoot, path: &str) -> Option<String> {
    let data = root.read_bytes(path).ok()??;
    if data.is_empty() {
        return None;
    }
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    Some(String::from_utf8_lossy(line).into_owned())
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

/// The integer part of a version starting with digits (`12.7`, `9.1`, `10abc`).
fn major_of(version: &str) -> Option<u64> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

pub(super) fn read_debian_version(root: &GuestRoot) -> Result<u64, SetupError> {
    let line = file_read_firstline(root, "/etc/debian_version")
        .ok_or(SetupError::NoVersion { ostype: "debian" })?;
    let version = mapped_version(&line);
    major_of(version).ok_or_else(|| SetupError::UnrecognizedVersion {
        ostype: "debian",
        text: version.to_string(),
    })
}

impl Debian {
    pub fn new(probe: &mut Probe) -> Result<Debian, SetupError> {
        let version = read_debian_version(probe.root)?;
        if version < MINIMUM_RELEASE {
            return Err(SetupError::Unsupported {
                ostype: "debian",
                version: version.to_string(),
            });
        }
        if version > MAXIMUM_RELEASE {
            probe.warnings.push(format!(
                "The container's Debian version '{version}' is newer than the tested version \
                 '{MAXIMUM_RELEASE}'. While everything may work fine, full compatibility cannot \
                 be guaranteed. Please check for PVE system updates."
            ));
        }
        Ok(Debian {
            version,
            ostype: "debian",
        })
    }
}

/// Perl's `\s` on bytes.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn trim_start(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(text.len());
    &text[start..]
}

/// `text` after a run of at least `min` ASCII digits, if it starts with one.
fn skip_digits(text: &[u8], min: usize) -> Option<&[u8]> {
    let count = text.iter().take_while(|b| b.is_ascii_digit()).count();
    (count >= min).then(|| &text[count..])
}

/// `/^\s*<prefix>\d+:\d*:[^:]*:.*getty/`: an inittab getty line, its id after `prefix`
/// (none on Debian, `tty` on Alpine).
pub(super) fn is_getty_line(line: &[u8], prefix: &str) -> bool {
    let matched = || -> Option<bool> {
        let rest = trim_start(line).strip_prefix(prefix.as_bytes())?;
        let rest = skip_digits(rest, 1)?.strip_prefix(b":")?;
        let rest = skip_digits(rest, 0)?.strip_prefix(b":")?;
        let process = &rest[rest.iter().position(|&b| b == b':')? + 1..];
        Some(process.windows(5).any(|window| window == b"getty"))
    };
    matched().unwrap_or(false)
}

/// `/^\s*p[fno0]:/`: sysvinit's power-event lines.
fn is_power_line(line: &[u8]) -> bool {
    matches!(
        trim_start(line),
        [b'p', b'f' | b'n' | b'o' | b'0', b':', ..]
    )
}

/// Perl's `split(/\n/, ...)`: trailing empty lines are dropped.
fn perl_split_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    lines
}

/// Rewrite `/etc/inittab`, where there is one, without the lines `drop` matches and with
/// `appended` at its end. Bytes pct keeps are kept as they are.
pub(super) fn rewrite_inittab(
    setup: &Setup,
    drop: impl Fn(&[u8]) -> bool,
    appended: &str,
) -> Result<(), SetupError> {
    if !setup.root.is_file(INITTAB) {
        return Ok(());
    }
    let inittab = match setup.root.read_bytes(INITTAB) {
        Ok(Some(data)) => data,
        Ok(None) => return Err(SetupError::missing(FileAction::Open, INITTAB)),
        Err(e) => return Err(SetupError::io(FileAction::Open, INITTAB, e)),
    };
    let kept: Vec<&[u8]> = perl_split_lines(&inittab)
        .into_iter()
        .filter(|line| !drop(line))
        .collect();
    let mut text = kept.join(&b'\n');
    text.push(b'\n');
    text.extend_from_slice(appended.as_bytes());
    setup
        .root
        .write(INITTAB, &text, None)
        .map_err(|e| SetupError::io(FileAction::Write, INITTAB, e))
}

/// The gettys on the container's ttys (7 is X11's) and the power-fail line sysvinit needs.
fn sysvinit_lines(ttys: u32, version: u64) -> String {
    let mut text = String::from("p0::powerfail:/sbin/init 0\n");
    // getty before Debian 7 has no --noclear.
    let option = if version < 7 { "-L" } else { "--noclear" };
    for id in (1..=ttys).filter(|&id| id != 7) {
        let levels = if id == 1 { "2345" } else { "23" };
        text.push_str(&format!(
            "{id}:{levels}:respawn:/sbin/getty {option} 38400 tty{id}\n"
        ));
    }
    text
}

/// sysvinit's gettys and power-fail line replace the template's.
pub(super) fn setup_inittab(setup: &Setup, version: u64) -> Result<(), SetupError> {
    rewrite_inittab(
        setup,
        |line| is_getty_line(line, "") || is_power_line(line),
        &sysvinit_lines(setup.conf.tty, version),
    )
}

/// Debian's init setup, shared with the distributions built on it.
pub(super) fn setup_init(setup: &Setup, version: u64, ttydir: &str) -> Result<(), SetupError> {
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
pub(super) fn snakeoil_fixup(setup: &mut Setup) -> Result<(), SetupError> {
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
    // Even if regeneration never happens, the shared key must not be used.
    setup.root.unlink(KEY);
    Ok(())
}

/// pct writes `address ip/prefix` only for Debian itself from 10 on.
fn address_form(version: u64) -> AddressForm {
    if version >= 10 {
        AddressForm::Cidr
    } else {
        AddressForm::Netmask
    }
}

/// `/etc/network/interfaces` for the container's named NICs.
pub(super) fn setup_network(setup: &Setup, form: AddressForm) -> Result<(), SetupError> {
    setup_interfaces(setup, setup.conf.named_nets(), form)
}

impl Distro for Debian {
    fn ostype(&self) -> &'static str {
        self.ostype
    }

    fn devttydir(&self, _conf: &GuestConfig) -> &'static str {
        ""
    }

    fn snakeoil_fixup(&self, setup: &mut Setup) -> Result<(), SetupError> {
        snakeoil_fixup(setup)
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_init(setup, self.version, "")
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError> {
        let form = if self.ostype == "debian" {
            address_form(self.version)
        } else {
            AddressForm::Netmask
        };
        setup_network(setup, form)
    }
}

#[cfg(test)]
mod tests;
