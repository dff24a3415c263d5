//! What a container uses, read from its limiting cgroup for `pct status --verbose`: memory
//! (without page cache, as pct counts it), swap, CPU time, bytes read and written, and the
//! pressure (PSI) averages.

use std::fs;

use super::ContainerCgroup;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub mem: u64,
    pub swap: u64,
    pub cpu_usec: u64,
    pub diskread: u64,
    pub diskwrite: u64,
    /// `(resource, some avg10, full avg10)` for cpu, io and memory.
    pub pressure: Vec<(&'static str, f64, f64)>,
}

/// The value of `key` in a flat-keyed file such as memory.stat or cpu.stat.
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok())?
    })
}

/// rbytes and wbytes summed over the devices of io.stat.
fn io_bytes(text: &str) -> (u64, u64) {
    let mut totals = (0, 0);
    for field in text.split_whitespace() {
        if let Some(value) = field.strip_prefix("rbytes=") {
            totals.0 += value.parse::<u64>().unwrap_or(0);
        } else if let Some(value) = field.strip_prefix("wbytes=") {
            totals.1 += value.parse::<u64>().unwrap_or(0);
        }
    }
    totals
}

/// avg10 of the `some` and `full` lines of a pressure file.
fn pressure(text: &str) -> (f64, f64) {
    let avg10 = |kind: &str| {
        text.lines()
            .find(|line| line.starts_with(kind))
            .and_then(|line| {
                line.split_whitespace()
                    .find_map(|field| field.strip_prefix("avg10="))
            })
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0)
    };
    (avg10("some"), avg10("full"))
}

impl ContainerCgroup {
    /// Usage as far as the controllers on this host account it; what is missing reads 0.
    pub fn usage(&self) -> Usage {
        let read = |name: &str| fs::read_to_string(self.limiting.join(name)).unwrap_or_default();
        let current: u64 = read("memory.current").trim().parse().unwrap_or(0);
        let file = keyed(&read("memory.stat"), "file").unwrap_or(0);
        let (diskread, diskwrite) = io_bytes(&read("io.stat"));
        Usage {
            mem: current.saturating_sub(file),
            swap: read("memory.swap.current").trim().parse().unwrap_or(0),
            cpu_usec: keyed(&read("cpu.stat"), "usage_usec").unwrap_or(0),
            diskread,
            diskwrite,
            pressure: ["cpu", "io", "memory"]
                .into_iter()
                .map(|resource| {
                    let (some, full) = pressure(&read(&format!("{resource}.pressure")));
                    (resource, some, full)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_files_parse() {
        assert_eq!(keyed("anon 10\nfile 4096\nkernel 5\n", "file"), Some(4096));
        assert_eq!(
            keyed("usage_usec 1500\nuser_usec 1000\n", "usage_usec"),
            Some(1500)
        );
        assert_eq!(keyed("file_mapped 3\n", "file"), None);
        assert_eq!(
            io_bytes("254:0 rbytes=100 wbytes=20 rios=1 wios=2\n7:0 rbytes=5 wbytes=1 rios=1\n"),
            (105, 21)
        );
        assert_eq!(
            pressure(
                "some avg10=1.50 avg60=0.00 avg300=0.00 total=10\nfull avg10=0.25 avg60=0.00 avg300=0.00 total=2\n"
            ),
            (1.5, 0.25)
        );
        assert_eq!(pressure(""), (0.0, 0.0));
    }

    #[test]
    fn a_cgroup_without_files_reads_as_nothing_used() {
        let dir = tempfile::tempdir().unwrap();
        let cgroup = ContainerCgroup {
            limiting: dir.path().to_path_buf(),
            payload: dir.path().join("ns"),
        };
        fs::write(dir.path().join("memory.current"), "8192\n").unwrap();
        fs::write(dir.path().join("memory.stat"), "anon 4096\nfile 4096\n").unwrap();
        let usage = cgroup.usage();
        assert_eq!((usage.mem, usage.swap, usage.cpu_usec), (4096, 0, 0));
        assert_eq!(usage.pressure.len(), 3);
    }
}
