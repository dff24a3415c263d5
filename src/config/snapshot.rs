//! Snapshots in the config file: the edits `pct snapshot`, `pct delsnapshot` and `pct rollback`
//! make to it, each step as pct makes it (prepare, then commit once the volumes are done), and
//! the tree `pct listsnapshot` prints. Pure: a config in, a new config or a refusal out. The
//! volume side (storage snapshots, freezing, stopping) belongs to the callers, which run
//! these steps under the config lock and write what they return.

use super::{Config, MountKind, Section, Warning, check_option};

/// Names the API keeps for itself: `current` is the head of the tree, `vzdump` is the
/// backup's own snapshot (made through another path).
const RESERVED_NAMES: [&str; 2] = ["current", "vzdump"];

/// Keys a snapshot never takes from the config it copies, nor gives back on rollback
/// (pve-guest-common's `__snapshot_copy_config`), besides every `unusedN`.
const NOT_COPIED: [&str; 6] = [
    "snapstate",
    "snaptime",
    "vmstate",
    "lock",
    "digest",
    "description",
];

/// pct's limit on `unusedN` keys (`unused0`..`unused255`).
const MAX_UNUSED: u16 = 256;

/// Why a snapshot step refuses; `Display` is pct's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A name pct's schema refuses (`pve-snapshot-name`): the message that follows
    /// `snapname: ` in pct's parameter error.
    #[error("{}", message.trim_end())]
    InvalidName {
        /// The name given.
        name: String,
        /// pct's words (`invalid format - invalid configuration ID 'a'`), with the newline
        /// pct's parameter error keeps where its check `die`s with one.
        message: String,
    },
    /// `current` or `vzdump`.
    #[error("unable to use snapshot name '{0}' (reserved name)")]
    ReservedName(String),
    /// A snapshot of a template.
    #[error("you can't take a snapshot if it's a template")]
    SnapshotOfTemplate,
    /// Deleting a snapshot of a template.
    #[error("you can't delete a snapshot if vm is a template")]
    DeleteOfTemplate,
    /// Rolling a template back.
    #[error("you can't rollback if vm is a template")]
    RollbackOfTemplate,
    /// The config carries a lock.
    #[error("CT is locked ({0})")]
    Locked(String),
    /// A volume of the container cannot be snapshotted: it is on a storage without
    /// snapshots (dir), or a bind mount or device.
    #[error("snapshot feature is not available")]
    FeatureNotAvailable,
    /// The container still runs after the hard stop a rollback makes.
    #[error("unable to rollback vm {0}: vm is running")]
    StillRunning(u32),
    /// A snapshot of that name exists.
    #[error("snapshot name '{0}' already used")]
    NameUsed(String),
    /// No snapshot of that name.
    #[error("snapshot '{0}' does not exist")]
    NotFound(String),
    /// A commit without the `snapshot` lock its prepare set.
    #[error("missing snapshot lock")]
    MissingSnapshotLock,
    /// A commit of a snapshot that is not in `snapstate: prepare`.
    #[error("wrong snapshot state")]
    WrongState,
    /// A delete step found another lock than the one the delete holds.
    #[error("encountered invalid lock, expected '{expected}'")]
    InvalidLock {
        /// The lock the delete holds (`snapshot-delete`, or `snapshot` when a failed create
        /// cleans up).
        expected: &'static str,
    },
    /// A rollback to a snapshot whose creation or deletion did not finish.
    #[error("unable to rollback to incomplete snapshot (snapstate = {0})")]
    Incomplete(String),
    /// A rollback's commit without the `rollback` lock its prepare set.
    #[error("got wrong lock")]
    WrongLock,
    /// All 256 `unusedN` keys are taken.
    #[error("Too many unused volumes - please delete them first.")]
    TooManyUnused,
}

/// A snapshot step's new config, and what pct warns about on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The config to write.
    pub config: Config,
    /// pct's warnings (a snapshot's `parent` dropped to avoid a cycle).
    pub warnings: Vec<Warning>,
}

