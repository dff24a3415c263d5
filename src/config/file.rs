//! The file grammar: parsing `<vmid>.conf` into sections and writing it back as pct does.

use std::collections::BTreeMap;

use super::description::{comment_lines, decode_bytes};
use super::lxc::{LxcKey, classify};
use super::schema::check_type;
use super::{Section, Vmid};

/// The whole config file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// The container the file belongs to (its file name).
    pub vmid: Vmid,
    /// The current configuration: the lines before any `[section]`.
    pub main: Section,
    /// `[pve:pending]`; empty when the file has none.
    pub pending: Section,
    /// Snapshot sections by name (`[name]`), with `snaptime`, `parent`, `snapstate` inside.
    pub snapshots: BTreeMap<String, Section>,
}

/// Lenient is pct's normal read: bad values warn and are kept. Strict fails on the first error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseMode {
    /// Bad values become warnings and are kept, as pct reads its files.
    Lenient,
    /// The first bad value is an error.
    Strict,
}

/// A problem pct reports as a warning on a lenient read; the text is pct's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

/// A config error; `Display` is pct's message, e.g.
/// `vm 100 - unable to parse value of 'onboot' - type check ('boolean') failed - got 'maybe'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Which section lines go to while parsing.
enum Target {
    Main,
    Pending,
    Snapshot(String),
}

/// `[name]` with a pct snapshot name: a letter, then letters, digits, `_` or `-`.
fn snapshot_header(line: &str) -> Option<&str> {
    let name = line.trim_end().strip_prefix('[')?.strip_suffix(']')?;
    let bytes = name.as_bytes();
    let valid = bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    valid.then_some(name)
}

/// `lxc.<key>` followed by `:` or optional spaces and `=`; returns key and trimmed value.
fn lxc_line(line: &str) -> Option<(&str, &str)> {
    let key_len = line
        .bytes()
        .take_while(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
        .count();
    let key = &line[..key_len];
    if !key.starts_with("lxc.") || key.len() == 4 {
        return None;
    }
    let rest = &line[key_len..];
    let value = if let Some(value) = rest.strip_prefix(':') {
        value
    } else {
        rest.trim_start_matches([' ', '\t']).strip_prefix('=')?
    };
    Some((key, value.trim()))
}

/// `key: value` with pct's key grammar `[a-z][a-z_]*\d*`; the value trimmed and non-empty.
fn option_line(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let letters = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let key_ok = letters
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_lowercase())
        && letters.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let value = value.trim();
    (key_ok && !value.is_empty()).then_some((key, value))
}

impl Config {
    /// An empty config for `vmid`.
    pub fn new(vmid: Vmid) -> Config {
        Config {
            vmid,
            main: Section::default(),
            pending: Section::default(),
            snapshots: BTreeMap::new(),
        }
    }

