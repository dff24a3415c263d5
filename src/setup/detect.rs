//! Which distribution a rootfs holds, decided the way pct decides it: `ID` in os-release,
//! then the distributions' own release files.

use std::path::Path;

use super::rootfs::{exists_in_root, read_in_root};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The pct ostype (`debian`, `alpine`, ..., or `unmanaged`).
    pub ostype: &'static str,
    /// Warnings pct would print on the way.
    pub warnings: Vec<String>,
}

/// The ostype for an os-release `ID`, with pct's aliases.
fn ostype_for_id(id: &str) -> Option<&'static str> {
    Some(match id {
        "debian" => "debian",
        "devuan" => "devuan",
        "ubuntu" => "ubuntu",
        "centos" | "rocky" | "almalinux" => "centos",
        "fedora" => "fedora",
        "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" | "opensuse-slowroll" | "sles" => {
            "opensuse"
        }
        "archlinux" | "arch" => "archlinux",
        "alpine" => "alpine",
        "gentoo" => "gentoo",
        "nixos" => "nixos",
        "openeuler" | "openEuler" => "openeuler",
        _ => return None,
    })
}

/// The value of `ID` in os-release text: single quotes literal, double quotes with backslash
/// escapes, bare words.
fn os_release_id(text: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some(value) = line.strip_prefix("ID=") else {
            continue;
        };
        let value = if let Some(inner) = value.strip_prefix('\'') {
            inner.split('\'').next().unwrap_or("").to_string()
        } else if let Some(inner) = value.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    '"' => break,
                    c => out.push(c),
                }
            }
            out
        } else {
            value
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect()
        };
        return Some(value);
    }
    None
}

/// Detect the distribution of `rootfs`. `Err` carries pct's message when an os-release exists
/// but nothing can be made of it.
pub fn detect_ostype(rootfs: &Path) -> Result<Detection, String> {
    let mut warnings = Vec::new();
    let os_release = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|path| read_in_root(rootfs, path).ok().flatten());
    if let Some(text) = &os_release
        && let Some(id) = os_release_id(&String::from_utf8_lossy(text))
    {
        if let Some(ostype) = ostype_for_id(&id) {
            return Ok(Detection { ostype, warnings });
        }
        warnings.push(format!(
            "unknown ID '{id}' in /etc/os-release file, trying fallback detection"
        ));
    }
    let read = |path: &str| read_in_root(rootfs, path).ok().flatten();
    let exists = |path: &str| exists_in_root(rootfs, path);
    let lsb_is_ubuntu = read("/etc/lsb-release")
        .is_some_and(|text| String::from_utf8_lossy(&text).contains("DISTRIB_ID=Ubuntu"));
    let fallback: &[(bool, &'static str)] = &[
        (lsb_is_ubuntu, "ubuntu"),
        (exists("/etc/debian_version"), "debian"),
        (exists("/etc/devuan_version"), "devuan"),
        (
            exists("/etc/SuSE-brand") || exists("/etc/SuSE-release"),
            "opensuse",
        ),
        (exists("/etc/fedora-release"), "fedora"),
        (
            exists("/etc/centos-release") || exists("/etc/redhat-release"),
            "centos",
        ),
        (exists("/etc/arch-release"), "archlinux"),
        (exists("/etc/alpine-release"), "alpine"),
        (exists("/etc/gentoo-release"), "gentoo"),
        (exists("/nix/store"), "nixos"),
        (exists("/etc/openEuler-release"), "openeuler"),
    ];
    if let Some((_, ostype)) = fallback.iter().find(|(found, _)| *found) {
        return Ok(Detection { ostype, warnings });
    }
    if os_release.is_some() {
        return Err("unable to detect OS distribution".into());
    }
    warnings.push(
        "/etc/os-release file not found and autodetection failed, falling back to 'unmanaged'"
            .into(),
    );
    Ok(Detection {
        ostype: "unmanaged",
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let full = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
        dir
    }

    #[test]
    fn os_release_id_forms() {
        assert_eq!(
            os_release_id("NAME=x\nID=debian\n").as_deref(),
            Some("debian")
        );
        assert_eq!(
            os_release_id("ID='opensuse-leap'\n").as_deref(),
            Some("opensuse-leap")
        );
        assert_eq!(os_release_id("ID=\"rocky\"\n").as_deref(), Some("rocky"));
        assert_eq!(os_release_id("# ID=fedora\nVERSION=1\n"), None);
    }

    #[test]
    fn ids_and_aliases() {
        for (id, ostype) in [
            ("debian", "debian"),
            ("rocky", "centos"),
            ("sles", "opensuse"),
            ("arch", "archlinux"),
        ] {
            let root = root_with(&[("/etc/os-release", &format!("ID={id}\n"))]);
            assert_eq!(detect_ostype(root.path()).unwrap().ostype, ostype);
        }
    }

    #[test]
    fn unknown_id_falls_back_to_release_files() {
        let root = root_with(&[
            ("/etc/os-release", "ID=plan9\n"),
            ("/etc/alpine-release", "3.20\n"),
        ]);
        let detection = detect_ostype(root.path()).unwrap();
        assert_eq!(detection.ostype, "alpine");
        assert_eq!(
            detection.warnings,
            vec!["unknown ID 'plan9' in /etc/os-release file, trying fallback detection"]
        );
    }

    #[test]
    fn unknown_id_without_fallback_is_an_error() {
        let root = root_with(&[("/etc/os-release", "ID=plan9\n")]);
        assert_eq!(
            detect_ostype(root.path()).unwrap_err(),
            "unable to detect OS distribution"
        );
    }

    #[test]
    fn nothing_known_is_unmanaged() {
        let root = root_with(&[("/etc/hostname", "x\n")]);
        assert_eq!(detect_ostype(root.path()).unwrap().ostype, "unmanaged");
    }
}
