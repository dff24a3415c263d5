//! `etc/pve/storage.cfg`: `dir` and `btrfs` storage sections. Other storage types are skipped,
//! so a real Proxmox file still loads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::volume::is_storage_id;
use super::{StorageError, VolumeFormat, VolumeId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Images,
    Rootdir,
    Vztmpl,
    Iso,
    Backup,
    Snippets,
    Import,
}

impl ContentType {
    fn parse(word: &str) -> Option<ContentType> {
        Some(match word {
            "images" => ContentType::Images,
            "rootdir" => ContentType::Rootdir,
            "vztmpl" => ContentType::Vztmpl,
            "iso" => ContentType::Iso,
            "backup" => ContentType::Backup,
            "snippets" => ContentType::Snippets,
            "import" => ContentType::Import,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Dir,
    Btrfs,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StorageDef {
    pub id: String,
    pub kind: StorageType,
    /// The path as written in storage.cfg (absolute on the host).
    pub path: PathBuf,
    pub content: BTreeSet<ContentType>,
    pub disabled: bool,
    pub shared: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StorageConfig {
    /// The host root every storage path is resolved under.
    pub root: PathBuf,
    pub storages: Vec<StorageDef>,
}

/// pve-storage always has a `local` dir storage at /var/lib/vz; when storage.cfg lacks one
/// (or names something else `local`) this is what it gets.
fn default_local() -> StorageDef {
    StorageDef {
        id: "local".into(),
        kind: StorageType::Dir,
        path: PathBuf::from("/var/lib/vz"),
        content: [
            ContentType::Backup,
            ContentType::Images,
            ContentType::Iso,
            ContentType::Rootdir,
            ContentType::Snippets,
            ContentType::Vztmpl,
        ]
        .into(),
        disabled: false,
        shared: false,
    }
}

/// A section being read: its header and properties.
struct RawSection {
    kind: String,
    id: String,
    properties: Vec<(String, String)>,
}

impl RawSection {
    fn get(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v.is_empty() || v == "1")
    }

    fn into_def(self) -> Option<StorageDef> {
        let kind = match self.kind.as_str() {
            "dir" => StorageType::Dir,
            "btrfs" => StorageType::Btrfs,
            _ => return None,
        };
        let Some(path) = self.get("path").filter(|p| p.starts_with('/')) else {
            eprintln!(
                "storage '{}': missing value for required option 'path'",
                self.id
            );
            return None;
        };
        let content = match self.get("content") {
            Some(list) => list
                .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .filter_map(ContentType::parse)
                .collect(),
            None => [ContentType::Images, ContentType::Rootdir].into(),
        };
        Some(StorageDef {
            id: self.id.clone(),
            kind,
            path: PathBuf::from(path),
            content,
            disabled: self.flag("disable"),
            shared: self.flag("shared"),
        })
    }
}

impl StorageConfig {
    /// Read `<root>/etc/pve/storage.cfg`; without the file, only the default `local`.
    pub fn load(root: &Path) -> Result<StorageConfig, StorageError> {
        let path = root.join("etc/pve/storage.cfg");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(StorageError::Io {
                    context: format!("unable to read '{}'", path.display()),
                    source: e,
                });
            }
        };
        StorageConfig::parse(root, &text)
    }

    pub fn parse(root: &Path, text: &str) -> Result<StorageConfig, StorageError> {
        let mut sections: Vec<RawSection> = Vec::new();
        let mut current: Option<RawSection> = None;
        for line in text.lines() {
            if line.trim().is_empty() {
                sections.extend(current.take());
                continue;
            }
            if line.trim_start().starts_with('#') {
                continue;
            }
            if line.starts_with(|c: char| c.is_whitespace()) {
                let Some(section) = current.as_mut() else {
                    eprintln!("ignore config line: {line}");
                    continue;
                };
                let line = line.trim();
                let (key, value) = line
                    .split_once(|c: char| c.is_whitespace())
                    .unwrap_or((line, ""));
                section
                    .properties
                    .push((key.to_string(), value.trim().to_string()));
                continue;
            }
            sections.extend(current.take());
            match line.split_once(':') {
                Some((kind, id)) if !kind.trim().is_empty() && is_storage_id(id.trim()) => {
                    current = Some(RawSection {
                        kind: kind.trim().to_string(),
                        id: id.trim().to_string(),
                        properties: Vec::new(),
                    });
                }
                _ => eprintln!("ignore config line: {line}"),
            }
        }
        sections.extend(current.take());

        let mut storages: Vec<StorageDef> = Vec::new();
        for def in sections.into_iter().filter_map(RawSection::into_def) {
            if storages.iter().any(|s| s.id == def.id) {
                return Err(StorageError::Invalid(format!(
                    "duplicate storage ID '{}'",
                    def.id
                )));
            }
            storages.push(def);
        }
        let local_ok = storages.iter().any(|s| {
            s.id == "local" && s.kind == StorageType::Dir && s.path == Path::new("/var/lib/vz")
        });
        if !local_ok {
            storages.retain(|s| s.id != "local");
            storages.insert(0, default_local());
        }
        Ok(StorageConfig {
            root: root.to_path_buf(),
            storages,
        })
    }

    /// The storage named `id`.
    pub fn storage(&self, id: &str) -> Result<&StorageDef, StorageError> {
        self.storages
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| StorageError::Invalid(format!("storage '{id}' does not exist")))
    }

    /// The host path of a storage's directory (under the host root).
    pub fn storage_path(&self, def: &StorageDef) -> PathBuf {
        self.root
            .join(def.path.strip_prefix("/").unwrap_or(&def.path))
    }

    /// Where a volume lives: the raw image file or the directory/subvolume.
    pub fn volume_path(&self, volid: &VolumeId) -> Result<PathBuf, StorageError> {
        let def = self.storage(&volid.storage)?;
        let base = self.storage_path(def);
        let bad = || {
            StorageError::Invalid(format!(
                "unable to parse directory volume name '{}'",
                volid.name
            ))
        };
        let (kind, file) = volid.name.split_once('/').ok_or_else(bad)?;
        let safe_file =
            |name: &str| !name.is_empty() && !name.contains('/') && name != "." && name != "..";
        if !safe_file(file) {
            return Err(bad());
        }
        Ok(match kind {
            "vztmpl" => base.join("template/cache").join(file),
            "iso" => base.join("template/iso").join(file),
            "backup" => base.join("dump").join(file),
            "snippets" => base.join("snippets").join(file),
            vmid if vmid.bytes().all(|b| b.is_ascii_digit()) && !vmid.is_empty() => {
                let images = base.join("images").join(vmid);
                match (def.kind, volid.format()) {
                    // btrfs keeps a raw image inside a subvolume of its own.
                    (StorageType::Btrfs, Some(VolumeFormat::Raw)) => {
                        images.join(file.trim_end_matches(".raw")).join("disk.raw")
                    }
                    (_, Some(_)) => images.join(file),
                    (_, None) => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        })
    }

    /// A template given as `local:vztmpl/NAME.tar.gz` or as an absolute path (under the host
    /// root).
    pub fn template_path(&self, template: &str) -> Result<PathBuf, StorageError> {
        let path = if template.starts_with('/') {
            self.root.join(template.trim_start_matches('/'))
        } else {
            let volid = VolumeId::parse(template)?;
            if !volid.name.starts_with("vztmpl/") {
                return Err(StorageError::Invalid(format!(
                    "volume '{template}' is not a container template (vztmpl)"
                )));
            }
            let def = self.storage(&volid.storage)?;
            if !def.content.contains(&ContentType::Vztmpl) {
                return Err(StorageError::Invalid(format!(
                    "storage '{}' does not support content-type 'vztmpl'",
                    def.id
                )));
            }
            self.volume_path(&volid)?
        };
        if !path.is_file() {
            return Err(StorageError::Invalid(format!(
                "can't find file '{template}'"
            )));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n\
lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n\n\
btrfs: tank\n\tpath /mnt/tank\n\tcontent rootdir,images\n\tis_mountpoint yes\n\n\
dir: old\n\tpath /srv/old\n\tdisable\n";

    #[test]
    fn parses_dir_and_btrfs_and_skips_others() {
        let cfg = StorageConfig::parse(Path::new("/r"), CFG).unwrap();
        let ids: Vec<&str> = cfg.storages.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["local", "tank", "old"]);
        let local = cfg.storage("local").unwrap();
        assert_eq!(
            local.content,
            [ContentType::Backup, ContentType::Iso, ContentType::Vztmpl].into()
        );
        let tank = cfg.storage("tank").unwrap();
        assert_eq!(
            (tank.kind, tank.path.as_path()),
            (StorageType::Btrfs, Path::new("/mnt/tank"))
        );
        assert!(cfg.storage("old").unwrap().disabled);
        assert_eq!(
            cfg.storage("old").unwrap().content,
            [ContentType::Images, ContentType::Rootdir].into()
        );
        assert_eq!(
            cfg.storage("local-lvm").unwrap_err().to_string(),
            "storage 'local-lvm' does not exist"
        );
    }

    #[test]
    fn local_always_exists() {
        let cfg = StorageConfig::parse(Path::new("/r"), "").unwrap();
        let local = cfg.storage("local").unwrap();
        assert_eq!(local.path, Path::new("/var/lib/vz"));
        assert!(
            local.content.contains(&ContentType::Rootdir)
                && local.content.contains(&ContentType::Vztmpl)
        );
        // A `local` that is not the standard dir storage is replaced, as pve-storage does.
        let cfg = StorageConfig::parse(Path::new("/r"), "dir: local\n\tpath /elsewhere\n").unwrap();
        assert_eq!(cfg.storage("local").unwrap().path, Path::new("/var/lib/vz"));
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let error =
            StorageConfig::parse(Path::new("/r"), "dir: a\n\tpath /a\n\ndir: a\n\tpath /b\n")
                .unwrap_err();
        assert_eq!(error.to_string(), "duplicate storage ID 'a'");
    }

    #[test]
    fn volume_paths_live_under_the_root() {
        let cfg = StorageConfig::parse(Path::new("/r"), CFG).unwrap();
        let path = |v: &str| cfg.volume_path(&VolumeId::parse(v).unwrap());
        assert_eq!(
            path("local:100/vm-100-disk-0.raw").unwrap(),
            Path::new("/r/var/lib/vz/images/100/vm-100-disk-0.raw")
        );
        assert_eq!(
            path("local:vztmpl/d.tar.zst").unwrap(),
            Path::new("/r/var/lib/vz/template/cache/d.tar.zst")
        );
        assert_eq!(
            path("tank:100/vm-100-disk-1.raw").unwrap(),
            Path::new("/r/mnt/tank/images/100/vm-100-disk-1/disk.raw")
        );
        assert_eq!(
            path("tank:100/subvol-100-disk-2.subvol").unwrap(),
            Path::new("/r/mnt/tank/images/100/subvol-100-disk-2.subvol")
        );
        for bad in [
            "local:vztmpl/../x",
            "local:100/x",
            "local:foo/bar",
            "local:vztmpl/a/b",
        ] {
            let error = path(bad).unwrap_err().to_string();
            assert!(
                error.starts_with("unable to parse directory volume name"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn template_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/vz/template/cache")).unwrap();
        std::fs::write(dir.path().join("var/lib/vz/template/cache/t.tar.gz"), "x").unwrap();
        std::fs::write(dir.path().join("plain.tar"), "x").unwrap();
        let cfg = StorageConfig::parse(dir.path(), CFG).unwrap();
        assert!(
            cfg.template_path("local:vztmpl/t.tar.gz")
                .unwrap()
                .ends_with("template/cache/t.tar.gz")
        );
        assert_eq!(
            cfg.template_path("/plain.tar").unwrap(),
            dir.path().join("plain.tar")
        );
        assert_eq!(
            cfg.template_path("local:vztmpl/missing.tar.gz")
                .unwrap_err()
                .to_string(),
            "can't find file 'local:vztmpl/missing.tar.gz'"
        );
        assert_eq!(
            cfg.template_path("tank:vztmpl/t.tar.gz")
                .unwrap_err()
                .to_string(),
            "storage 'tank' does not support content-type 'vztmpl'"
        );
        assert!(cfg.template_path("local:100/vm-100-disk-0.raw").is_err());
    }
}
