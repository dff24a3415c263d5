//! What guest setup works from: the parts of a container's config it reads, the host files
//! pct consults (resolv.conf, the time zone), and the running record of what it said.

use std::path::Path;

use crate::config::{NetDevice, Section};

use super::error::{FileAction, SetupError};
use super::random::RandomSource;
use super::root::GuestRoot;

/// The container config as guest setup sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GuestConfig {
    /// `hostname`.
    pub hostname: Option<String>,
    /// The configured `ostype`, if any.
    pub ostype: Option<String>,
    /// `unprivileged`.
    pub unprivileged: bool,
    /// `netN` by index, in index order.
    pub nets: Vec<(u16, NetDevice)>,
    /// `nameserver`: DNS servers, space separated.
    pub nameserver: Option<String>,
    /// `searchdomain`: DNS search domains.
    pub searchdomain: Option<String>,
    /// `timezone`, or `host` for the host's.
    pub timezone: Option<String>,
    /// `tty` (pct's default 2).
    pub tty: u32,
    /// `features: nesting=1`.
    pub nesting: bool,
}

impl GuestConfig {
    /// Read from a container's (pending-applied) main section.
    pub fn from_section(section: &Section) -> Result<GuestConfig, SetupError> {
        let mut nets = Vec::new();
        for (index, net) in section.nets() {
            let net = net.map_err(|source| SetupError::Property {
                key: format!("net{index}"),
                source,
            })?;
            nets.push((index, net));
        }
        nets.sort_by_key(|(index, _)| *index);
        let nesting = section
            .features()
            .map_err(|source| SetupError::Property {
                key: "features".into(),
                source,
            })?
            .nesting
            .unwrap_or(false);
        let tty = match section.get("tty") {
            Some(value) => value.parse().map_err(|_| SetupError::InvalidValue {
                key: "tty".into(),
                value: value.to_string(),
            })?,
            None => 2,
        };
        Ok(GuestConfig {
            hostname: section.get("hostname").map(str::to_string),
            ostype: section.get("ostype").map(str::to_string),
            unprivileged: section.flag("unprivileged"),
            nets,
            nameserver: section.get("nameserver").map(str::to_string),
            searchdomain: section.get("searchdomain").map(str::to_string),
            timezone: section.get("timezone").map(str::to_string),
            tty,
            nesting,
        })
    }

    /// The host name, pct's `localhost` when unset.
    pub fn hostname(&self) -> &str {
        self.hostname.as_deref().unwrap_or("localhost")
    }

    /// The host name up to its first dot.
    pub fn short_hostname(&self) -> &str {
        let name = self.hostname();
        name.split('.').next().unwrap_or(name)
    }

    /// The NICs that have a name, which are all pct's setup considers.
    pub fn named_nets(&self) -> impl Iterator<Item = &NetDevice> {
        self.nets
            .iter()
            .map(|(_, net)| net)
            .filter(|net| !net.name.is_empty())
    }
}

/// Host facts pct reads for guest setup, gathered before any setup runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostEnv {
    /// `search` (or `domain`) of the host's resolv.conf: its first word, last line winning.
    pub search: Option<String>,
    /// The host's first three nameservers.
    pub nameservers: Vec<String>,
    /// Where the host's `/etc/localtime` finally points.
    pub localtime: Option<String>,
    /// The host's `/etc/timezone`, chomped.
    pub timezone: Option<String>,
}

impl HostEnv {
    /// Read from the host root `root` (`/` on a real host, a test's directory otherwise).
    pub fn read(root: &Path) -> HostEnv {
        let resolv = std::fs::read_to_string(root.join("etc/resolv.conf")).unwrap_or_default();
        let mut env = parse_resolv_conf(&resolv);
        let localtime = root.join("etc/localtime");
        env.localtime = std::fs::canonicalize(&localtime).ok().map(|path| {
            // Inside a test root, name the target as the host would see it.
            let text = path.to_string_lossy().into_owned();
            match path.strip_prefix(root) {
                Ok(inner) if root != Path::new("/") => format!("/{}", inner.display()),
                _ => text,
            }
        });
        env.timezone = std::fs::read_to_string(root.join("etc/timezone"))
            .ok()
            .map(|text| text.strip_suffix('\n').unwrap_or(&text).to_string());
        env
    }
}

fn is_ip(text: &str) -> bool {
    text.parse::<std::net::IpAddr>().is_ok()
}

/// pve-common's reading of resolv.conf.
pub fn parse_resolv_conf(text: &str) -> HostEnv {
    let mut env = HostEnv::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first_is = |keyword: &str| {
            line.strip_prefix(keyword)
                .is_some_and(|rest| rest.starts_with([' ', '\t']))
        };
        if first_is("search") || first_is("domain") {
            words.next();
            if let Some(domain) = words.next() {
                env.search = Some(domain.to_string());
            }
        } else if words.next() == Some("nameserver")
            && let Some(server) = words.next()
            && is_ip(server)
            && env.nameservers.len() < 3
        {
            env.nameservers.push(server.to_string());
        }
    }
    env
}

/// Warnings and messages setup produced, in order; the caller prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// pct's `warn` lines (stderr).
    pub warnings: Vec<String>,
    /// pct's `print` lines (the task log).
    pub messages: Vec<String>,
}

/// One setup run: the rootfs, the config, the host facts and the randomness.
pub struct Setup<'a> {
    pub root: &'a GuestRoot,
    pub conf: &'a GuestConfig,
    pub host: &'a HostEnv,
    pub random: &'a mut dyn RandomSource,
    pub report: Report,
}

