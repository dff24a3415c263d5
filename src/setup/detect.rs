//! Which distribution a rootfs holds, decided the way pct decides it: `ID` in os-release,
//! then the distributions' own release files.

use super::error::SetupError;
use std::collections::BTreeMap;
#[cfg(test)]
use std::path::Path;

use super::root::GuestRoot;

#[cfg(test)]
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

/// The variables of an os-release file, parsed as pct parses them: `NAME=value` lines,
/// single quotes literal, double quotes with backslash escapes, bare `[A-Za-z0-9]*` words;
/// a later assignment wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease(BTreeMap<String, String>);

impl OsRelease {
    pub fn parse(text: &str) -> OsRelease {
        let mut vars = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim_start();
            let Some((name, content)) = line.split_once('=') else {
                continue;
            };
            let valid_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                continue;
            }
            vars.insert(name.to_string(), parse_value(content));
        }
        OsRelease(vars)
    }

    /// `/etc/os-release`, else `/usr/lib/os-release`, inside the container.
    pub fn read(root: &GuestRoot) -> OsRelease {
        for path in ["/etc/os-release", "/usr/lib/os-release"] {
            if root.is_file(path) {
                return OsRelease::parse(&root.read(path).ok().flatten().unwrap_or_default());
            }
        }
        OsRelease::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

fn parse_value(content: &str) -> String {
    if let Some(inner) = content.strip_prefix('\'')
        && let Some(end) = inner.find('\'')
    {
        return inner[..end].to_string();
    }
    if let Some(inner) = content.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars();
        let mut closed = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(c @ ('"' | '\'' | '`' | '$' | '\\')) => out.push(c),
                    Some(other) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                '"' => {
                    closed = true;
                    break;
                }
                c => out.push(c),
            }
        }
        if closed {
            return out;
        }
    }
    content
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// The plugin type for a rootfs, as pct's autodetection finds it.
pub fn detect_type(
    root: &GuestRoot,
    os_release: &OsRelease,
    warnings: &mut Vec<String>,
) -> Result<&'static str, SetupError> {
    if let Some(id) = os_release.get("ID") {
        if let Some(ostype) = ostype_for_id(id) {
            return Ok(ostype);
        }
        warnings.push(format!(
            "unknown ID '{id}' in /etc/os-release file, trying fallback detection"
        ));
    }
    let lsb_is_ubuntu = root.is_file("/etc/lsb-release")
        && root
            .read("/etc/lsb-release")
            .ok()
            .flatten()
            .is_some_and(|text| {
                text.lines()
                    .any(|l| l.eq_ignore_ascii_case("DISTRIB_ID=Ubuntu"))
            });
    let file = |path: &str| root.is_file(path);
    let fallback: [(bool, &'static str); 11] = [
        (lsb_is_ubuntu, "ubuntu"),
        (file("/etc/debian_version"), "debian"),
        (file("/etc/devuan_version"), "devuan"),
        (
            file("/etc/SuSE-brand") || file("/etc/SuSE-release"),
            "opensuse",
        ),
        (file("/etc/fedora-release"), "fedora"),
        (
            file("/etc/centos-release") || file("/etc/redhat-release"),
            "centos",
        ),
        (file("/etc/arch-release"), "archlinux"),
        (file("/etc/alpine-release"), "alpine"),
        (file("/etc/gentoo-release"), "gentoo"),
        (root.is_dir("/nix/store"), "nixos"),
        (file("/etc/openEuler-release"), "openeuler"),
    ];
    if let Some((_, ostype)) = fallback.iter().find(|(found, _)| *found) {
        return Ok(ostype);
    }
    if file("/etc/os-release") {
        return Err(SetupError::Undetected);
    }
    warnings.push(
        "/etc/os-release file not found and autodetection failed, falling back to 'unmanaged'"
            .into(),
    );
    Ok("unmanaged")
}

/// Detect the distribution of `rootfs`. `Err` carries pct's message when an os-release exists
/// but nothing can be made of it.
#[cfg(test)]
pub fn detect_ostype(rootfs: &Path) -> Result<Detection, SetupError> {
    let root = GuestRoot::open(rootfs, None).map_err(|source| SetupError::Rootfs {
        path: rootfs.to_path_buf(),
        source,
    })?;
    let mut warnings = Vec::new();
    let ostype = detect_type(&root, &OsRelease::read(&root), &mut warnings)?;
    Ok(Detection { ostype, warnings })
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
    fn os_release_value_forms() {
        let id = |text: &str| OsRelease::parse(text).get("ID").map(str::to_string);
        assert_eq!(id("NAME=x\nID=debian\n").as_deref(), Some("debian"));
        assert_eq!(id("ID='opensuse-leap'\n").as_deref(), Some("opensuse-leap"));
        assert_eq!(id("ID=\"rocky\"\n").as_deref(), Some("rocky"));
        assert_eq!(id("# ID=fedora\nVERSION=1\n"), None);
        assert_eq!(id("ID=a\nID=b\n").as_deref(), Some("b"));
        assert_eq!(id("ID=debian-like x\n").as_deref(), Some("debian"));
        let release = OsRelease::parse("PRETTY_NAME=\"A \\\"B\\\" \\$C\"\nVERSION_ID=\"12\"\n");
        assert_eq!(release.get("PRETTY_NAME"), Some("A \"B\" $C"));
        assert_eq!(release.get("VERSION_ID"), Some("12"));
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
        let error = detect_ostype(root.path()).unwrap_err();
        assert!(matches!(error, SetupError::Undetected), "{error:?}");
        assert_eq!(error.to_string(), "unable to detect OS distribution");
    }

    #[test]
    fn nothing_known_is_unmanaged() {
        let root = root_with(&[("/etc/hostname", "x\n")]);
        assert_eq!(detect_ostype(root.path()).unwrap().ostype, "unmanaged");
    }
}
