//! `pct template`: a stopped container without snapshots becomes a template. Each volume is
//! made its storage's base volume (`base-…`, read-only, through the storage's `create_base`)
//! and the config gets `template: 1`. A template is not started, snapshotted or rolled back
//! (refused where those commands check); `pct clone` makes containers of it.

use super::{Container, Error, check_lock};
use crate::config::{MountKind, MountPoint, Section};
use crate::storage::{Feature, VolumeId};

/// Why `pct template` refused ([`Error::MakeTemplate`]); `Display` is pct's message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateProblem {
    /// The config has snapshot sections.
    HasSnapshots,
    /// The container is a template already.
    AlreadyTemplate,
    /// The container runs.
    Running,
    /// A mount point's storage cannot make a base volume of it (a bind mount or a device
    /// never can).
    FeatureNotAvailable {
        /// The volume (or path) as the config names it.
        volume: String,
    },
}

impl std::fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateProblem::HasSnapshots => {
                f.write_str("unable to create template, because CT contains snapshots")
            }
            TemplateProblem::AlreadyTemplate => {
                f.write_str("you can't convert a template to a template")
            }
            TemplateProblem::Running => {
                f.write_str("you can't convert a CT to template if the CT is running")
            }
            TemplateProblem::FeatureNotAvailable { volume } => {
                write!(f, "Template feature is not available for '{volume}'")
            }
        }
    }
}

impl std::error::Error for TemplateProblem {}

fn refused(problem: TemplateProblem) -> Error {
    Error::MakeTemplate { problem }
}

/// rootfs and every mpN of a section, with their keys, in config order.
pub(crate) fn section_mount_points(section: &Section) -> Result<Vec<(String, MountPoint)>, Error> {
    let mut list = Vec::new();
    if let Some(rootfs) = section.rootfs() {
        let rootfs = rootfs.map_err(|source| Error::ConfigValue {
            key: "rootfs".into(),
            source,
        })?;
        list.push(("rootfs".to_string(), rootfs));
    }
    for (index, mp) in section.mount_points() {
        let key = format!("mp{index}");
        let mp = mp.map_err(|source| Error::ConfigValue {
            key: key.clone(),
            source,
        })?;
        list.push((key, mp));
    }
    Ok(list)
}

impl Container<'_> {
    /// `pct template <vmid>`, as pct: refused for a locked container, one with snapshots, a
    /// template and a running container (in that order); then every volume must have its
    /// storage's template feature; each becomes a base volume and its key names the new
    /// volume (other options kept); last `template: 1`.
    ///
    /// Unlike pct, the config is written after each volume, so that should a later volume
    /// fail, the config still names every volume as it now is.
    pub fn template(&self) -> Result<(), Error> {
        let storage = self.host.storage_config()?;
        let _lock = self.lock()?;
        let mut config = self.config()?;
        check_lock(&config)?;
        if !config.snapshots.is_empty() {
            return Err(refused(TemplateProblem::HasSnapshots));
        }
        if config.main.flag("template") {
            return Err(refused(TemplateProblem::AlreadyTemplate));
        }
        if self.is_running() {
            return Err(refused(TemplateProblem::Running));
        }
        let mount_points = section_mount_points(&config.main)?;
        let mut volumes = Vec::with_capacity(mount_points.len());
        for (key, mp) in mount_points {
            let volid = match mp.kind() {
                MountKind::Volume => VolumeId::parse(&mp.volume).ok(),
                MountKind::Bind | MountKind::Device => None,
            };
            match volid {
                Some(volid) if storage.volume_has_feature(Feature::Template, &volid, None) => {
                    volumes.push((key, mp, volid));
                }
                _ => {
                    return Err(refused(TemplateProblem::FeatureNotAvailable {
                        volume: mp.volume.clone(),
                    }));
                }
            }
        }
        for (key, mut mp, volid) in volumes {
            storage.activate_volume(&volid)?;
            let base = storage.create_base(&volid)?;
            mp.volume = base.to_string();
            config.main.set(&key, mp.to_string());
            self.write_config(&config)?;
        }
        config.main.set("template", "1".into());
        self.write_config(&config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_problem_reads_as_pct_words_it() {
        let cases = [
            (
                TemplateProblem::HasSnapshots,
                "unable to create template, because CT contains snapshots",
            ),
            (
                TemplateProblem::AlreadyTemplate,
                "you can't convert a template to a template",
            ),
            (
                TemplateProblem::Running,
                "you can't convert a CT to template if the CT is running",
            ),
            (
                TemplateProblem::FeatureNotAvailable {
                    volume: "/srv/data".into(),
                },
                "Template feature is not available for '/srv/data'",
            ),
        ];
        for (problem, words) in cases {
            assert_eq!(refused(problem).to_string(), words);
        }
    }
}
