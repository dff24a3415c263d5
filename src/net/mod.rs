//! Container networking as pct sets it up: for each `netN` a veth pair, the host side
//! `veth<vmid>i<N>` on its bridge (with VLANs on a VLAN-aware bridge), the peer made straight
//! inside the container's network namespace with the configured name, MAC and MTU. Inside,
//! loopback and the links come up, and for `ostype: unmanaged` or `host-managed=1`
//! containers corral sets the static addresses and default routes itself (the guest's own
//! network files do that for the others).

mod error;
pub mod netlink;

use std::io;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use error::NetError;
use netlink::{Netlink, VLAN_PVID, VLAN_UNTAGGED, VethPeer, link_index};

/// One `netN` as the start path needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDevice {
    /// `net0`, `net1`, ...
    pub key: String,
    /// The name inside the container.
    pub name: String,
    /// The host side of the veth pair, `veth<vmid>i<N>`.
    pub host_name: String,
    /// The host bridge the host side joins.
    pub bridge: Option<String>,
    /// The MAC address inside.
    pub hwaddr: Option<String>,
    /// The MTU of both sides.
    pub mtu: Option<u16>,
    /// The VLAN tag of the bridge port.
    #[serde(default)]
    pub tag: Option<u16>,
    /// VLANs the bridge port also carries.
    #[serde(default)]
    pub trunks: Vec<u16>,
    /// The link stays down.
    #[serde(default)]
    pub link_down: bool,
    /// `rate=` in MB/s (MiB, as pct counts them).
    #[serde(default)]
    pub rate: Option<String>,
    /// Static addresses (`address/prefix`) corral sets itself; empty when the guest does.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Default gateways corral sets itself.
    #[serde(default)]
    pub gateways: Vec<String>,
}

fn failed(what: String) -> impl FnOnce(io::Error) -> NetError {
    move |e| NetError::io(what, e)
}

fn parse_mac(text: &str) -> Result<[u8; 6], NetError> {
    let invalid = || NetError::InvalidMac {
        mac: text.to_string(),
    };
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(invalid());
    }
    for (byte, part) in mac.iter_mut().zip(parts) {
        *byte = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
    }
    Ok(mac)
}

fn read_sys(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
}

/// The bridge a device joins: its index and MTU, or pct's error.
fn bridge_of(device: &NetworkDevice, bridge: &str) -> Result<(u32, u32), NetError> {
    let index = link_index(bridge).ok_or_else(|| NetError::NoBridge {
        bridge: bridge.to_string(),
    })?;
    let mtu: u32 = read_sys(&format!("/sys/class/net/{bridge}/mtu"))
        .and_then(|mtu| mtu.parse().ok())
        .unwrap_or(1500);
    if let Some(wanted) = device.mtu
        && u32::from(wanted) > mtu
    {
        return Err(NetError::MtuAboveBridge {
            key: device.key.clone(),
            mtu: wanted,
            bridge_mtu: mtu,
        });
    }
    Ok((index, mtu))
}

/// Host side of a start: make every pair, its peer inside the namespace of `init_pid`, and
/// put the host side on its bridge. On failure what was made is removed again.
pub fn create_host_side(devices: &[NetworkDevice], init_pid: u32) -> Result<(), NetError> {
    if devices.is_empty() {
        return Ok(());
    }
    let netlink = Netlink::open().map_err(failed("unable to open a netlink socket".into()))?;
    let mut made = Vec::new();
    let result = (|| {
        for device in devices {
            // A pair of an earlier run can outlive its namespace for a moment.
            if let Some(stale) = link_index(&device.host_name) {
                let _ = netlink.delete_link(stale);
            }
            let bridge = match &device.bridge {
                Some(bridge) => Some(bridge_of(device, bridge)?),
                None => None,
            };
            let mtu = device.mtu.map(u32::from).or(bridge.map(|(_, mtu)| mtu));
            let mac = device.hwaddr.as_deref().map(parse_mac).transpose()?;
            netlink
                .create_veth(
                    &device.host_name,
                    mtu,
                    &VethPeer {
                        name: &device.name,
                        mac,
                        mtu,
                        netns_pid: init_pid,
                    },
                )
                .map_err(failed(format!(
                    "{}: unable to create veth pair '{}'",
                    device.key, device.host_name
                )))?;
            made.push(device.host_name.clone());
            let index = link_index(&device.host_name).ok_or_else(|| NetError::Vanished {
                key: device.key.clone(),
                link: device.host_name.clone(),
            })?;
            if let (Some((bridge_index, _)), Some(name)) = (bridge, &device.bridge) {
                join_bridge(&netlink, device, name, bridge_index, index)?;
            }
            // A fresh link has no qdisc to replace; without rate= there is nothing to do,
            // and every `tc` run costs milliseconds on the start path.
            if device.rate.is_some() {
                apply_rate(device, false)?;
            }
            netlink.set_up(index, true).map_err(failed(format!(
                "{}: unable to bring '{}' up",
                device.key, device.host_name
            )))?;
        }
        Ok(())
    })();
    if result.is_err() {
        for name in made {
            if let Some(index) = link_index(&name) {
                let _ = netlink.delete_link(index);
            }
        }
    }
    result
}

