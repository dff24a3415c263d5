//! systemd inside the guest: gettys on the container's ttys, first-boot presets, and units
//! that make no sense in a container.

use super::context::Setup;
use super::error::SetupError;

/// Where the guest keeps its unit files.
fn unit_dir(setup: &Setup) -> &'static str {
    if setup.root.is_executable("/lib/systemd/systemd") {
        "/lib/systemd/system"
    } else {
        "/usr/lib/systemd/system"
    }
}

/// systemd before `container-getty@` (CentOS 7.1's 205) needs getty@ to accept /dev/tty;
/// with a newer systemd that change is undone.
pub fn fixup_old_getty(setup: &Setup) -> Result<(), SetupError> {
    let dir = unit_dir(setup);
    let getty = format!("{dir}/getty@.service");
    if !setup.root.is_file(&getty) {
        return Ok(());
    }
    let raw = setup.read(&getty)?;
    let (from, to) = if setup
        .root
        .is_file(&format!("{dir}/container-getty@.service"))
    {
        (
            "ConditionPathExists=/dev/tty",
            "ConditionPathExists=/dev/tty0",
        )
    } else {
        (
            "ConditionPathExists=/dev/tty0",
            "ConditionPathExists=/dev/tty",
        )
    };
    // The first line that is exactly `from`, as pct's /m substitution without /g.
    let mut changed = false;
    let lines: Vec<&str> = raw.split('\n').collect();
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if !changed && line == from {
            out.push(to);
            changed = true;
        } else {
            out.push(line);
        }
    }
    if changed {
        setup.write(&getty, &out.join("\n"), None)?;
    }
    Ok(())
}

/// Point `container-getty@` at the container's ttys and enable one instance per configured
/// tty (none twice), with getty.target unmasked.
pub fn setup_container_getty_service(setup: &Setup, ttydir: &str) -> Result<(), SetupError> {
    let dir = unit_dir(setup);
    let mut template_path = format!("{dir}/container-getty@.service");
    let mut instance_base = "container-getty@".to_string();
    if !setup.root.is_file(&template_path) {
        // pct's fallback names a path relative to the chroot's `/` and a literal
        // `{getty@}tty` instance; kept so the same guests get the same result.
        template_path = "/getty@.service".into();
        instance_base = "{getty@}tty".into();
        if !setup.root.is_file(&template_path) {
            return Ok(());
        }
    }
    let raw = setup.read(&template_path)?;
    let tty_name = format!("{ttydir}tty%I");
    let rewritten = raw.replace("pts/%I", "\0").replace("lxc/tty%I", "\0");
    if rewritten != raw {
        setup.write(&template_path, &rewritten.replace('\0', &tty_name), None)?;
    }
    let wants = "/etc/systemd/system/getty.target.wants";
    for i in 1..7 {
        setup.root.unlink(&format!("{wants}/getty@tty{i}.service"));
        setup
            .root
            .unlink(&format!("{wants}/container-getty@{i}.service"));
        if i <= setup.conf.tty {
            setup.root.symlink(
                &template_path,
                &format!("{wants}/{instance_base}{i}.service"),
            );
        }
    }
    setup.root.unlink("/etc/systemd/system/getty.target");
    Ok(())
}

/// `/etc/systemd/system-preset/00-pve.preset`, read by systemd on first boot: the units that
/// make no sense in a container off, container-getty on, plus a distribution's `extra`.
pub fn setup_systemd_preset(setup: &Setup, extra: &[(&str, bool)]) -> Result<(), SetupError> {
    let mut preset: std::collections::BTreeMap<&str, bool> = [
        ("sys-kernel-config.mount", false),
        ("sys-kernel-debug.mount", false),
        ("getty@.service", false),
        ("container-getty@.service", true),
    ]
    .into_iter()
    .collect();
    preset.extend(extra.iter().copied());
    let mut data = String::from("# Added by PVE at create-time for first-boot configuration.\n");
    for (unit, enabled) in preset {
        data.push_str(if enabled { "enable " } else { "disable " });
        data.push_str(unit);
        data.push('\n');
    }
    setup.make_path("/etc/systemd/system-preset")?;
    setup.write("/etc/systemd/system-preset/00-pve.preset", &data, None)
}

/// Mask static units presets cannot disable, unless the guest already has an entry there.
pub fn setup_systemd_disable_static_units(setup: &Setup, extra: &[&str]) {
    for unit in ["sys-kernel-config.mount", "sys-kernel-debug.mount"]
        .iter()
        .chain(extra)
    {
        let path = format!("/etc/systemd/system/{unit}");
        if !setup.root.is_file(&path) {
            setup.root.symlink("/dev/null", &path);
        }
    }
}

