//! `pct set` semantics: changes go to `[pve:pending]`, deletes to its `delete:` list, and a
//! stopped container has them applied at once; `pct pending` listing; unused volumes.

use std::collections::BTreeMap;

use super::{
    Config, ConfigError, MountKind, MountPoint, NetDevice, Section, Warning, check_option,
    option_spec,
};

/// What one `pct set` asks for. Values are raw CLI strings, validated here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetRequest {
    /// `key value` pairs to set, as `--key value` on pct's command line.
    pub set: Vec<(String, String)>,
    /// Keys to delete; a leading `!` forces.
    pub delete: Vec<String>,
    /// Pending changes of these keys to drop (`--revert`).
    pub revert: Vec<String>,
}

/// One line of `pct pending`: `cur k: v`, `new k: v` or `del k: v`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PendingChange {
    /// A current value no pending change touches.
    Cur {
        /// The option.
        key: String,
        /// Its value.
        value: String,
    },
    /// A pending new value.
    New {
        /// The option.
        key: String,
        /// The value it will have.
        value: String,
    },
    /// A pending deletion.
    Del {
        /// The option.
        key: String,
        /// The value it has until then.
        value: String,
    },
}

/// The pending-delete list: keys with their force flag. pct accepts `,`, `;` and spaces.
pub(crate) fn pending_deletes(pending: &Section) -> BTreeMap<String, bool> {
    let mut deletes = BTreeMap::new();
    for entry in pending
        .delete
        .iter()
        .flat_map(|list| list.split([',', ';', ' ', '\t']))
        .filter(|e| !e.is_empty())
    {
        let (force, key) = match entry.strip_prefix('!') {
            Some(key) => (true, key),
            None => (false, entry),
        };
        deletes.insert(key.to_string(), force);
    }
    deletes
}