/// Put the host side (`port`) on its bridge, with its VLANs.
fn join_bridge(
    netlink: &Netlink,
    device: &NetworkDevice,
    bridge: &str,
    bridge_index: u32,
    port: u32,
) -> Result<(), NetError> {
    netlink
        .set_master(port, Some(bridge_index))
        .map_err(failed(format!(
            "{}: unable to add '{}' to bridge '{bridge}'",
            device.key, device.host_name
        )))?;
    set_vlans(netlink, device, bridge, port)
}

/// `tag=` and `trunks=` on a VLAN-aware bridge: the tag becomes the port's untagged PVID in
/// place of VLAN 1, trunks are added tagged.
fn set_vlans(
    netlink: &Netlink,
    device: &NetworkDevice,
    bridge: &str,
    port: u32,
) -> Result<(), NetError> {
    if device.tag.is_none() && device.trunks.is_empty() {
        return Ok(());
    }
    if read_sys(&format!("/sys/class/net/{bridge}/bridge/vlan_filtering")).as_deref() != Some("1") {
        return Err(NetError::NotVlanAware {
            key: device.key.clone(),
            bridge: bridge.to_string(),
        });
    }
    let what = format!(
        "{}: unable to set VLANs on '{}'",
        device.key, device.host_name
    );
    let mut vlans: Vec<(u16, u16)> = device.trunks.iter().map(|vid| (*vid, 0)).collect();
    if let Some(tag) = device.tag {
        netlink
            .bridge_vlans(port, &[(1, 0)], false)
            .map_err(failed(what.clone()))?;
        vlans.push((tag, VLAN_PVID | VLAN_UNTAGGED));
    }
    netlink
        .bridge_vlans(port, &vlans, true)
        .map_err(failed(what))
}

/// `rate=` (MiB/s) in bytes per second; `None` for no limit (absent or 0). A float cast
/// would saturate: a rate that does not fit, or is not a number, is refused rather than
/// turned into another limit.
fn rate_in_bytes(device: &NetworkDevice) -> Result<Option<u64>, NetError> {
    let Some(rate) = &device.rate else {
        return Ok(None);
    };
    let invalid = || NetError::InvalidRate {
        key: device.key.clone(),
        rate: rate.clone(),
    };
    let mib: f64 = rate.parse().map_err(|_| invalid())?;
    if mib == 0.0 {
        return Ok(None);
    }
    let bytes = mib * 1024.0 * 1024.0;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Some(bytes as u64))
}