/// Which lock a delete works under: its own, or the create's when a failed `pct snapshot`
/// deletes what it made. (`--force` changes nothing in the config: it only lets a delete go on
/// when a volume's snapshot cannot be removed.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteLock {
    /// `pct delsnapshot`: takes `lock: snapshot-delete`, refused when any lock is set.
    Own,
    /// The cleanup of a failed create: keeps the create's `lock: snapshot`.
    CreateCleanup,
}

impl DeleteLock {
    fn expected(self) -> &'static str {
        match self {
            DeleteLock::Own => "snapshot-delete",
            DeleteLock::CreateCleanup => "snapshot",
        }
    }
}

/// The checks pct's API makes on a new snapshot's name before anything else: the schema's
/// `pve-snapshot-name` (a configuration id of at most 40 characters), then the reserved names.
pub fn check_name(name: &str) -> Result<(), SnapshotError> {
    // `parent` holds snapshot names and has the very format of `pve-snapshot-name`.
    check_option("parent", name).map_err(|e| SnapshotError::InvalidName {
        name: name.to_string(),
        message: e.0,
    })?;
    match RESERVED_NAMES.contains(&name) {
        true => Err(SnapshotError::ReservedName(name.to_string())),
        false => Ok(()),
    }
}

/// `template: 1`.
fn is_template(config: &Config) -> bool {
    config.main.get("template") == Some("1")
}

/// pct's `check_lock`: any lock refuses.
fn check_unlocked(config: &Config) -> Result<(), SnapshotError> {
    match config.main.lock() {
        Some(lock) => Err(SnapshotError::Locked(lock.to_string())),
        None => Ok(()),
    }
}