    /// Parse a config file as pct reads it: as bytes. A description may be any bytes; any
    /// other line that is not UTF-8 is one pct's schema cannot accept, so it is reported
    /// (a warning on a lenient read) and left out, and the rest of the file still counts.
    /// Lines echoed in messages are escaped and cut (as `text::for_message` does).
    pub fn parse(
        vmid: Vmid,
        text: impl AsRef<[u8]>,
        mode: ParseMode,
    ) -> Result<(Config, Vec<Warning>), ConfigError> {
        let text = text.as_ref();
        let mut config = Config::new(vmid);
        let mut warnings = Vec::new();
        // Deprecation notices never fail a strict read: pct only warns about them.
        let mut notices = Vec::new();
        // Every message is made safe to print: values and keys come from the file.
        let mut report = |message: Shown| -> Result<(), ConfigError> {
            let message = message.0;
            match mode {
                ParseMode::Strict => Err(ConfigError(message)),
                ParseMode::Lenient => {
                    warnings.push(Warning(message));
                    Ok(())
                }
            }
        };
        let mut target = Target::Main;
        let mut description: Vec<u8> = Vec::new();
        for raw_line in text.split(|&b| b == b'\n') {
            if raw_line.trim_ascii().is_empty() {
                continue;
            }
            if let Some(comment) = raw_line.strip_prefix(b"#") {
                description.extend(decode_bytes(comment));
                description.push(b'\n');
                continue;
            }
            if let Some(text) = raw_line
                .strip_prefix(b"description:")
                .map(<[u8]>::trim_ascii)
                .filter(|t| !t.is_empty())
            {
                description.extend(decode_bytes(text));
                continue;
            }
            let Ok(line) = std::str::from_utf8(raw_line) else {
                report(Shown(format!(
                    "vm {vmid} - unable to parse config: {}",
                    crate::text::for_message(raw_line)
                )))?;
                continue;
            };
            let header = if line.trim_end().eq_ignore_ascii_case("[pve:pending]") {
                Some(Target::Pending)
            } else {
                snapshot_header(line).map(|name| Target::Snapshot(name.to_string()))
            };
            if let Some(next) = header {
                config
                    .section_mut(&target)
                    .description
                    .extend(std::mem::take(&mut description));
                if let Target::Snapshot(name) = &next {
                    config.snapshots.entry(name.clone()).or_default();
                }
                target = next;
                continue;
            }
            let is_pending = matches!(target, Target::Pending);
            let section = config.section_mut(&target);
            if let Some((key, value)) = lxc_line(line) {
                match classify(vmid.get(), key) {
                    // An empty entry is nothing: pct drops it when it splits `env`.
                    _ if key == "lxc.environment.runtime" => {
                        if !value.is_empty() {
                            section.env.push(value.to_string());
                        }
                    }
                    LxcKey::Valid => section.lxc.push((key.to_string(), value.to_string())),
                    LxcKey::Deprecated(warning) => {
                        notices.push(Warning(warning));
                        section.lxc.push((key.to_string(), value.to_string()));
                    }
                    LxcKey::Refused(message) => {
                        report(shown(&format!("vm {vmid} - {key}: {message}")))?
                    }
                    LxcKey::Unknown => report(shown(&format!(
                        "vm {vmid} - unable to parse config: {line}"
                    )))?,
                }
            } else if let Some(state) = snapstate(line) {
                section
                    .options
                    .insert("snapstate".into(), state.to_string());
            } else if let Some(list) = line
                .strip_prefix("delete:")
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                if is_pending {
                    section.delete = Some(list.to_string());
                } else {
                    report(shown(&format!(
                        "vm {vmid} - property 'delete' is only allowed in [pve:pending]"
                    )))?;
                }
            } else if let Some((key, value)) = option_line(line) {
                let stored = match check_type(key, value) {
                    Ok(normalized) => normalized,
                    Err(message) => {
                        report(shown(&format!(
                            "vm {vmid} - unable to parse value of '{key}' - {message}"
                        )))?;
                        value.to_string()
                    }
                };
                let section = config.section_mut(&target);
                section.options.insert(key.to_string(), stored);
            } else {
                report(shown(&format!(
                    "vm {vmid} - unable to parse config: {line}"
                )))?;
            }
        }
        config.section_mut(&target).description.extend(description);
        config.main.options.remove("snapstate");
        warnings.extend(notices.into_iter().map(|n| Warning(shown(&n.0).0)));
        Ok((config, warnings))
    }

    fn section_mut(&mut self, target: &Target) -> &mut Section {
        match target {
            Target::Main => &mut self.main,
            Target::Pending => &mut self.pending,
            Target::Snapshot(name) => self.snapshots.entry(name.clone()).or_default(),
        }
    }

    /// The file text pct would write for this config.
    pub fn write(&self) -> Result<String, ConfigError> {
        let mut main = self.main.clone();
        main.options.remove("snapstate");
        // An unusedN still referenced by rootfs/mpN is not unused.
        let referenced = main.referenced_volumes();
        main.options
            .retain(|key, value| !(key.starts_with("unused") && referenced.contains(value)));

        let mut text = write_section(&main)?;
        // A pending section that would write no lines (say, a description of empty lines)
        // gets no header either, so what is written reads back the same.
        let pending = write_section(&self.pending)?;
        if !pending.is_empty() {
            text.push_str("\n[pve:pending]\n");
            text.push_str(&pending);
        }
        for (name, snapshot) in &self.snapshots {
            text.push_str(&format!("\n[{name}]\n"));
            text.push_str(&write_section(snapshot)?);
        }
        Ok(text)
    }

    /// SHA-1 hex of the raw file bytes, as pct's `digest`.
    pub fn digest(raw: &[u8]) -> String {
        use sha1::{Digest, Sha1};
        Sha1::digest(raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The main section with pending values applied and pending deletes removed
    /// (`pct config` without `--current`).
    pub fn with_pending_applied(&self) -> Section {
        let mut merged = self.main.clone();
        for (key, value) in &self.pending.options {
            merged.options.insert(key.clone(), value.clone());
        }
        if !self.pending.description.is_empty() {
            merged.description = self.pending.description.clone();
        }
        if !self.pending.env.is_empty() {
            merged.env = self.pending.env.clone();
        }
        for key in super::pending::pending_deletes(&self.pending).keys() {
            merged.remove(key);
        }
        merged
    }
}

/// A message whose text from the file is escaped and cut for the terminal.
struct Shown(String);

/// A message that quotes the file, each of its lines escaped and cut.
fn shown(message: &str) -> Shown {
    Shown(
        message
            .split('\n')
            .map(crate::text::for_message)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `snapstate: prepare|delete` (pct's pattern is not anchored at the start).
fn snapstate(line: &str) -> Option<&'static str> {
    let at = line.find("snapstate:")?;
    match line[at + "snapstate:".len()..].trim() {
        "prepare" => Some("prepare"),
        "delete" => Some("delete"),
        _ => None,
    }
}

fn write_section(section: &Section) -> Result<String, ConfigError> {
    let mut text = String::new();
    for line in comment_lines(&section.description) {
        text.push_str(&line);
        text.push('\n');
    }
    // `delete` is one more key of the section, sorted with the others.
    let delete = section.delete.as_ref().map(|list| ("delete", list));
    let mut keys: Vec<(&str, &String)> = section
        .options
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain(delete)
        .collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in keys {
        if value.contains('\n') {
            return Err(ConfigError(format!(
                "detected invalid newline inside property '{key}'"
            )));
        }
        text.push_str(&format!("{key}: {value}\n"));
    }
    for variable in section.env.iter().filter(|v| !v.is_empty()) {
        text.push_str(&format!("lxc.environment.runtime: {variable}\n"));
    }
    for (key, value) in &section.lxc {
        if key != "lxc.environment.runtime" {
            text.push_str(&format!("{key}: {value}\n"));
        }
    }
    Ok(text)
}
