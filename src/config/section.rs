//! One section of a config file — the main one, `[pve:pending]`, or a snapshot — with typed
//! accessors over its stored option values.

use std::collections::BTreeMap;

use super::{DeviceEntry, Features, MountPoint, NetDevice, PropertyError, Startup, option_spec};

/// Values are stored as the normalised strings pct writes (booleans `1`/`0`, integers without
/// leading zeros), so a file pct wrote prints back byte for byte. The map's order is pct's write
/// order (byte order of keys).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Section {
    /// Decoded description, from `#` lines and `description:` keys: bytes, as pct keeps
    /// them, so one that is not UTF-8 is written back unchanged.
    #[serde(serialize_with = "super::description::serialize_lossy")]
    pub description: Vec<u8>,
    /// Option values by key (`memory`, `net0`, ...), excluding description, env and lxc.
    pub options: BTreeMap<String, String>,
    /// `lxc.environment.runtime` entries in order (pct's `env` option, NUL-joined).
    pub env: Vec<String>,
    /// Raw `lxc.*` keys in file order; duplicates allowed.
    pub lxc: Vec<(String, String)>,
    /// The `delete:` list of a pending section, verbatim as stored.
    pub delete: Option<String>,
}

/// `prefix<N>` keys that are set, by index.
fn indexed<'a>(options: &'a BTreeMap<String, String>, prefix: &str) -> Vec<(u16, &'a str)> {
    let mut found: Vec<(u16, &str)> = options
        .iter()
        .filter(|(key, _)| {
            option_spec(key).is_some_and(|spec| spec.name == prefix && spec.max_index.is_some())
        })
        .filter_map(|(key, value)| Some((key[prefix.len()..].parse().ok()?, value.as_str())))
        .collect();
    found.sort_by_key(|(index, _)| *index);
    found
}

impl Section {
    /// The stored value of `key`; `description` and `env` come from their own fields.
    pub fn get(&self, key: &str) -> Option<&str> {
        match key {
            // A description that is not UTF-8 has no text form; `description_text` shows it.
            "description" => std::str::from_utf8(&self.description)
                .ok()
                .filter(|d| !d.is_empty()),
            _ => self.options.get(key).map(String::as_str),
        }
    }