fn is_unused_key(key: &str) -> bool {
    key.strip_prefix("unused")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What a snapshot keeps of `source`, or a rollback takes back from a snapshot: everything
/// except [`NOT_COPIED`] and `unusedN`. The raw `lxc.*` keys and `env` go along.
fn copy_without_state(source: &Section, dest: &mut Section) {
    for (key, value) in &source.options {
        if !NOT_COPIED.contains(&key.as_str()) && !is_unused_key(key) {
            dest.options.insert(key.clone(), value.clone());
        }
    }
    dest.env = source.env.clone();
    dest.lxc = source.lxc.clone();
}

/// pct's `add_unused_volume`: the lowest free `unusedN`, nothing when the volume is one
/// already.
pub fn add_unused_volume(section: &mut Section, volume: &str) -> Result<(), SnapshotError> {
    let mut free = None;
    for index in (0..MAX_UNUSED).rev() {
        let key = format!("unused{index}");
        match section.get(&key) {
            Some(existing) if existing == volume => return Ok(()),
            Some(_) => {}
            None => free = Some(key),
        }
    }
    let key = free.ok_or(SnapshotError::TooManyUnused)?;
    section.set(&key, volume.to_string());
    Ok(())
}

/// Storage volumes of rootfs and mp0..mp255 in that order (bind mounts and devices are no
/// volumes); values that do not parse are left out.
fn volumes(section: &Section) -> Vec<String> {
    section
        .rootfs()
        .into_iter()
        .chain(section.mount_points().into_iter().map(|(_, mp)| mp))
        .flatten()
        .filter(|mp| mp.kind() == MountKind::Volume)
        .map(|mp| mp.volume)
        .collect()
}

/// `pct snapshot`'s first step (pct's `__snapshot_prepare`): `lock: snapshot` on the
/// container and a new section `[name]`, a copy of the current config with
/// `snapstate: prepare`, `snaptime: now` and the description given. The copy keeps the main
/// section's `parent`, which makes the new snapshot the child of the previous one.
///
/// The caller checks next that every volume can be snapshotted (`snapshot feature is not
/// available`) and writes the result only then: that is pct's order of refusals.
pub fn prepare(
    config: &Config,
    name: &str,
    description: Option<&str>,
    now: i64,
) -> Result<Prepared, SnapshotError> {
    check_name(name)?;
    if is_template(config) {
        return Err(SnapshotError::SnapshotOfTemplate);
    }
    check_unlocked(config)?;
    if config.snapshots.contains_key(name) {
        return Err(SnapshotError::NameUsed(name.to_string()));
    }
    let mut config = config.clone();
    config.main.set("lock", "snapshot".to_string());
    let mut warnings = Vec::new();
    // A snapshot whose parent carries the new name is left over from a snapshot of that name
    // deleted by hand; linking it to the new one would make a cycle.
    for (other, section) in config.snapshots.iter_mut() {
        if section.get("parent") == Some(name) {
            section.remove("parent");
            warnings.push(Warning(format!(
                "deleting parent '{name}' reference from '{other}' to avoid bogus snapshot cycle."
            )));
        }
    }
    let mut snapshot = Section::default();
    copy_without_state(&config.main, &mut snapshot);
    snapshot.set("snapstate", "prepare".to_string());
    snapshot.set("snaptime", now.to_string());
    // Perl's truth: an empty description, or "0", is none.
    if let Some(text) = description.filter(|d| !d.is_empty() && *d != "0") {
        snapshot.set("description", text.to_string());
    }
    config.snapshots.insert(name.to_string(), snapshot);
    Ok(Prepared { config, warnings })
}

/// `pct snapshot`'s last step, once every volume has its snapshot (pct's
/// `__snapshot_commit`): the section loses `snapstate`, the container its lock, and the
/// main section's `parent` names the new snapshot.
pub fn commit(config: &Config, name: &str) -> Result<Config, SnapshotError> {
    if config.main.lock() != Some("snapshot") {
        return Err(SnapshotError::MissingSnapshotLock);
    }
    let snapshot = config
        .snapshots
        .get(name)
        .ok_or_else(|| SnapshotError::NotFound(name.to_string()))?;
    if snapshot.get("snapstate") != Some("prepare") {
        return Err(SnapshotError::WrongState);
    }
    let mut config = config.clone();
    if let Some(section) = config.snapshots.get_mut(name) {
        section.remove("snapstate");
    }
    config.main.remove("lock");
    config.main.set("parent", name.to_string());
    Ok(config)
}

/// The snapshot `name`, or pct's `snapshot '<name>' does not exist`.
fn existing<'c>(config: &'c Config, name: &str) -> Result<&'c Section, SnapshotError> {
    config
        .snapshots
        .get(name)
        .ok_or_else(|| SnapshotError::NotFound(name.to_string()))
}

fn check_delete_lock(config: &Config, lock: DeleteLock) -> Result<(), SnapshotError> {
    match config.main.lock() == Some(lock.expected()) {
        true => Ok(()),
        false => Err(SnapshotError::InvalidLock {
            expected: lock.expected(),
        }),
    }
}

/// `pct delsnapshot`'s first step (pct's `snapshot_delete` up to its first write): the
/// container takes `lock: snapshot-delete` (a failed create's cleanup keeps its
/// `lock: snapshot`) and the section is marked `snapstate: delete`.
pub fn delete_prepare(
    config: &Config,
    name: &str,
    lock: DeleteLock,
) -> Result<Config, SnapshotError> {
    existing(config, name)?;
    let mut config = config.clone();
    if lock == DeleteLock::Own {
        check_unlocked(&config)?;
        config.main.set("lock", lock.expected().to_string());
    }
    check_delete_lock(&config, lock)?;
    if is_template(&config) {
        return Err(SnapshotError::DeleteOfTemplate);
    }
    if let Some(section) = config.snapshots.get_mut(name) {
        section.set("snapstate", "delete".to_string());
    }
    Ok(config)
}

