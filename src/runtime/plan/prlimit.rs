//! `lxc.prlimit.<resource>: <soft>[:<hard>]`: resource limits of the container's init,
//! parsed and checked when the plan is built so a bad key fails `pct start --dry-run`, not
//! the cloned child.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The resources `lxc.prlimit.*` names, as setrlimit(2) knows them.
const RESOURCES: &[(&str, libc::__rlimit_resource_t)] = &[
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// A bad `lxc.prlimit.<name>: <value>`. `Display` names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrlimitError {
    /// `<name>` is not a resource setrlimit(2) knows.
    #[error("lxc.prlimit.{name}: unknown resource")]
    UnknownResource {
        /// The resource named.
        name: String,
    },
    /// A limit that is neither a number nor `unlimited`.
    #[error("lxc.prlimit.{name}: invalid value '{value}'")]
    InvalidValue {
        /// The resource.
        name: String,
        /// The whole value of the key.
        value: String,
    },
    /// `soft:hard` with the soft limit above the hard one, which setrlimit(2) refuses.
    #[error("lxc.prlimit.{name}: the soft limit is above the hard limit in '{value}'")]
    SoftAboveHard {
        /// The resource.
        name: String,
        /// The whole value of the key.
        value: String,
    },
}

/// One resource limit init starts with. It travels (JSON plan, saved state) as the pair of
/// strings the config holds: `["nofile", "1024:4096"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "(String, String)", try_from = "(String, String)")]
pub struct Prlimit {
    /// Index into `RESOURCES`.
    resource: usize,
    /// The soft limit; `RLIM_INFINITY` for `unlimited`.
    pub soft: u64,
    /// The hard limit; `RLIM_INFINITY` for `unlimited`.
    pub hard: u64,
}

impl Prlimit {
    /// `lxc.prlimit.<name>: <value>`: a known resource, `unlimited` or a number for each
    /// limit, and a soft limit no higher than the hard one (setrlimit refuses that).
    pub fn parse(name: &str, value: &str) -> Result<Prlimit, PrlimitError> {
        let resource = RESOURCES
            .iter()
            .position(|(known, _)| *known == name)
            .ok_or_else(|| PrlimitError::UnknownResource {
                name: name.to_string(),
            })?;
        let limit = |text: &str| -> Result<u64, PrlimitError> {
            match text.trim() {
                "unlimited" => Ok(libc::RLIM_INFINITY),
                number => number.parse().map_err(|_| PrlimitError::InvalidValue {
                    name: name.to_string(),
                    value: value.to_string(),
                }),
            }
        };
        let (soft, hard) = match value.split_once(':') {
            Some((soft, hard)) => (limit(soft)?, limit(hard)?),
            None => (limit(value)?, limit(value)?),
        };
        if soft > hard {
            return Err(PrlimitError::SoftAboveHard {
                name: name.to_string(),
                value: value.to_string(),
            });
        }
        Ok(Prlimit {
            resource,
            soft,
            hard,
        })
    }

    /// The resource's name (`nofile`).
    pub fn name(&self) -> &'static str {
        RESOURCES[self.resource].0
    }

    /// The resource as setrlimit(2) takes it.
    pub fn resource(&self) -> libc::__rlimit_resource_t {
        RESOURCES[self.resource].1
    }

    /// The value in the config's form: one number when soft and hard agree, else
    /// `soft:hard`.
    pub fn value(&self) -> String {
        let show = |limit: u64| {
            if limit == libc::RLIM_INFINITY {
                "unlimited".to_string()
            } else {
                limit.to_string()
            }
        };
        if self.soft == self.hard {
            show(self.soft)
        } else {
            format!("{}:{}", show(self.soft), show(self.hard))
        }
    }
}

impl fmt::Display for Prlimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.name(), self.value())
    }
}

impl From<Prlimit> for (String, String) {
    fn from(limit: Prlimit) -> (String, String) {
        (limit.name().to_string(), limit.value())
    }
}

impl TryFrom<(String, String)> for Prlimit {
    type Error = PrlimitError;
    fn try_from((name, value): (String, String)) -> Result<Prlimit, PrlimitError> {
        Prlimit::parse(&name, &value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_unlimited_as_one_value_or_soft_and_hard() {
        let limit = Prlimit::parse("nofile", "1024:4096").unwrap();
        assert_eq!((limit.soft, limit.hard), (1024, 4096));
        assert_eq!(limit.resource(), libc::RLIMIT_NOFILE);
        assert_eq!(limit.to_string(), "nofile = 1024:4096");
        let limit = Prlimit::parse("core", "unlimited").unwrap();
        assert_eq!(
            (limit.soft, limit.hard),
            (libc::RLIM_INFINITY, libc::RLIM_INFINITY)
        );
        assert_eq!(limit.value(), "unlimited");
        assert_eq!(
            Prlimit::parse("stack", "8192:unlimited").unwrap().value(),
            "8192:unlimited"
        );
    }

    #[test]
    fn unknown_resources_bad_numbers_and_inverted_limits_are_refused() {
        let refused = |name: &str, value: &str| Prlimit::parse(name, value).unwrap_err();
        let error = refused("bogus", "5");
        assert!(matches!(&error, PrlimitError::UnknownResource { name } if name == "bogus"));
        assert_eq!(error.to_string(), "lxc.prlimit.bogus: unknown resource");
        let error = refused("nofile", "many");
        assert!(matches!(error, PrlimitError::InvalidValue { .. }));
        assert_eq!(
            error.to_string(),
            "lxc.prlimit.nofile: invalid value 'many'"
        );
        assert_eq!(
            refused("nofile", "10:x").to_string(),
            "lxc.prlimit.nofile: invalid value '10:x'"
        );
        let error = refused("nofile", "4096:1024");
        assert!(matches!(error, PrlimitError::SoftAboveHard { .. }));
        assert_eq!(
            error.to_string(),
            "lxc.prlimit.nofile: the soft limit is above the hard limit in '4096:1024'"
        );
    }

    #[test]
    fn a_limit_travels_as_the_configs_pair_of_strings() {
        let limit = Prlimit::parse("nproc", "100:200").unwrap();
        let json = serde_json::to_string(&limit).unwrap();
        assert_eq!(json, r#"["nproc","100:200"]"#);
        assert_eq!(serde_json::from_str::<Prlimit>(&json).unwrap(), limit);
        assert!(serde_json::from_str::<Prlimit>(r#"["bogus","5"]"#).is_err());
    }
}