/// pct regenerates the list sorted and comma-joined whenever it changes it.
fn store_pending_deletes(pending: &mut Section, deletes: &BTreeMap<String, bool>) {
    pending.delete = (!deletes.is_empty()).then(|| {
        deletes
            .iter()
            .map(|(key, force)| {
                if *force {
                    format!("!{key}")
                } else {
                    key.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    });
}

fn param_error(key: &str, message: String) -> ConfigError {
    ConfigError(format!(
        "400 Parameter verification failed.\n{key}: {message}"
    ))
}

fn is_indexed(key: &str, prefix: &str) -> bool {
    option_spec(key).is_some_and(|spec| spec.name == prefix && spec.max_index.is_some())
}

impl Config {
    fn check_protection(&self, message: String) -> Result<(), ConfigError> {
        if self.main.flag("protection") {
            Err(ConfigError(format!("{message} - protection mode enabled")))
        } else {
            Ok(())
        }
    }

    fn remove_from_pending_delete(&mut self, key: &str) {
        let mut deletes = pending_deletes(&self.pending);
        if deletes.remove(key).is_some() {
            store_pending_deletes(&mut self.pending, &deletes);
        }
    }

    /// Record a `pct set` into the pending section (validating every value and the protection
    /// rules), then, for a stopped container (`apply_now`), apply all pending changes. Nothing
    /// changes when an error is returned.
    pub fn update(
        &mut self,
        request: &SetRequest,
        apply_now: bool,
    ) -> Result<Vec<Warning>, ConfigError> {
        let vmid = self.vmid;
        let mut next = self.clone();
        let mut warnings = Vec::new();
        let set_keys: Vec<&str> = request.set.iter().map(|(k, _)| k.as_str()).collect();
        for key in &request.revert {
            if option_spec(key).is_none() {
                return Err(param_error("revert", format!("unknown option '{key}'")));
            }
            if set_keys.contains(&key.as_str()) {
                return Err(param_error(
                    "revert",
                    format!("you can't use '-{key}' and '-revert {key}' at the same time"),
                ));
            }
        }
        let deletes: Vec<(&str, bool)> = request
            .delete
            .iter()
            .map(|d| {
                d.strip_prefix('!')
                    .map_or((d.as_str(), false), |k| (k, true))
            })
            .collect();
        for (key, _) in &deletes {
            if option_spec(key).is_none() {
                return Err(param_error("delete", format!("unknown option '{key}'")));
            }
            if set_keys.contains(key) {
                return Err(param_error(
                    "delete",
                    format!("you can't use '-{key}' and -delete {key}' at the same time"),
                ));
            }
            if request.revert.iter().any(|r| r == key) {
                return Err(param_error(
                    "delete",
                    format!("you can't use '-delete {key}' and '-revert {key}' at the same time"),
                ));
            }
        }

        for key in &request.revert {
            next.pending.remove(key);
            next.remove_from_pending_delete(key);
        }
        for (key, force) in deletes {
            if !next.main.has(key) && !next.pending.has(key) {
                warnings.push(Warning(format!(
                    "cannot delete '{key}' - not set in current configuration!"
                )));
                continue;
            }
            match key {
                "memory" | "rootfs" | "ostype" => {
                    return Err(ConfigError(format!(
                        "unable to delete required option '{key}'"
                    )));
                }
                "unprivileged" => {
                    return Err(ConfigError(format!(
                        "unable to delete read-only option: '{key}'"
                    )));
                }
                _ if is_indexed(key, "unused") || is_indexed(key, "mp") => {
                    next.check_protection(format!("can't remove CT {vmid} drive '{key}'"))?;
                }
                _ => {}
            }
            let mut list = pending_deletes(&next.pending);
            list.insert(key.to_string(), force);
            store_pending_deletes(&mut next.pending, &list);
        }
        let mut sets: Vec<&(String, String)> = request.set.iter().collect();
        sets.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in sets {
            let value = check_option(key, value).map_err(|e| param_error(key, e.0))?;
            if key == "rootfs" || is_indexed(key, "mp") {
                next.check_protection(format!("can't update CT {vmid} drive '{key}'"))?;
            } else if key == "unprivileged" {
                return Err(ConfigError(format!(
                    "unable to modify read-only option: '{key}'"
                )));
            } else if is_indexed(key, "net") {
                let net = NetDevice::parse(&value).map_err(|e| param_error(key, e.0))?;
                if net.link_down != Some(true)
                    && net.host_managed == Some(true)
                    && matches!(net.ip6, Some(super::Ip6Config::Auto))
                {
                    return Err(ConfigError(format!(
                        "{key}: SLAAC is not supported for host-managed network configuration."
                    )));
                }
            }
            next.pending.set(key, value);
            next.remove_from_pending_delete(key);
        }
        next.cleanup_pending();
        if apply_now {
            warnings.extend(next.apply_pending());
        }
        *self = next;
        Ok(warnings)
    }

    /// Drop pending values equal to the current ones and deletes of keys that are not set.
    fn cleanup_pending(&mut self) {
        let main = &self.main;
        self.pending
            .options
            .retain(|key, value| main.get(key) != Some(value.as_str()));
        let deletes: BTreeMap<String, bool> = pending_deletes(&self.pending)
            .into_iter()
            .filter(|(key, _)| main.has(key))
            .collect();
        store_pending_deletes(&mut self.pending, &deletes);
    }

    /// Whether a volume is used by rootfs/mpN of the main section other than by `except` (the
    /// key being replaced or deleted). Snapshots do not count: a volume only a snapshot still
    /// uses becomes `unusedN`, as in pct, so that the config keeps naming it (`pct destroy`
    /// frees it, `pct set --delete unusedN` leaves it to the snapshot).
    fn volume_in_use(&self, volume: &str, except: &str) -> bool {
        self.main
            .options
            .iter()
            .filter(|(key, _)| key.as_str() != except)
            .any(|(key, value)| {
                let parsed = if key == "rootfs" {
                    MountPoint::parse_rootfs(value)
                } else if is_indexed(key, "mp") {
                    MountPoint::parse_mp(value)
                } else {
                    return false;
                };
                parsed.is_ok_and(|mp| mp.volume == volume)
            })
    }

    /// The storage volume of a rootfs/mpN value, if it is one.
    fn storage_volume(key: &str, value: &str) -> Option<String> {
        let parsed = if key == "rootfs" {
            MountPoint::parse_rootfs(value)
        } else {
            MountPoint::parse_mp(value)
        };
        parsed
            .ok()
            .filter(|mp| mp.kind() == MountKind::Volume)
            .map(|mp| mp.volume)
    }

    /// Apply everything pending to the main section (start, or set on a stopped CT). A
    /// replaced or deleted mount point's volume becomes `unusedN`.
    pub fn apply_pending(&mut self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        for (key, _) in pending_deletes(&self.pending) {
            if is_indexed(&key, "mp")
                && let Some(volume) = self
                    .main
                    .get(&key)
                    .and_then(|value| Self::storage_volume(&key, value))
                && !self.volume_in_use(&volume, &key)
                && let Err(e) = self.add_unused_volume(&volume)
            {
                warnings.push(Warning(format!(
                    "unable to apply pending change {key} : {e}"
                )));
                continue;
            }
            self.main.remove(&key);
            self.remove_from_pending_delete(&key);
        }
        self.cleanup_pending();
        let pending: Vec<(String, String)> = self
            .pending
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, value) in pending {
            if (key == "rootfs" || is_indexed(&key, "mp"))
                && let Some(old) = self
                    .main
                    .get(&key)
                    .and_then(|old| Self::storage_volume(&key, old))
                && Self::storage_volume(&key, &value).as_deref() != Some(old.as_str())
                && !self.volume_in_use(&old, &key)
                && let Err(e) = self.add_unused_volume(&old)
            {
                warnings.push(Warning(format!(
                    "unable to apply pending change {key} : {e}"
                )));
                continue;
            }
            self.main.set(&key, value);
            self.pending.options.remove(&key);
        }
        if !self.pending.description.is_empty() {
            self.main.description = std::mem::take(&mut self.pending.description);
        }
        if !self.pending.env.is_empty() {
            self.main.env = std::mem::take(&mut self.pending.env);
        }
        warnings
    }

    /// Apply the pending sets and deletes of the keys `hot` accepts (pct's hotplug into a
    /// running container); the rest stays pending. Returns the keys applied, in order.
    pub fn apply_pending_keys(&mut self, hot: impl Fn(&str) -> bool) -> Vec<String> {
        let mut applied = Vec::new();
        for (key, _) in pending_deletes(&self.pending) {
            if hot(&key) {
                self.main.remove(&key);
                self.remove_from_pending_delete(&key);
                applied.push(key);
            }
        }
        let sets: Vec<(String, String)> = self
            .pending
            .options
            .iter()
            .filter(|(key, _)| hot(key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, value) in sets {
            self.main.set(&key, value);
            self.pending.options.remove(&key);
            applied.push(key);
        }
        if hot("description") && !self.pending.description.is_empty() {
            self.main.description = std::mem::take(&mut self.pending.description);
        }
        self.cleanup_pending();
        applied
    }

    /// Put a no longer referenced volume into the lowest free `unusedN`; returns the key.
    pub fn add_unused_volume(&mut self, volid: &str) -> Result<String, ConfigError> {
        let unused = self.main.unused();
        if let Some((index, _)) = unused.iter().find(|(_, v)| v == volid) {
            return Ok(format!("unused{index}"));
        }
        let free = (0..=255u16).find(|i| !unused.iter().any(|(used, _)| used == i));
        let Some(index) = free else {
            return Err(ConfigError(
                "Too many unused volumes - please delete them first.".into(),
            ));
        };
        let key = format!("unused{index}");
        self.main.set(&key, volid.to_string());
        Ok(key)
    }

    /// The `pct pending` listing, sorted by key.
    pub fn pending_changes(&self) -> Vec<PendingChange> {
        let deletes = pending_deletes(&self.pending);
        let mut keys: Vec<String> = self
            .main
            .options
            .keys()
            .chain(self.pending.options.keys())
            .cloned()
            .collect();
        for key in ["description", "env"] {
            if self.main.has(key) || self.pending.has(key) {
                keys.push(key.to_string());
            }
        }
        keys.sort();
        keys.dedup();
        let text = |section: &Section, key: &str| match key {
            "env" => section.has("env").then(|| section.env.join("\0")),
            "description" => section
                .has("description")
                .then(|| String::from_utf8_lossy(&section.description).into_owned()),
            _ => section.get(key).map(str::to_string),
        };
        let mut changes = Vec::new();
        for key in keys {
            match (text(&self.main, &key), text(&self.pending, &key)) {
                (Some(value), _) if deletes.contains_key(&key) => {
                    changes.push(PendingChange::Del { key, value })
                }
                (Some(value), Some(new)) => {
                    changes.push(PendingChange::Cur {
                        key: key.clone(),
                        value,
                    });
                    changes.push(PendingChange::New { key, value: new });
                }
                (Some(value), None) => changes.push(PendingChange::Cur { key, value }),
                (None, Some(new)) => changes.push(PendingChange::New { key, value: new }),
                (None, None) => {}
            }
        }
        changes
    }
}
