//! pct's resource options turned into cgroup v2 values: `memory`/`swap` in MiB to bytes,
//! `cpulimit` to a `cpu.max` quota, `cpuunits` to `cpu.weight`, `cores` to a CPU count. The
//! file parser keeps values pct's schema refuses (a hand-edited `memory: 99999999999999`),
//! so each value is checked against the schema's range again here, and every conversion is
//! checked arithmetic: a value that does not fit is an error, never a wrapped or saturated
//! limit.

use crate::config::{Section, check_option};

const MIB: u64 = 1 << 20;

/// The `cpu.max` period pct uses (100 ms).
pub const CPU_PERIOD: u64 = 100_000;

/// The highest CPU weight cgroup v2 accepts; pct clamps `cpuunits` to it.
const MAX_CPU_WEIGHT: u64 = 10_000;

/// A limit that cannot be applied; `Display` is `<key>: <pct's message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct LimitError {
    /// The config key the limit comes from.
    pub key: &'static str,
    /// pct's message.
    pub message: String,
}

/// The memory files pct writes, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    pub max: u64,
    pub high: u64,
    pub swap_max: u64,
}

/// The value of `key` as the schema's API check accepts it (type and range), if set.
fn checked(section: &Section, key: &'static str) -> Result<Option<String>, LimitError> {
    section
        .get(key)
        .map(|value| check_option(key, value))
        .transpose()
        .map_err(|e| LimitError { key, message: e.0 })
}

fn whole(key: &'static str, value: &str) -> Result<u64, LimitError> {
    value.parse().map_err(|_| LimitError {
        key,
        message: format!("type check ('integer') failed - got '{value}'"),
    })
}

fn too_large(key: &'static str, value: &str) -> LimitError {
    LimitError {
        key,
        message: format!("value '{value}' is too large for this host"),
    }
}

/// `memory` (default 512) and `swap` (absent → 0) in MiB, as pct's cgroup v2 values:
/// `memory.max` = memory MiB, `memory.high` = memory·1016 KiB below 16 GiB, else 128 MiB less
/// than `memory.max`; `memory.swap.max` = swap MiB.
pub fn memory_limits(section: &Section) -> Result<MemoryLimits, LimitError> {
    let memory = match checked(section, "memory")? {
        Some(value) => whole("memory", &value)?,
        None => 512,
    };
    let swap = match checked(section, "swap")? {
        Some(value) => whole("swap", &value)?,
        None => 0,
    };
    let max = memory
        .checked_mul(MIB)
        .ok_or_else(|| too_large("memory", &memory.to_string()))?;
    let high = if memory < 16384 {
        memory * 1024 * 1016
    } else {
        // memory ≥ 16384 and memory·MiB fits, so this does too.
        (memory - 128) * MIB
    };
    let swap_max = swap
        .checked_mul(MIB)
        .ok_or_else(|| too_large("swap", &swap.to_string()))?;
    Ok(MemoryLimits {
        max,
        high,
        swap_max,
    })
}

/// `cpu.max` for `cpulimit` (`<quota> 100000`, quota = int(cpulimit·100000)); `None` for no
/// limit (unset or 0).
pub fn cpu_max(section: &Section) -> Result<Option<String>, LimitError> {
    let Some(value) = checked(section, "cpulimit")? else {
        return Ok(None);
    };
    let limit: f64 = value.parse().map_err(|_| LimitError {
        key: "cpulimit",
        message: format!("type check ('number') failed - got '{value}'"),
    })?;
    let quota = (limit * CPU_PERIOD as f64).trunc();
    if !(quota.is_finite() && quota >= 0.0 && quota < u64::MAX as f64) {
        return Err(too_large("cpulimit", &value));
    }
    let quota = quota as u64;
    Ok((quota > 0).then(|| format!("{quota} {CPU_PERIOD}")))
}