/// `rate=`, the way pct sets it up with `tc` (iproute2; netlink has no typed HTB or police
/// here): traffic into the container is shaped by an HTB class on the host side's egress,
/// traffic out of it policed on the host side's ingress, both at the rate with a 1 MiB
/// burst. With `replace`, earlier limits are removed first, so this also changes or lifts
/// one on a running container.
pub fn apply_rate(device: &NetworkDevice, replace: bool) -> Result<(), NetError> {
    let dev = device.host_name.as_str();
    let tc = |args: &[&str]| std::process::Command::new("tc").args(args).output();
    if replace {
        for args in [
            &["qdisc", "del", "dev", dev, "ingress"][..],
            &["qdisc", "del", "dev", dev, "root"][..],
        ] {
            let _ = tc(args);
        }
    }
    let Some(bytes_per_second) = rate_in_bytes(device)? else {
        return Ok(());
    };
    let rate = device.rate.as_deref().unwrap_or_default();
    let bytes = format!("{bytes_per_second}bps");
    let burst = "1048576b";
    let steps: [&[&str]; 4] = [
        &["qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"],
        &[
            "filter", "add", "dev", dev, "parent", "ffff:", "prio", "50", "basic", "police",
            "rate", &bytes, "burst", burst, "mtu", "64kb", "drop",
        ],
        &[
            "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1",
        ],
        &[
            "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", &bytes,
            "burst", burst,
        ],
    ];
    for args in steps {
        let output = tc(args).map_err(|source| NetError::TcMissing {
            key: device.key.clone(),
            rate: rate.to_string(),
            source,
        })?;
        if !output.status.success() {
            return Err(NetError::TcFailed {
                key: device.key.clone(),
                rate: rate.to_string(),
                command: args.join(" "),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
    }
    Ok(())
}

/// Container side, run in the container's network namespace before its init runs:
/// loopback and every link up (unless `link_down`), and the addresses and default routes
/// corral owns.
pub fn configure_inside(devices: &[NetworkDevice]) -> Result<(), NetError> {
    let netlink = Netlink::open().map_err(failed("unable to open a netlink socket".into()))?;
    if let Some(lo) = link_index("lo") {
        netlink
            .set_up(lo, true)
            .map_err(failed("unable to bring lo up".into()))?;
    }
    for device in devices {
        configure_device(&netlink, device)?;
    }
    Ok(())
}

/// One device inside: up unless `link_down`, with corral's addresses and routes.
fn configure_device(netlink: &Netlink, device: &NetworkDevice) -> Result<(), NetError> {
    let index = link_index(&device.name).ok_or_else(|| NetError::MissingInContainer {
        key: device.key.clone(),
        link: device.name.clone(),
    })?;
    if device.link_down {
        return Ok(());
    }
    netlink.set_up(index, true).map_err(failed(format!(
        "{}: unable to bring '{}' up",
        device.key, device.name
    )))?;
    for address in &device.addresses {
        let (ip, prefix) = address
            .split_once('/')
            .and_then(|(ip, prefix)| Some((ip.parse::<IpAddr>().ok()?, prefix.parse().ok()?)))
            .ok_or_else(|| NetError::InvalidAddress {
                key: device.key.clone(),
                address: address.clone(),
            })?;
        netlink
            .add_address(index, ip, prefix)
            .map_err(failed(format!("{}: unable to add {address}", device.key)))?;
    }
    for gateway in &device.gateways {
        let ip: IpAddr = gateway.parse().map_err(|_| NetError::InvalidGateway {
            key: device.key.clone(),
            gateway: gateway.clone(),
        })?;
        netlink
            .add_default_route(index, ip)
            .map_err(failed(format!(
                "{}: unable to add the route via {gateway}",
                device.key
            )))?;
    }
    Ok(())
}

/// Run `work` in the network namespace of `pid`, on a thread of its own (a netlink socket
/// belongs to the namespace it is opened in). setns of a network namespace changes the
/// calling thread only, so the caller's threads stay where they are, and no fork of a
/// possibly multi-threaded caller runs netlink code.
fn in_netns_of(
    pid: u32,
    work: impl FnOnce() -> Result<(), NetError> + Send,
) -> Result<(), NetError> {
    use std::os::fd::AsRawFd;
    let netns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| NetError::io("unable to open the container's network namespace", e))?;
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("corral-netns".into())
            .spawn_scoped(scope, || {
                // SAFETY: setns on a namespace descriptor we opened; it moves this thread,
                // which ends with the work.
                if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(NetError::io(
                        "unable to enter the container's network namespace",
                        io::Error::last_os_error(),
                    ));
                }
                work()
            })
            .map_err(|e| NetError::io("unable to start the network helper", e))?;
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// pct's hotplug of one `netN` on a running container whose init is `init_pid`: `old` is the
/// device now, `new` the wanted one (either missing: add or remove). A new name, MAC or MTU
/// recreates the pair; bridge, VLANs and link_down change in place.
pub fn hotplug(
    old: Option<&NetworkDevice>,
    new: Option<&NetworkDevice>,
    init_pid: u32,
) -> Result<(), NetError> {
    let netlink = Netlink::open().map_err(failed("unable to open a netlink socket".into()))?;
    let remove = |device: &NetworkDevice| -> Result<(), NetError> {
        if let Some(index) = link_index(&device.host_name) {
            netlink.delete_link(index).map_err(failed(format!(
                "{}: unable to remove '{}'",
                device.key, device.host_name
            )))?;
        }
        Ok(())
    };
    let add = |device: &NetworkDevice| -> Result<(), NetError> {
        create_host_side(std::slice::from_ref(device), init_pid)?;
        in_netns_of(init_pid, || {
            let inside =
                Netlink::open().map_err(failed("unable to open a netlink socket".into()))?;
            configure_device(&inside, device)
        })
        .inspect_err(|_| {
            if let Some(index) = link_index(&device.host_name) {
                let _ = netlink.delete_link(index);
            }
        })
    };
    match (old, new) {
        (None, None) => Ok(()),
        (Some(old), None) => remove(old),
        (None, Some(new)) => add(new),
        (Some(old), Some(new)) => {
            if old.name != new.name || old.hwaddr != new.hwaddr || old.mtu != new.mtu {
                remove(old)?;
                return add(new);
            }
            let index = link_index(&new.host_name).ok_or_else(|| NetError::Missing {
                key: new.key.clone(),
                link: new.host_name.clone(),
            })?;
            if old.bridge != new.bridge || old.tag != new.tag || old.trunks != new.trunks {
                // Leaving the bridge drops the port's VLANs; joining again starts afresh.
                netlink.set_master(index, None).map_err(failed(format!(
                    "{}: unable to take '{}' off its bridge",
                    new.key, new.host_name
                )))?;
                if let Some(bridge) = &new.bridge {
                    let (bridge_index, _) = bridge_of(new, bridge)?;
                    join_bridge(&netlink, new, bridge, bridge_index, index)?;
                }
            }
            if old.rate != new.rate {
                apply_rate(new, true)?;
            }
            if old.link_down != new.link_down {
                in_netns_of(init_pid, || {
                    let inside = Netlink::open()
                        .map_err(failed("unable to open a netlink socket".into()))?;
                    let peer = link_index(&new.name).ok_or_else(|| NetError::Missing {
                        key: new.key.clone(),
                        link: new.name.clone(),
                    })?;
                    inside
                        .set_up(peer, !new.link_down)
                        .map_err(failed(format!("{}: unable to set '{}'", new.key, new.name)))
                })?;
            }
            Ok(())
        }
    }
}

/// The host sides of a container's pairs, `veth<vmid>i*`: its live NICs while it runs,
/// leftovers once it stopped.
pub fn host_links(vmid: u32) -> Vec<String> {
    let prefix = format!("veth{vmid}i");
    std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            name.strip_prefix(&prefix)
                .is_some_and(|index| !index.is_empty() && index.chars().all(|c| c.is_ascii_digit()))
        })
        .collect()
}