/// The step after each volume's snapshot is gone (unless forced, pct writes it every time,
/// so an interrupted delete leaves a section with fewer volumes): `key` (`rootfs`, `mpN`)
/// leaves the snapshot section and its volume becomes an `unusedN` of that section.
pub fn delete_remove_volume(
    config: &Config,
    name: &str,
    key: &str,
    lock: DeleteLock,
) -> Result<Config, SnapshotError> {
    check_delete_lock(config, lock)?;
    existing(config, name)?;
    let mut config = config.clone();
    let section = config.snapshots.get_mut(name).expect("checked above");
    let Some(value) = section.remove(key) else {
        return Ok(config);
    };
    let mount = match key {
        "rootfs" => super::MountPoint::parse_rootfs(&value),
        _ => super::MountPoint::parse_mp(&value),
    };
    if let Ok(mount) = mount
        && mount.kind() == MountKind::Volume
    {
        add_unused_volume(section, &mount.volume)?;
    }
    Ok(config)
}

/// `pct delsnapshot`'s last step: every `parent` naming the snapshot (the main section's
/// and other snapshots') now names its parent, or goes when it had none; the section and the
/// lock go; the volumes whose snapshot was deleted (`deleted_volumes`) become `unusedN` of the
/// container. Those still attached to it are dropped again when the config is written.
pub fn delete_commit(
    config: &Config,
    name: &str,
    lock: DeleteLock,
    deleted_volumes: &[String],
) -> Result<Config, SnapshotError> {
    check_delete_lock(config, lock)?;
    let grandparent = existing(config, name)?.get("parent").map(str::to_string);
    let mut config = config.clone();
    config.snapshots.remove(name);
    for section in std::iter::once(&mut config.main).chain(config.snapshots.values_mut()) {
        if section.get("parent") == Some(name) {
            match &grandparent {
                Some(parent) => section.set("parent", parent.clone()),
                None => {
                    section.remove("parent");
                }
            }
        }
    }
    config.main.remove("lock");
    for volume in deleted_volumes {
        add_unused_volume(&mut config.main, volume)?;
    }
    Ok(config)
}

/// The snapshot a rollback goes to, with pct's first refusals (a template, no such
/// snapshot). The caller checks next that each of its volumes can be rolled back (ZFS: only
/// to the newest snapshot), before [`rollback_prepare`].
pub fn rollback_target<'c>(config: &'c Config, name: &str) -> Result<&'c Section, SnapshotError> {
    if is_template(config) {
        return Err(SnapshotError::RollbackOfTemplate);
    }
    existing(config, name)
}

fn complete(snapshot: &Section) -> Result<(), SnapshotError> {
    match snapshot.get("snapstate") {
        Some(state) => Err(SnapshotError::Incomplete(state.to_string())),
        None => Ok(()),
    }
}

/// `pct rollback`'s first step: refused for an incomplete snapshot or a locked container,
/// else `lock: rollback`. The caller then stops the container hard (pct refuses with
/// `unable to rollback vm <vmid>: vm is running` if it still runs) and writes the result.
pub fn rollback_prepare(config: &Config, name: &str) -> Result<Config, SnapshotError> {
    complete(rollback_target(config, name)?)?;
    check_unlocked(config)?;
    let mut config = config.clone();
    config.main.set("lock", "rollback".to_string());
    Ok(config)
}

/// `pct rollback`'s last step, once the volumes are rolled back: the main section is rebuilt
/// from the snapshot (pct's `__snapshot_apply_config`). Kept from the current config: its
/// description, its `unusedN`, and as new `unusedN` its volumes the snapshot does not use
/// (they are not deleted). Pending changes go; `parent` names the snapshot.
pub fn rollback_commit(config: &Config, name: &str) -> Result<Config, SnapshotError> {
    let snapshot = rollback_target(config, name)?;
    complete(snapshot)?;
    if config.main.lock() != Some("rollback") {
        return Err(SnapshotError::WrongLock);
    }
    let mut current = config.main.clone();
    current.remove("lock");
    let in_snapshot = volumes(snapshot);
    for volume in volumes(&current) {
        if !in_snapshot.contains(&volume) {
            add_unused_volume(&mut current, &volume)?;
        }
    }
    let mut main = Section {
        description: current.description.clone(),
        ..Section::default()
    };
    for (key, value) in &current.options {
        if is_unused_key(key) {
            main.options.insert(key.clone(), value.clone());
        }
    }
    copy_without_state(snapshot, &mut main);
    main.set("parent", name.to_string());
    Ok(Config {
        vmid: config.vmid,
        main,
        pending: Section::default(),
        snapshots: config.snapshots.clone(),
    })
}

