//! A network namespace standing in for the host, with a bridge, for tests that start
//! containers on a network of their own.

use std::process::Command;
use std::time::{Duration, Instant};

use super::TestRoot;

/// A network namespace standing in for the host, with bridge `br0`; deleted on drop.
pub struct NetHost {
    pub name: String,
}

pub fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?} failed");
}

impl NetHost {
    pub fn new(tag: &str) -> NetHost {
        let name = format!("corral-{tag}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let host = NetHost { name };
        ip(&["-n", &host.name, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &host.name, "link", "set", "br0", "up"]);
        host
    }

    /// Turn VLAN filtering on; false where the kernel has no CONFIG_BRIDGE_VLAN_FILTERING.
    pub fn make_vlan_aware(&self) -> bool {
        Command::new("ip")
            .args([
                "-n",
                &self.name,
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "vlan_filtering",
                "1",
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Run pct in this namespace. `ip netns exec` gives a fresh /sys for the namespace's
    /// links, without the cgroup2 mount, which is mounted again there.
    pub fn pct(&self, root: &TestRoot, args: &[&str]) -> (i32, String, String) {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c"])
            .arg("mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null; exec \"$0\" \"$@\"")
            .arg(super::pct_binary())
            .args(args)
            .env("CORRAL_ROOT", root.path())
            .output()
            .expect("run pct");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    pub fn pct_ok(&self, root: &TestRoot, args: &[&str]) -> String {
        let (code, out, err) = self.pct(root, args);
        assert_eq!(code, 0, "pct {args:?}: {err}");
        out
    }

    /// The links of this namespace, one name per line.
    pub fn links(&self) -> Vec<String> {
        let output = Command::new("ip")
            .args(["-n", &self.name, "-o", "link", "show"])
            .output()
            .expect("run ip");
        // A failed `ip` prints nothing: that must not read as "no veth left".
        assert!(
            output.status.success(),
            "ip -n {} link show: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split(": ").nth(1))
            .map(|name| name.split('@').next().unwrap().to_string())
            .collect()
    }

    /// The veths left once the kernel has had up to two seconds to clean up the network
    /// namespaces of stopped containers (it does so in the background).
    pub fn veths_settled(&self) -> Vec<String> {
        let since = Instant::now();
        loop {
            let veths = self.veths();
            if veths.is_empty() || since.elapsed() > Duration::from_secs(2) {
                return veths;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn veths(&self) -> Vec<String> {
        self.links()
            .into_iter()
            .filter(|name| name.starts_with("veth"))
            .collect()
    }
}

impl Drop for NetHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