/// Remove every leftover host link of a container.
pub fn remove_leftovers(vmid: u32) {
    let links = host_links(vmid);
    if links.is_empty() {
        return;
    }
    if let Ok(netlink) = Netlink::open() {
        for name in links {
            if let Some(index) = link_index(&name) {
                let _ = netlink.delete_link(index);
            }
        }
    }
}

/// Bytes into and out of the container (`netin`, `netout`), summed over the host sides: what
/// the host side sends goes in.
pub fn counters(vmid: u32) -> (u64, u64) {
    let read = |name: &str, counter: &str| -> u64 {
        read_sys(&format!("/sys/class/net/{name}/statistics/{counter}"))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    host_links(vmid)
        .iter()
        .fold((0, 0), |(netin, netout), name| {
            (
                netin + read(name, "tx_bytes"),
                netout + read(name, "rx_bytes"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The work runs in the container's network namespace; the calling thread stays in its
    /// own, and its children are born there.
    #[test]
    fn work_in_a_network_namespace_leaves_the_caller_where_it_was() {
        if !crate::skip::root_or_report() {
            return;
        }
        let mut other = std::process::Command::new("unshare")
            .args(["--net", "sleep", "30"])
            .spawn()
            .unwrap();
        let ns_of = |path: &str| std::fs::read_link(path).unwrap();
        let target = loop {
            let ns = ns_of(&format!("/proc/{}/ns/net", other.id()));
            if ns != ns_of("/proc/self/ns/net") {
                break ns;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let before = ns_of("/proc/thread-self/ns/net");
        let mut seen = None;
        in_netns_of(other.id(), || {
            seen = Some(ns_of("/proc/thread-self/ns/net"));
            Ok(())
        })
        .unwrap();
        let _ = other.kill();
        let _ = other.wait();
        assert_eq!(seen, Some(target));
        assert_eq!(ns_of("/proc/thread-self/ns/net"), before);
    }

    #[test]
    fn rates_convert_without_saturating() {
        let device = |rate: &str| NetworkDevice {
            key: "net0".into(),
            rate: Some(rate.into()),
            ..NetworkDevice::default()
        };
        assert_eq!(rate_in_bytes(&device("1.5")).unwrap(), Some(1_572_864));
        assert_eq!(rate_in_bytes(&device("0")).unwrap(), None);
        for bad in ["1e300", "inf", "NaN", "-1", "x"] {
            let error = rate_in_bytes(&device(bad)).unwrap_err();
            assert!(
                matches!(&error, NetError::InvalidRate { key, rate } if key == "net0" && rate == bad),
                "{error:?}"
            );
            assert_eq!(error.to_string(), format!("net0: invalid rate '{bad}'"));
        }
    }

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("BC:24:11:00:aa:FF").unwrap(),
            [0xbc, 0x24, 0x11, 0, 0xaa, 0xff]
        );
        for bad in ["BC:24:11:00:aa", "BC:24:11:00:aa:GG"] {
            let error = parse_mac(bad).unwrap_err();
            assert!(matches!(error, NetError::InvalidMac { .. }), "{error:?}");
            assert_eq!(error.to_string(), format!("invalid MAC address '{bad}'"));
        }
    }
}
