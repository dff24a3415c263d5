//! pct's output formats: the text layouts pct prints, and JSON.

use serde_json::{Map, Value, json};

use crate::config::{OptionKind, PendingChange, Section, encode_bytes, encode_text, option_spec};
use crate::host::{ContainerStatus, DiskUsage, ListEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    JsonPretty,
}

impl Format {
    pub fn from_arg(value: Option<&String>) -> Format {
        match value.map(String::as_str) {
            Some("json") => Format::Json,
            Some("json-pretty") => Format::JsonPretty,
            _ => Format::Text,
        }
    }

    fn print_json(self, value: &Value) {
        if self == Format::JsonPretty {
            println!("{}", serde_json::to_string_pretty(value).expect("json"));
        } else {
            println!("{value}");
        }
    }
}

pub fn list(entries: &[ListEntry], format: Format) {
    if format != Format::Text {
        return format.print_json(&json!(entries));
    }
    if entries.is_empty() {
        return;
    }
    let row = |a: &str, b: &str, c: &str, d: &str| println!("{a:<10} {b:<10} {c:<12} {d:<20}");
    row("VMID", "Status", "Lock", "Name");
    for entry in entries {
        row(
            &entry.vmid.to_string(),
            &entry.status,
            entry.lock.as_deref().unwrap_or(""),
            &entry.name,
        );
    }
}

/// A config value typed as the API returns it: integers and booleans as numbers.
fn typed_value(key: &str, value: &str) -> Value {
    let kind = option_spec(key).map(|spec| spec.kind);
    match kind {
        Some(OptionKind::Boolean) | Some(OptionKind::Integer { .. }) => value
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(value)),
        Some(OptionKind::Number { .. }) => value
            .parse::<f64>()
            .ok()
            .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
            .unwrap_or_else(|| json!(value)),
        _ => json!(value),
    }
}

pub fn config(section: &Section, digest: &str, format: Format) {
    if format != Format::Text {
        let mut object = Map::new();
        for (key, value) in &section.options {
            object.insert(key.clone(), typed_value(key, value));
        }
        if !section.description.is_empty() {
            object.insert(
                "description".into(),
                json!(String::from_utf8_lossy(&section.description)),
            );
        }
        if !section.env.is_empty() {
            object.insert("env".into(), json!(section.env.join("\0")));
        }
        if !section.lxc.is_empty() {
            object.insert("lxc".into(), json!(section.lxc));
        }
        object.insert("digest".into(), json!(digest));
        return format.print_json(&Value::Object(object));
    }
    let mut lines: Vec<(String, String)> = section
        .options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !section.description.is_empty() {
        lines.push(("description".into(), encode_bytes(&section.description)));
    }
    if !section.env.is_empty() {
        lines.push(("env".into(), section.env.join("\0")));
    }
    lines.sort();
    for (key, value) in lines {
        println!("{key}: {value}");
    }
    for (key, value) in &section.lxc {
        println!("{key}: {value}");
    }
}

pub fn pending(changes: &[PendingChange], format: Format) {
    if format != Format::Text {
        return format.print_json(&json!(changes));
    }
    for change in changes {
        let (word, key, value) = match change {
            PendingChange::Cur { key, value } => ("cur", key, value),
            PendingChange::New { key, value } => ("new", key, value),
            PendingChange::Del { key, value } => ("del", key, value),
        };
        let value = if key == "description" {
            encode_text(value)
        } else {
            value.clone()
        };
        println!("{word} {key}: {value}");
    }
}

pub fn status(status: &ContainerStatus, verbose: bool, format: Format) {
    match (format, verbose) {
        (Format::Text, false) => println!("status: {}", status.status),
        (Format::Text, true) => status
            .verbose_lines()
            .iter()
            .for_each(|line| println!("{line}")),
        (_, false) => format.print_json(&json!({ "status": status.status })),
        (_, true) => format.print_json(&json!(status)),
    }
}