    /// Set `key`; `description` and `env` (NUL-separated) go to their own fields.
    pub fn set(&mut self, key: &str, value: String) {
        match key {
            "description" => self.description = value.into_bytes(),
            "env" => {
                self.env = value
                    .split('\0')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            _ => {
                self.options.insert(key.to_string(), value);
            }
        }
    }

    /// Remove `key`; its value, if it was set.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        match key {
            "description" => Some(std::mem::take(&mut self.description))
                .filter(|d| !d.is_empty())
                .map(|d| String::from_utf8_lossy(&d).into_owned()),
            "env" => Some(std::mem::take(&mut self.env).join("\0")).filter(|e| !e.is_empty()),
            _ => self.options.remove(key),
        }
    }

    /// Whether `key` has a value (including description and env).
    pub fn has(&self, key: &str) -> bool {
        match key {
            "env" => !self.env.is_empty(),
            "description" => !self.description.is_empty(),
            _ => self.get(key).is_some(),
        }
    }

    /// Whether the section holds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.description.is_empty()
            && self.options.is_empty()
            && self.env.is_empty()
            && self.lxc.is_empty()
            && self.delete.is_none()
    }

    /// A boolean option, with its schema default when unset.
    pub fn flag(&self, key: &str) -> bool {
        let value = self
            .get(key)
            .or_else(|| option_spec(key).and_then(|spec| spec.default));
        value == Some("1")
    }

    /// `memory` in MiB (default 512).
    pub fn memory(&self) -> u64 {
        self.get("memory")
            .and_then(|v| v.parse().ok())
            .unwrap_or(512)
    }

    /// `swap` in MiB, if set.
    pub fn swap(&self) -> Option<u64> {
        self.get("swap").and_then(|v| v.parse().ok())
    }

    /// `hostname`.
    pub fn hostname(&self) -> Option<&str> {
        self.get("hostname")
    }

    /// `lock`: the operation holding the container (`create`, `mounted`, ...).
    pub fn lock(&self) -> Option<&str> {
        self.get("lock")
    }

    /// `rootfs`, parsed; `None` when it is not set.
    pub fn rootfs(&self) -> Option<Result<MountPoint, PropertyError>> {
        self.get("rootfs").map(MountPoint::parse_rootfs)
    }

    /// `mp0`..`mp255` that are set, by index.
    pub fn mount_points(&self) -> Vec<(u16, Result<MountPoint, PropertyError>)> {
        indexed(&self.options, "mp")
            .into_iter()
            .map(|(i, v)| (i, MountPoint::parse_mp(v)))
            .collect()
    }

    /// `net0`..`net31` that are set, by index.
    pub fn nets(&self) -> Vec<(u16, Result<NetDevice, PropertyError>)> {
        indexed(&self.options, "net")
            .into_iter()
            .map(|(i, v)| (i, NetDevice::parse(v)))
            .collect()
    }

    /// `dev0`..`dev255` that are set, by index.
    pub fn devices(&self) -> Vec<(u16, Result<DeviceEntry, PropertyError>)> {
        indexed(&self.options, "dev")
            .into_iter()
            .map(|(i, v)| (i, DeviceEntry::parse(v)))
            .collect()
    }

    /// `unused0`..`unused255` volume ids, by index.
    pub fn unused(&self) -> Vec<(u16, String)> {
        indexed(&self.options, "unused")
            .into_iter()
            .map(|(i, v)| (i, v.strip_prefix("volume=").unwrap_or(v).to_string()))
            .collect()
    }

    /// `features`, parsed; all unset when it is not set.
    pub fn features(&self) -> Result<Features, PropertyError> {
        self.get("features")
            .map(Features::parse)
            .unwrap_or_else(|| Ok(Features::default()))
    }

    /// `startup`, parsed; `None` when it is not set.
    pub fn startup(&self) -> Option<Result<Startup, PropertyError>> {
        self.get("startup").map(Startup::parse)
    }

    /// Storage volumes referenced by rootfs and mpN (not bind mounts or devices).
    pub(crate) fn referenced_volumes(&self) -> Vec<String> {
        let mut volumes: Vec<String> = self
            .rootfs()
            .into_iter()
            .chain(self.mount_points().into_iter().map(|(_, mp)| mp))
            .flatten()
            .filter(|mp| mp.kind() == super::MountKind::Volume)
            .map(|mp| mp.volume)
            .collect();
        volumes.dedup();
        volumes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_accessors() {
        let mut section = Section::default();
        assert_eq!(section.memory(), 512);
        assert!(section.flag("console") && !section.flag("onboot"));
        section.set("memory", "1024".into());
        section.set("mp10", "local:100/vm-100-disk-2.raw,mp=/b".into());
        section.set("mp2", "local:100/vm-100-disk-1.raw,mp=/a".into());
        section.set("net0", "name=eth0,bridge=vmbr0".into());
        section.set("unused3", "local:100/vm-100-disk-9.raw".into());
        section.set("env", "A=1\0B=2".into());
        assert_eq!(section.memory(), 1024);
        let indexes: Vec<u16> = section.mount_points().iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [2, 10]);
        assert_eq!(section.nets()[0].1.as_ref().unwrap().name, "eth0");
        assert_eq!(
            section.unused(),
            [(3, "local:100/vm-100-disk-9.raw".to_string())]
        );
        assert_eq!(section.env, ["A=1", "B=2"]);
        assert_eq!(section.remove("env").unwrap(), "A=1\0B=2");
        assert!(section.features().unwrap() == Features::default());
    }

    #[test]
    fn each_accessor_reads_its_own_key() {
        let mut section = Section::default();
        assert_eq!(
            (section.swap(), section.hostname(), section.lock()),
            (None, None, None)
        );
        assert!(section.rootfs().is_none() && section.startup().is_none());
        section.set("swap", "256".into());
        section.set("hostname", "web".into());
        section.set("lock", "backup".into());
        section.set("rootfs", "local:100/vm-100-disk-0.raw,size=8G".into());
        section.set("startup", "order=3".into());
        section.set("features", "nesting=1".into());
        section.set("net0", "name=eth0".into());
        section.set("dev0", "/dev/null".into());
        assert_eq!(section.swap(), Some(256));
        assert_eq!(section.hostname(), Some("web"));
        assert_eq!(section.lock(), Some("backup"));
        let rootfs = section.rootfs().unwrap().unwrap();
        assert_eq!(rootfs.volume, "local:100/vm-100-disk-0.raw");
        assert_eq!(section.startup().unwrap().unwrap().order, Some(3));
        assert_eq!(section.features().unwrap().nesting, Some(true));
        // `dev0` is no network device and `net0` no passthrough device.
        let nets: Vec<u16> = section.nets().iter().map(|(i, _)| *i).collect();
        assert_eq!(nets, [0]);
        let devices = section.devices();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].0, 0);
        assert_eq!(devices[0].1.as_ref().unwrap().path, "/dev/null");
    }

    #[test]
    fn description_and_env_live_in_their_own_fields() {
        let mut section = Section::default();
        assert!(!section.has("description") && !section.has("env"));
        assert_eq!(section.get("description"), None);
        assert_eq!(section.remove("description"), None);
        assert_eq!(section.remove("env"), None);
        section.set("description", "a note".into());
        assert_eq!(section.description, b"a note");
        assert!(!section.options.contains_key("description"));
        assert_eq!(section.get("description"), Some("a note"));
        assert!(section.has("description"));
        assert_eq!(section.remove("description").as_deref(), Some("a note"));
        assert!(section.description.is_empty());
        // A description that is not UTF-8 has no text, but is there.
        section.description = b"caf\xe9".to_vec();
        assert_eq!(section.get("description"), None);
        assert!(section.has("description"));
        section.set("env", "A=1".into());
        assert!(section.has("env") && section.get("env").is_none());
    }

    #[test]
    fn empty_means_every_part_is_empty() {
        assert!(Section::default().is_empty());
        let parts: [fn(&mut Section); 5] = [
            |s| s.description = b"d".to_vec(),
            |s| s.set("memory", "512".into()),
            |s| s.env = vec!["A=1".into()],
            |s| s.lxc = vec![("lxc.arch".into(), "amd64".into())],
            |s| s.delete = Some("swap".into()),
        ];
        for (i, set) in parts.iter().enumerate() {
            let mut section = Section::default();
            set(&mut section);
            assert!(!section.is_empty(), "part {i}");
        }
    }

    #[test]
    fn only_storage_volumes_are_referenced() {
        let mut section = Section::default();
        section.set("rootfs", "local:100/vm-100-disk-0.raw".into());
        section.set("mp0", "/srv/data,mp=/data".into());
        section.set("mp1", "/dev/sdb1,mp=/disk".into());
        section.set("mp2", "local:100/vm-100-disk-1.raw,mp=/more".into());
        assert_eq!(
            section.referenced_volumes(),
            ["local:100/vm-100-disk-0.raw", "local:100/vm-100-disk-1.raw"]
        );
    }
}