/// Whether `/sbin/init` links to systemd (pct's test: its link target ends in `/systemd`).
pub fn init_links_to_systemd(setup: &Setup) -> bool {
    setup
        .root
        .readlink("/sbin/init")
        .is_some_and(|target| target.ends_with("/systemd"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::context::{GuestConfig, HostEnv};
    use crate::setup::random::Drand48;
    use crate::setup::root::GuestRoot;
    use std::fs;

    fn with_setup(dir: &std::path::Path, conf: &GuestConfig, check: impl FnOnce(&mut Setup)) {
        let root = GuestRoot::open(dir, None).unwrap();
        let host = HostEnv::default();
        let mut random = Drand48::seeded(0);
        let mut setup = Setup::new(&root, conf, &host, &mut random);
        check(&mut setup);
    }

    #[test]
    fn container_getty_enables_one_instance_per_tty() {
        let dir = tempfile::tempdir().unwrap();
        let units = dir.path().join("lib/systemd/system");
        fs::create_dir_all(&units).unwrap();
        let systemd = dir.path().join("lib/systemd/systemd");
        fs::write(&systemd, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&systemd, fs::Permissions::from_mode(0o755)).unwrap();
        let wants = dir.path().join("etc/systemd/system/getty.target.wants");
        fs::create_dir_all(&wants).unwrap();
        fs::write(
            units.join("container-getty@.service"),
            "[Service]\nExecStart=-/sbin/agetty --noclear --keep-baud pts/%I 115200,38400,9600 $TERM\nTTYPath=/dev/pts/%I\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/x", wants.join("getty@tty1.service")).unwrap();
        std::os::unix::fs::symlink(
            "/dev/null",
            dir.path().join("etc/systemd/system/getty.target"),
        )
        .unwrap();
        let conf = GuestConfig {
            tty: 2,
            ..GuestConfig::default()
        };
        with_setup(dir.path(), &conf, |setup| {
            setup_container_getty_service(setup, "lxc/").unwrap();
        });
        assert_eq!(
            fs::read_to_string(units.join("container-getty@.service")).unwrap(),
            "[Service]\nExecStart=-/sbin/agetty --noclear --keep-baud lxc/tty%I 115200,38400,9600 $TERM\nTTYPath=/dev/lxc/tty%I\n"
        );
        let mut links: Vec<String> = fs::read_dir(&wants)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        links.sort();
        assert_eq!(
            links,
            ["container-getty@1.service", "container-getty@2.service"]
        );
        assert_eq!(
            fs::read_link(wants.join("container-getty@1.service")).unwrap(),
            std::path::Path::new("/lib/systemd/system/container-getty@.service")
        );
        assert!(fs::symlink_metadata(dir.path().join("etc/systemd/system/getty.target")).is_err());
    }

    #[test]
    fn preset_lists_units_sorted() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        with_setup(dir.path(), &GuestConfig::default(), |setup| {
            setup_systemd_preset(setup, &[("systemd-networkd.service", false)]).unwrap();
        });
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/systemd/system-preset/00-pve.preset")).unwrap(),
            "# Added by PVE at create-time for first-boot configuration.\n\
             enable container-getty@.service\n\
             disable getty@.service\n\
             disable sys-kernel-config.mount\n\
             disable sys-kernel-debug.mount\n\
             disable systemd-networkd.service\n"
        );
    }

    #[test]
    fn old_getty_condition_flips_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let units = dir.path().join("usr/lib/systemd/system");
        fs::create_dir_all(&units).unwrap();
        let getty = units.join("getty@.service");
        fs::write(&getty, "[Unit]\nConditionPathExists=/dev/tty0\n").unwrap();
        with_setup(dir.path(), &GuestConfig::default(), |setup| {
            fixup_old_getty(setup).unwrap()
        });
        assert_eq!(
            fs::read_to_string(&getty).unwrap(),
            "[Unit]\nConditionPathExists=/dev/tty\n"
        );
        fs::write(units.join("container-getty@.service"), "").unwrap();
        with_setup(dir.path(), &GuestConfig::default(), |setup| {
            fixup_old_getty(setup).unwrap()
        });
        assert_eq!(
            fs::read_to_string(&getty).unwrap(),
            "[Unit]\nConditionPathExists=/dev/tty0\n"
        );
    }

    #[test]
    fn static_units_are_masked_once() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/systemd/system")).unwrap();
        fs::write(
            dir.path().join("etc/systemd/system/dev-mqueue.mount"),
            "mine",
        )
        .unwrap();
        with_setup(dir.path(), &GuestConfig::default(), |setup| {
            setup_systemd_disable_static_units(setup, &["dev-mqueue.mount"])
        });
        let system = dir.path().join("etc/systemd/system");
        assert_eq!(
            fs::read_link(system.join("sys-kernel-debug.mount")).unwrap(),
            std::path::Path::new("/dev/null")
        );
        assert_eq!(
            fs::read_to_string(system.join("dev-mqueue.mount")).unwrap(),
            "mine"
        );
    }
}