/// `cpu.weight` for `cpuunits`, clamped to cgroup v2's 10000 as pct does; `None` when unset.
pub fn cpu_weight(section: &Section) -> Result<Option<u64>, LimitError> {
    checked(section, "cpuunits")?
        .map(|value| whole("cpuunits", &value).map(|units| units.min(MAX_CPU_WEIGHT)))
        .transpose()
}

/// How many CPUs `cores` asks for; `None` when unset.
pub fn cores(section: &Section) -> Result<Option<usize>, LimitError> {
    checked(section, "cores")?
        .map(|value| {
            whole("cores", &value)
                .and_then(|n| usize::try_from(n).map_err(|_| too_large("cores", &value)))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(lines: &[(&str, &str)]) -> Section {
        let mut section = Section::default();
        for (key, value) in lines {
            section.set(key, value.to_string());
        }
        section
    }

    fn error(result: Result<impl std::fmt::Debug, LimitError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn memory_as_pct_writes_it() {
        let limits = memory_limits(&section(&[("memory", "512"), ("swap", "512")])).unwrap();
        assert_eq!(
            limits,
            MemoryLimits {
                max: 536870912,
                high: 532676608,
                swap_max: 536870912
            }
        );
        let limits = memory_limits(&section(&[("memory", "32768")])).unwrap();
        assert_eq!((limits.high, limits.swap_max), (34225520640, 0));
        assert_eq!(memory_limits(&Section::default()).unwrap().max, 512 << 20);
    }

    #[test]
    fn memory_that_would_overflow_is_refused() {
        // 2^44 MiB is 2^64 bytes: it used to wrap to memory.max = 0.
        assert_eq!(
            error(memory_limits(&section(&[("memory", "17592186044416")]))),
            "memory: value must have a maximum value of 17592186044415"
        );
        assert_eq!(
            error(memory_limits(&section(&[("swap", "17592186044416")]))),
            "swap: value must have a maximum value of 17592186044415"
        );
        assert_eq!(
            error(memory_limits(&section(&[(
                "memory",
                "99999999999999999999999"
            )]))),
            "memory: value must have a maximum value of 17592186044415"
        );
        assert_eq!(
            error(memory_limits(&section(&[("memory", "1e3")]))),
            "memory: type check ('integer') failed - got '1e3'"
        );
        let largest = memory_limits(&section(&[("memory", "17592186044415")])).unwrap();
        assert_eq!(largest.max, u64::MAX - (MIB - 1));
        assert_eq!(
            error(memory_limits(&section(&[("memory", "8")]))),
            "memory: value must have a minimum value of 16"
        );
    }

    #[test]
    fn cpu_limits_in_range() {
        assert_eq!(
            cpu_max(&section(&[("cpulimit", "0.5")]))
                .unwrap()
                .as_deref(),
            Some("50000 100000")
        );
        assert_eq!(
            cpu_max(&section(&[("cpulimit", "8192")]))
                .unwrap()
                .as_deref(),
            Some("819200000 100000")
        );
        assert_eq!(cpu_max(&section(&[("cpulimit", "0")])).unwrap(), None);
        assert_eq!(
            error(cpu_max(&section(&[(
                "cpulimit",
                "99999999999999999999999.5"
            )]))),
            "cpulimit: value must have a maximum value of 8192"
        );
        assert_eq!(
            cpu_weight(&section(&[("cpuunits", "200000")])).unwrap(),
            Some(10000)
        );
        assert_eq!(
            error(cpu_weight(&section(&[("cpuunits", "500001")]))),
            "cpuunits: value must have a maximum value of 500000"
        );
        assert_eq!(cores(&section(&[("cores", "4")])).unwrap(), Some(4));
        assert_eq!(
            error(cores(&section(&[("cores", "0")]))),
            "cores: value must have a minimum value of 1"
        );
        assert_eq!(
            error(cores(&section(&[("cores", "8193")]))),
            "cores: value must have a maximum value of 8192"
        );
    }
}
