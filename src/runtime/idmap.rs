//! Writing an unprivileged container's ID maps from the host, and the host setting that
//! chooses how: through the shadow tools `newuidmap`/`newgidmap` (which check the ranges
//! against /etc/subuid and /etc/subgid, as LXC does when they are installed), or by writing
//! `/proc/<pid>/uid_map` and `gid_map` directly (root may map any range).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::start_error::{StartError, StartStep};
use super::trace::Trace;
use crate::config::{IdKind, IdMap, IdMapEntry};

/// How a start writes ID maps: `idmap: auto|newuidmap|direct` in the host's
/// `etc/corral/host.conf`, or [`crate::Host::set_id_map_tool`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdMapTool {
    /// LXC's choice: `newuidmap`/`newgidmap` when both are installed, direct writes otherwise.
    #[default]
    Auto,
    /// Always the shadow tools; the start fails when they are missing or refuse the ranges.
    Newuidmap,
    /// Always direct writes to `/proc/<pid>/uid_map` and `gid_map`; needs no /etc/subuid.
    Direct,
}

impl IdMapTool {
    /// The word of `host.conf`.
    pub fn name(self) -> &'static str {
        match self {
            IdMapTool::Auto => "auto",
            IdMapTool::Newuidmap => "newuidmap",
            IdMapTool::Direct => "direct",
        }
    }
}

/// A `host.conf` `idmap` value that is none of the three words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("idmap: invalid value '{value}' (auto, newuidmap or direct)")]
pub struct UnknownIdMapTool {
    /// The value given.
    pub value: String,
}

impl FromStr for IdMapTool {
    type Err = UnknownIdMapTool;

    fn from_str(text: &str) -> Result<IdMapTool, UnknownIdMapTool> {
        match text {
            "auto" => Ok(IdMapTool::Auto),
            "newuidmap" => Ok(IdMapTool::Newuidmap),
            "direct" => Ok(IdMapTool::Direct),
            other => Err(UnknownIdMapTool {
                value: other.to_string(),
            }),
        }
    }
}

/// Write `map` into the user namespace of `pid`, as `tool` says. Fails at the
/// [`StartStep::IdMap`] step, with the operating-system error as the source where there is
/// one.
pub fn write_id_maps(
    pid: u32,
    map: &IdMap,
    tool: IdMapTool,
    trace: &Trace,
) -> Result<(), StartError> {
    let shadow_tools = match tool {
        IdMapTool::Direct => None,
        IdMapTool::Auto => find_program("newuidmap").zip(find_program("newgidmap")),
        IdMapTool::Newuidmap => Some(
            find_program("newuidmap")
                .zip(find_program("newgidmap"))
                .ok_or_else(|| StartError::new(StartStep::IdMap, missing_tools_message()))?,
        ),
    };
    for (kind, file) in [(IdKind::User, "uid_map"), (IdKind::Group, "gid_map")] {
        let entries: Vec<_> = map.entries.iter().filter(|e| e.kind == kind).collect();
        match &shadow_tools {
            Some((newuidmap, newgidmap)) => {
                let tool = if kind == IdKind::User {
                    newuidmap
                } else {
                    newgidmap
                };
                trace.step_with(|| {
                    format!(
                        "write {file} with {}: {}",
                        tool.display(),
                        describe_map(&entries)
                    )
                });
                run_shadow_tool(tool, pid, kind, &entries, map)?;
            }
            None => {
                trace.step_with(|| format!("write /proc/{pid}/{file}: {}", describe_map(&entries)));
                let text: String = entries
                    .iter()
                    .map(|e| format!("{} {} {}\n", e.inside, e.outside, e.count))
                    .collect();
                std::fs::write(format!("/proc/{pid}/{file}"), text).map_err(|e| {
                    let context = format!(
                        "unable to write /proc/{pid}/{file} ({})",
                        describe_map(&entries)
                    );
                    StartError::io(StartStep::IdMap, context, e)
                })?;
            }
        }
    }
    Ok(())
}