/// pct df's sizes: one decimal in binary units (its own float formatting, not format_size).
fn human(size: u64) -> String {
    let mut value = size as f64;
    if value < 1024.0 {
        return size.to_string();
    }
    for unit in ["K", "M", "G", "T"] {
        value /= 1024.0;
        if value < 1024.0 || unit == "T" {
            return format!("{value:.1}{unit}");
        }
    }
    unreachable!()
}

pub fn df(rows: &[DiskUsage]) {
    let mut table =
        vec![["MP", "Volume", "Size", "Used", "Avail", "Use%", "Path"].map(String::from)];
    for row in rows {
        let percent = if row.total == 0 {
            0.0
        } else {
            100.0 * row.used as f64 / row.total as f64
        };
        table.push([
            row.mount_point.clone(),
            row.volume.clone(),
            human(row.total),
            human(row.used),
            human(row.avail),
            format!("{percent:.1}"),
            row.path.clone(),
        ]);
    }
    let width = |column: usize| table.iter().map(|r| r[column].len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..6).map(width).collect();
    for r in &table {
        println!(
            "{:<w0$} {:<w1$} {:>w2$} {:>w3$} {:>w4$} {:>w5$} {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
            w5 = widths[5]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_sizes() {
        assert_eq!(human(512), "512");
        assert_eq!(human(1536), "1.5K");
        assert_eq!(human(8 * 1024 * 1024 * 1024), "8.0G");
    }
}

/// Any serialisable value as JSON (`--output-format json|json-pretty`).
pub fn json<T: serde::Serialize>(value: &T, format: Format) {
    format.print_json(&serde_json::to_value(value).expect("json"));
}

/// `pct cpusets`: a grid of each running container's CPUs between dashed lines, ids sorted
/// as strings like pct does.
pub fn cpusets(sets: &std::collections::BTreeMap<u32, Vec<u32>>) {
    print!("{}", cpuset_table(sets));
}

pub fn cpuset_table(sets: &std::collections::BTreeMap<u32, Vec<u32>>) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    for (vmid, cpus) in sets {
        let mut line = String::from(": ");
        let last = cpus.iter().copied().max().unwrap_or(0);
        for id in 0..=last {
            line.push(' ');
            if cpus.contains(&id) {
                line.push_str(&id.to_string());
            } else {
                line.push_str(&" ".repeat(id.to_string().len()));
            }
        }
        rows.push((vmid.to_string(), line));
    }
    if rows.is_empty() {
        return "no running containers\n".into();
    }
    rows.sort();
    let len = rows.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    let id_len = rows.iter().map(|(v, _)| v.len()).max().unwrap_or(0);
    let header = format!("{}\n", "-".repeat(len + id_len));
    let mut out = header.clone();
    for (vmid, line) in rows {
        out.push_str(&format!("{vmid:>id_len$}{line}\n"));
    }
    out.push_str(&header);
    out
}

#[cfg(test)]
mod cpuset_tests {
    use super::*;

    #[test]
    fn cpuset_grid_matches_pcts_layout() {
        let mut sets = std::collections::BTreeMap::new();
        sets.insert(100, vec![0, 2]);
        sets.insert(1000, vec![1]);
        assert_eq!(
            cpuset_table(&sets),
            "------------\n 100:  0   2\n1000:    1\n------------\n"
        );
        assert_eq!(cpuset_table(&Default::default()), "no running containers\n");
    }
}

/// `pct listsnapshot`: one line per snapshot, times in local time as pct's `strftime`.
pub fn snapshot_tree(lines: &[crate::config::TreeLine]) {
    for line in lines {
        println!("{}", line.format(local_time));
    }
}

/// Unix seconds as `%Y-%m-%d %H:%M:%S` in the local time zone (`TZ`, else /etc/localtime).
fn local_time(seconds: i64) -> String {
    // SAFETY: localtime_r fills the zeroed struct it is given, or returns null.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let time: libc::time_t = seconds;
    if unsafe { libc::localtime_r(&time, &mut tm) }.is_null() {
        return String::new();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        i64::from(tm.tm_year) + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}