/// One line of `pct listsnapshot`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TreeLine {
    /// How deep in the tree: 0 for a snapshot without (known) parent.
    pub depth: usize,
    /// The snapshot's name, or `current`.
    pub name: String,
    /// Unix seconds; `None` for `current`. A snapshot without `snaptime` has 0, as pct lists it.
    pub snaptime: Option<i64>,
    /// The first line of the description, `no-description` without one, `You are here!` for
    /// `current`.
    pub description: String,
}

impl TreeLine {
    /// The line as pct prints it (without the newline), `time` formatting a snaptime (pct:
    /// local time, `%Y-%m-%d %H:%M:%S`).
    pub fn format(&self, time: impl Fn(i64) -> String) -> String {
        let prefix = format!("{}`->", " ".repeat(self.depth));
        let width = 30usize.saturating_sub(prefix.len());
        let time = self.snaptime.map(time).unwrap_or_default();
        format!(
            "{prefix} {:<width$} {time:<23} {}",
            self.name, self.description
        )
    }
}

/// The tree `pct listsnapshot` prints (pve-guest-common's `print_snapshot_tree`): each
/// snapshot under its `parent`, `current` under the main section's, siblings by snaptime with
/// `current` last. A snapshot whose parent is missing is a root. A section named `current`
/// (the API never makes one) is left out: pct's tree cannot tell it from the current state.
pub fn snapshot_tree(config: &Config) -> Vec<TreeLine> {
    struct Entry<'c> {
        name: &'c str,
        parent: Option<&'c str>,
        snaptime: Option<i64>,
        description: String,
    }
    let mut entries: Vec<Entry> = config
        .snapshots
        .iter()
        .filter(|(name, _)| name.as_str() != "current")
        .map(|(name, section)| Entry {
            name,
            parent: section.get("parent"),
            snaptime: Some(
                section
                    .get("snaptime")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
            ),
            description: first_line(&section.description),
        })
        .collect();
    entries.push(Entry {
        name: "current",
        parent: config.main.get("parent"),
        snaptime: None,
        description: "You are here!".to_string(),
    });
    // Siblings by snaptime, the one without (`current`) last; ties keep the name order.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| (entries[i].snaptime.is_none(), entries[i].snaptime));
    let known = |name: &str| entries.iter().any(|e| e.name == name);
    let children = |parent: Option<&str>| -> Vec<usize> {
        order
            .iter()
            .copied()
            .filter(|&i| match entries[i].parent.filter(|p| known(p)) {
                Some(p) => Some(p) == parent,
                None => parent.is_none(),
            })
            .collect()
    };
    let mut lines = Vec::new();
    let mut stack: Vec<(usize, usize)> = children(None).into_iter().rev().map(|i| (i, 0)).collect();
    let mut shown = vec![false; entries.len()];
    while let Some((index, depth)) = stack.pop() {
        // A hand-edited file may make a snapshot its own ancestor; show each once.
        if std::mem::replace(&mut shown[index], true) {
            continue;
        }
        let entry = &entries[index];
        lines.push(TreeLine {
            depth,
            name: entry.name.to_string(),
            snaptime: entry.snaptime,
            description: entry.description.clone(),
        });
        for child in children(Some(entry.name)).into_iter().rev() {
            stack.push((child, depth + 1));
        }
    }
    lines
}

/// The first line of a description, or `no-description` (also for pct's false `0`).
fn first_line(description: &[u8]) -> String {
    let text = String::from_utf8_lossy(description);
    if text.is_empty() || text == "0" {
        return "no-description".to_string();
    }
    text.split('\n').next().unwrap_or_default().to_string()
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