fn run_shadow_tool(
    tool: &Path,
    pid: u32,
    kind: IdKind,
    entries: &[&IdMapEntry],
    map: &IdMap,
) -> Result<(), StartError> {
    let mut command = std::process::Command::new(tool);
    command.arg(pid.to_string());
    for e in entries {
        command.args([
            e.inside.to_string(),
            e.outside.to_string(),
            e.count.to_string(),
        ]);
    }
    let output = command.output().map_err(|e| {
        let context = format!("unable to run {}", tool.display());
        StartError::io(StartStep::IdMap, context, e)
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(StartError::new(
        StartStep::IdMap,
        shadow_tool_failure(tool, kind, &String::from_utf8_lossy(&output.stderr), map),
    ))
}

/// The error of a shadow tool that refused a mapping: its own words, then the fix — the
/// ranges root needs in /etc/subuid and /etc/subgid, or direct writes.
pub fn shadow_tool_failure(tool: &Path, kind: IdKind, stderr: &str, map: &IdMap) -> String {
    let mut ranges: Vec<String> = Vec::new();
    for entry in &map.entries {
        let range = format!("root:{}:{}", entry.outside, entry.count);
        if !ranges.contains(&range) {
            ranges.push(range);
        }
    }
    format!(
        "{} failed to write the {} mapping: {}\n\
         (the host's /etc/subuid and /etc/subgid must give root the container's ranges: \
         add '{}' to both, or set 'idmap: direct' in etc/corral/host.conf)",
        tool.display(),
        kind.letter(),
        stderr.trim(),
        ranges.join("' and '")
    )
}

fn missing_tools_message() -> &'static str {
    "newuidmap and newgidmap not found (install the uidmap package, \
     or set 'idmap: direct' in etc/corral/host.conf)"
}

fn describe_map(entries: &[&IdMapEntry]) -> String {
    entries
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A program on the PATH (the standard one when PATH is unset).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| super::plan::DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_setting_reads_its_three_words_and_names_them_on_a_typo() {
        assert_eq!("auto".parse(), Ok(IdMapTool::Auto));
        assert_eq!("newuidmap".parse(), Ok(IdMapTool::Newuidmap));
        assert_eq!("direct".parse(), Ok(IdMapTool::Direct));
        let error = "subuid".parse::<IdMapTool>().unwrap_err();
        assert_eq!(
            error,
            UnknownIdMapTool {
                value: "subuid".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "idmap: invalid value 'subuid' (auto, newuidmap or direct)"
        );
        assert_eq!(IdMapTool::default(), IdMapTool::Auto);
    }

    #[test]
    fn a_refused_mapping_names_the_subuid_line_that_fixes_it() {
        let map = IdMap::from_lxc_values(std::iter::empty()).unwrap();
        let message = shadow_tool_failure(
            Path::new("/usr/bin/newuidmap"),
            IdKind::User,
            "newuidmap: uid range [0-65536) -> [100000-165536) not allowed\n",
            &map,
        );
        assert!(
            message.starts_with(
                "/usr/bin/newuidmap failed to write the u mapping: newuidmap: uid range \
                 [0-65536) -> [100000-165536) not allowed\n"
            ),
            "{message}"
        );
        assert!(
            message.contains("add 'root:100000:65536' to both"),
            "{message}"
        );
        assert!(message.contains("/etc/subuid and /etc/subgid"), "{message}");
        assert!(message.contains("'idmap: direct'"), "{message}");
    }

    #[test]
    fn direct_writes_never_look_for_the_shadow_tools() {
        // A pid that cannot exist: the direct write is tried (and fails on /proc), where a
        // forced newuidmap would fail first on the missing tools or run them.
        let map = IdMap::from_lxc_values(std::iter::empty()).unwrap();
        let error = write_id_maps(u32::MAX, &map, IdMapTool::Direct, &Trace::off()).unwrap_err();
        assert_eq!(error.step(), StartStep::IdMap);
        assert_eq!(error.raw_os_error(), Some(libc::ENOENT), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("unable to write /proc/{}/uid_map", u32::MAX)),
            "{error}"
        );
    }
}