impl<'a> Setup<'a> {
    pub fn new(
        root: &'a GuestRoot,
        conf: &'a GuestConfig,
        host: &'a HostEnv,
        random: &'a mut dyn RandomSource,
    ) -> Setup<'a> {
        Setup {
            root,
            conf,
            host,
            random,
            report: Report::default(),
        }
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.report.warnings.push(text.into());
    }

    pub fn say(&mut self, text: impl Into<String>) {
        self.report.messages.push(text.into());
    }

    /// Write a whole file, the error naming it.
    pub fn write(&self, path: &str, data: &str, perms: Option<u32>) -> Result<(), SetupError> {
        self.root
            .write(path, data.as_bytes(), perms)
            .map_err(|e| SetupError::io(FileAction::Write, path, e))
    }

    /// Read a file that must exist.
    pub fn read(&self, path: &str) -> Result<String, SetupError> {
        match self.root.read(path) {
            Ok(Some(text)) => Ok(text),
            Ok(None) => Err(SetupError::missing(FileAction::Open, path)),
            Err(e) => Err(SetupError::io(FileAction::Open, path, e)),
        }
    }

    /// pct's `ct_modify_file`.
    pub fn modify(
        &self,
        path: &str,
        data: &str,
        options: super::root::ModifyOptions,
    ) -> Result<(), SetupError> {
        self.root
            .modify_file(path, data, options)
            .map_err(|e| SetupError::io(FileAction::Write, path, e))
    }

    pub fn make_path(&self, path: &str) -> Result<(), SetupError> {
        self.root
            .make_path(path)
            .map_err(|e| SetupError::io(FileAction::CreateDir, path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_as_pve_reads_it() {
        let env = parse_resolv_conf(
            "domain first.example\nsearch a.example b.example\n# nameserver 9.9.9.9\nnameserver 10.0.0.1\n nameserver fd00::53\nnameserver bogus\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n",
        );
        assert_eq!(env.search.as_deref(), Some("a.example"));
        assert_eq!(env.nameservers, ["10.0.0.1", "fd00::53", "10.0.0.2"]);
        assert_eq!(parse_resolv_conf("searchx y\n").search, None);
    }

    #[test]
    fn config_from_section() {
        let (config, _) = crate::Config::parse(
            crate::Vmid::new(100).unwrap(),
            "hostname: ct.example.com\nnet1: name=eth1,bridge=vmbr0,ip=dhcp\nnet0: name=eth0,bridge=vmbr0\nfeatures: nesting=1\ntty: 4\nunprivileged: 1\n",
            crate::config::ParseMode::Strict,
        )
        .unwrap();
        let guest = GuestConfig::from_section(&config.main).unwrap();
        assert_eq!(guest.short_hostname(), "ct");
        assert_eq!(
            guest.nets.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(guest.nesting && guest.unprivileged);
        assert_eq!(guest.tty, 4);
        assert_eq!(GuestConfig::default().hostname(), "localhost");
    }

    fn section(text: &str) -> Section {
        let (config, _) = crate::Config::parse(
            crate::Vmid::new(100).unwrap(),
            text,
            crate::config::ParseMode::Lenient,
        )
        .unwrap();
        config.main
    }

    #[test]
    fn config_values_setup_cannot_use_are_typed() {
        let error = GuestConfig::from_section(&section("tty: many\n")).unwrap_err();
        assert!(
            matches!(&error, SetupError::InvalidValue { key, value } if key == "tty" && value == "many"),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "tty: invalid value 'many'");
        let error = GuestConfig::from_section(&section("net3: bogus\n")).unwrap_err();
        assert!(
            matches!(&error, SetupError::Property { key, .. } if key == "net3"),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("net3: "), "{error}");
        let source = std::error::Error::source(&error).expect("the property error");
        assert!(
            source
                .downcast_ref::<crate::config::PropertyError>()
                .is_some()
        );
    }

    #[test]
    fn file_failures_name_the_action_path_and_system_error() {
        use std::io::ErrorKind;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/hosts.d")).unwrap();
        std::fs::write(dir.path().join("etc/file"), "").unwrap();
        let root = GuestRoot::open(dir.path(), None).unwrap();
        let (conf, host) = (GuestConfig::default(), HostEnv::default());
        let mut random = crate::setup::Drand48::seeded(0);
        let setup = Setup::new(&root, &conf, &host, &mut random);
        let kind_of = |error: &SetupError| error.io_error().map(|e| e.kind());

        let error = setup.write("/missing/hostname", "x\n", None).unwrap_err();
        assert!(matches!(
            &error,
            SetupError::Io { action: FileAction::Write, path, .. } if path == "/missing/hostname"
        ));
        assert_eq!(kind_of(&error), Some(ErrorKind::NotFound));
        assert!(
            error
                .to_string()
                .starts_with("unable to write '/missing/hostname': ")
        );

        // A directory is no file to read: missing, as for pct.
        let error = setup.read("/etc/hosts.d").unwrap_err();
        assert!(matches!(
            &error,
            SetupError::Io {
                action: FileAction::Open,
                ..
            }
        ));
        assert_eq!(kind_of(&error), Some(ErrorKind::NotFound));
        assert_eq!(
            error.to_string(),
            "can't open '/etc/hosts.d' - No such file or directory"
        );

        let error = setup.make_path("/etc/file/sub").unwrap_err();
        assert!(matches!(
            &error,
            SetupError::Io { action: FileAction::CreateDir, path, .. } if path == "/etc/file/sub"
        ));
        assert!(error.io_error().is_some());
    }
}
