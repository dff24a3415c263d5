//! openSUSE (Leap, Tumbleweed, Slowroll) and SLES: wicked's ifcfg files, and networkd where
//! the guest has it.

use super::{Distro, Probe};
use crate::setup::base::{devttydir, remove_lxc_name_from_etc_hosts, setup_securetty};
use crate::setup::context::Setup;
use crate::setup::distro::centos::default_locale;
use crate::setup::error::SetupError;
use crate::setup::network::suse::setup_suse_network;
use crate::setup::systemd::{fixup_old_getty, setup_container_getty_service};

pub struct OpenSuse;

/// `text` without the one trailing newline Perl's `$` would let a match ignore.
fn strip_final_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Leap 42.x and later, 13.0–13.2, SLES 12, and 15/16 of either.
fn check_numbered_release(
    version: &str,
    major: &str,
    minor: &str,
    id: &str,
) -> Result<(), SetupError> {
    let major: f64 = major.parse().unwrap_or(0.0);
    let minor: f64 = minor.parse().unwrap_or(0.0);
    let supported = major >= 42.0
        || (major == 13.0 && minor <= 2.0)
        || (id == "sles" && major == 12.0)
        || major == 15.0
        || major == 16.0;
    if supported {
        Ok(())
    } else {
        Err(SetupError::Unsupported {
            ostype: "opensuse",
            version: version.to_string(),
        })
    }
}

/// A rolling release's `YYYYMMDD`, from 2017 on.
fn check_dated_release(version: &str, date: &str) -> Result<(), SetupError> {
    let field = |range: std::ops::Range<usize>| date[range].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (field(0..4), field(4..6), field(6..8));
    if year >= 2017 && month <= 12 && day <= 31 {
        Ok(())
    } else {
        Err(SetupError::Unsupported {
            ostype: "opensuse",
            version: version.to_string(),
        })
    }
}

fn check_release(version: Option<&str>, id: &str) -> Result<(), SetupError> {
    let version_text = version.unwrap_or("");
    let bare = strip_final_newline(version_text);
    if let Some((major, minor)) = bare.split_once('.')
        && all_digits(major)
        && all_digits(minor)
    {
        return check_numbered_release(version_text, major, minor, id);
    }
    if bare.len() == 8 && all_digits(bare) {
        return check_dated_release(version_text, bare);
    }
    Err(SetupError::UnrecognizedVersion {
        ostype: "opensuse",
        text: version_text.to_string(),
    })
}

impl OpenSuse {
    pub fn new(probe: &mut Probe) -> Result<OpenSuse, SetupError> {
        let id = probe.os_release.get("ID").unwrap_or("");
        check_release(probe.os_release.get("VERSION_ID"), id)?;
        Ok(OpenSuse)
    }
}

impl Distro for OpenSuse {
    fn ostype(&self) -> &'static str {
        "opensuse"
    }

    fn template_fixup(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_securetty(setup, devttydir(setup.conf), &[])?;
        default_locale(setup)?;
        // systemd-firstboot would ask for a time zone as well.
        if !setup.root.is_file("/etc/localtime") {
            setup
                .root
                .symlink("/usr/share/zoneinfo/UTC", "/etc/localtime");
        }
        remove_lxc_name_from_etc_hosts(setup)
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), SetupError> {
        fixup_old_getty(setup)?;
        setup_container_getty_service(setup, devttydir(setup.conf))
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_suse_network(setup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::distro::centos::tests::{conf, error_text, fixture, probe, read, run};
    use std::path::Path;

    fn check(id: &str, version: &str) -> Result<(), SetupError> {
        let dir = fixture(&[(
            "/etc/os-release",
            &format!("ID=\"{id}\"\nVERSION_ID=\"{version}\"\n"),
        )]);
        probe(dir.path(), OpenSuse::new).map(|_| ())
    }

    #[test]
    fn version_gates() {
        for (id, version) in [
            ("opensuse-leap", "15.5"),
            ("opensuse-leap", "16.0"),
            ("opensuse", "42.3"),
            ("opensuse", "13.2"),
            ("sles", "12.5"),
            ("opensuse-tumbleweed", "20240101"),
            ("opensuse-tumbleweed", "20170001"),
        ] {
            check(id, version).unwrap_or_else(|e| panic!("{id} {version}: {e}"));
        }
        assert_eq!(
            error_text(check("opensuse-leap", "12.3")),
            "unsupported suse release '12.3'"
        );
        assert_eq!(
            error_text(check("opensuse", "13.3")),
            "unsupported suse release '13.3'"
        );
        assert_eq!(
            error_text(check("opensuse-tumbleweed", "20161231")),
            "unsupported suse tumbleweed release '20161231'"
        );
        assert_eq!(
            error_text(check("opensuse-tumbleweed", "20241301")),
            "unsupported suse tumbleweed release '20241301'"
        );
        assert_eq!(
            error_text(check("opensuse", "15")),
            "unrecognized suse release"
        );
        assert_eq!(
            error_text(check("opensuse", "15.5.1")),
            "unrecognized suse release"
        );
        let dir = fixture(&[("/etc/os-release", "ID=opensuse\n")]);
        assert_eq!(
            error_text(probe(dir.path(), OpenSuse::new).map(|_| ())),
            "unrecognized suse release"
        );
        assert!(matches!(
            check("opensuse-tumbleweed", "20161231"),
            Err(SetupError::Unsupported { ostype: "opensuse", version }) if version == "20161231"
        ));
        assert!(matches!(
            check("opensuse", "15"),
            Err(SetupError::UnrecognizedVersion { ostype: "opensuse", text }) if text == "15"
        ));
        // Perl's `$` lets one trailing newline pass.
        check_release(Some("15.5\n"), "opensuse").unwrap();
    }

    #[test]
    fn template_fixup_sets_locale_and_utc() {
        let dir = fixture(&[
            ("/etc/hosts", "127.0.1.1 LXC_NAME\n::1 localhost\n"),
            ("/etc/securetty", "console"),
        ]);
        run(dir.path(), &conf("ct", &[]), |setup| {
            OpenSuse.template_fixup(setup)
        })
        .unwrap();
        assert_eq!(read(dir.path(), "/etc/locale.conf").unwrap(), "LANG=C.utf8");
        assert_eq!(
            std::fs::read_link(dir.path().join("etc/localtime")).unwrap(),
            Path::new("/usr/share/zoneinfo/UTC")
        );
        assert_eq!(read(dir.path(), "/etc/hosts").unwrap(), "::1 localhost\n");
        assert_eq!(
            read(dir.path(), "/etc/securetty").unwrap(),
            "console\nlxc/console\nlxc/tty1\nlxc/tty2\nlxc/tty3\nlxc/tty4\n"
        );
    }

    #[test]
    fn unprivileged_ttys_have_no_directory() {
        let dir = fixture(&[("/etc/securetty", "console\n")]);
        let mut conf = conf("ct", &[]);
        conf.unprivileged = true;
        run(dir.path(), &conf, |setup| OpenSuse.template_fixup(setup)).unwrap();
        assert_eq!(
            read(dir.path(), "/etc/securetty").unwrap(),
            "console\ntty1\ntty2\ntty3\ntty4\n"
        );
    }

    #[test]
    fn hostname_is_the_short_name() {
        let dir = fixture(&[]);
        run(dir.path(), &conf("ct.example.com", &[]), |setup| {
            OpenSuse.set_hostname(setup)
        })
        .unwrap();
        assert_eq!(read(dir.path(), "/etc/hostname").unwrap(), "ct\n");
    }
}
