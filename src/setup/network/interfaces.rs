//! Debian's `/etc/network/interfaces` (also Devuan, older Ubuntu and Alpine), rewritten the
//! way pct does it: the existing file is read line by line, comments and stanzas of other
//! interfaces stay, the `iface` stanzas of the container's NICs are regenerated (keeping
//! their other options), missing ones are appended in name order, and loopback is added
//! when nothing brings it up.

use std::collections::{BTreeMap, BTreeSet};

use super::{ip_in_cidr, ipv4_netmask, is_link_local6};
use crate::config::{Ip4Config, Ip6Config, NetDevice};
use crate::setup::context::Setup;
use crate::setup::section::{BEGIN, END};

const INTERFACES: &str = "/etc/network/interfaces";

/// What pct knows about one interface.
#[derive(Debug, Default)]
struct Settings {
    /// `dhcp`, `manual`, or the static address without prefix.
    address: Option<String>,
    netmask: Option<String>,
    cidr: Option<String>,
    gateway: Option<String>,
    gateway_off_subnet: bool,
    /// `auto`, `dhcp`, `manual`, or the static address.
    address6: Option<String>,
    netmask6: Option<String>,
    cidr6: Option<String>,
    gateway6: Option<String>,
    gateway6_off_subnet: bool,
}

impl Settings {
    fn of(net: &NetDevice) -> Settings {
        let mut settings = Settings::default();
        match &net.ip {
            Some(Ip4Config::Dhcp) => settings.address = Some("dhcp".into()),
            Some(Ip4Config::Manual) => settings.address = Some("manual".into()),
            Some(Ip4Config::Static { address, prefix }) => {
                settings.address = Some(address.clone());
                settings.netmask = Some(ipv4_netmask(*prefix));
                settings.cidr = Some(format!("{address}/{prefix}"));
            }
            None => {}
        }
        if let Some(gw) = &net.gw {
            settings.gateway = Some(gw.clone());
            settings.gateway_off_subnet = settings
                .cidr
                .as_deref()
                .is_some_and(|cidr| !ip_in_cidr(gw, cidr));
        }
        match &net.ip6 {
            Some(Ip6Config::Auto) => settings.address6 = Some("auto".into()),
            Some(Ip6Config::Dhcp) => settings.address6 = Some("dhcp".into()),
            Some(Ip6Config::Manual) => settings.address6 = Some("manual".into()),
            Some(Ip6Config::Static { address, prefix }) => {
                settings.address6 = Some(address.clone());
                settings.netmask6 = Some(prefix.to_string());
                settings.cidr6 = Some(format!("{address}/{prefix}"));
            }
            None => {}
        }
        if let Some(gw) = &net.gw6 {
            settings.gateway6 = Some(gw.clone());
            settings.gateway6_off_subnet = settings
                .cidr6
                .as_deref()
                .is_some_and(|cidr| !ip_in_cidr(gw, cidr) && !is_link_local6(gw));
        }
        settings
    }

    fn is_empty(&self) -> bool {
        self.address.is_none()
            && self.gateway.is_none()
            && self.address6.is_none()
            && self.gateway6.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// An `iface` stanza of one of the container's NICs, being read.
struct Stanza {
    family: Family,
    ifname: String,
    /// Its other option lines (and PVE markers, so old route scripts can be found).
    attrs: Vec<String>,
}

/// The route scripts for a gateway outside the interface's subnet, marked as pct's.
fn gateway_scripts(ifname: &str, gw: &str) -> String {
    format!(
        "{BEGIN}\n\
         \tpost-up ip route add {gw} dev {ifname}\n\
         \tpost-up ip route add default via {gw} dev {ifname}\n\
         \tpre-down ip route del default via {gw} dev {ifname}\n\
         \tpre-down ip route del {gw} dev {ifname}\n\
         {END}\n"
    )
}

/// `(ip, dev)` of an option line `<verb> ip route <action> [default via] <ip> dev <dev>`.
fn route_line(line: &str, verb: &str, action: &str, default: bool) -> Option<(String, String)> {
    let mut words = line.split_whitespace();
    let expected: &[&str] = if default {
        &[verb, "ip", "route", action, "default", "via"]
    } else {
        &[verb, "ip", "route", action]
    };
    for word in expected {
        if words.next()? != *word {
            return None;
        }
    }
    let ip = words.next()?;
    if words.next()? != "dev" {
        return None;
    }
    let dev = words.next()?;
    if words.next().is_some() || line.ends_with(char::is_whitespace) {
        return None;
    }
    Some((ip.to_string(), dev.to_string()))
}

/// Drop pct's earlier route scripts from a stanza's options: the marked block, or (from
/// before pct marked them) four lines that name the same gateway and device exactly.
fn remove_gateway_scripts(attrs: &mut Vec<String>) {
    if attrs.iter().any(|a| a == BEGIN || a == END) {
        let mut keep = true;
        attrs.retain(|attr| {
            if attr == BEGIN {
                keep = false;
                false
            } else if attr == END {
                keep = true;
                false
            } else {
                keep
            }
        });
        return;
    }
    let mut i = 0;
    while i + 3 < attrs.len() {
        let matches = route_line(&attrs[i], "post-up", "add", false).is_some_and(|first| {
            [
                route_line(&attrs[i + 1], "post-up", "add", true),
                route_line(&attrs[i + 2], "pre-down", "del", true),
                route_line(&attrs[i + 3], "pre-down", "del", false),
            ]
            .iter()
            .all(|other| other.as_ref() == Some(&first))
        });
        if matches {
            attrs.drain(i..i + 4);
        } else {
            i += 1;
        }
    }
}

/// The rewriting state: the text so far and what has been written.
struct Writer<'a> {
    networks: &'a BTreeMap<String, Settings>,
    cidr_form: bool,
    out: String,
    done_auto: BTreeSet<String>,
    done_v4: BTreeSet<String>,
    done_v6: BTreeSet<String>,
}

impl Writer<'_> {
    fn print(&mut self, stanza: Option<Stanza>) {
        let Some(mut stanza) = stanza else {
            return;
        };
        let net = &self.networks[&stanza.ifname];
        let ifname = stanza.ifname.as_str();
        if self.done_auto.insert(ifname.to_string()) {
            self.out.push_str(&format!("auto {ifname}\n"));
        }
        let (done, address, netmask, cidr, gateway, off_subnet, inet) = match stanza.family {
            Family::V4 => (
                &mut self.done_v4,
                &net.address,
                &net.netmask,
                &net.cidr,
                &net.gateway,
                net.gateway_off_subnet,
                "inet",
            ),
            Family::V6 => (
                &mut self.done_v6,
                &net.address6,
                &net.netmask6,
                &net.cidr6,
                &net.gateway6,
                net.gateway6_off_subnet,
                "inet6",
            ),
        };
        done.insert(ifname.to_string());
        let Some(address) = address else {
            return;
        };
        let is_method = match stanza.family {
            Family::V4 => matches!(address.as_str(), "dhcp" | "manual"),
            Family::V6 => matches!(address.as_str(), "auto" | "dhcp" | "manual"),
        };
        if is_method {
            self.out
                .push_str(&format!("iface {ifname} {inet} {address}\n\n"));
            return;
        }
        self.out
            .push_str(&format!("iface {ifname} {inet} static\n"));
        if self.cidr_form {
            if let Some(cidr) = cidr {
                self.out.push_str(&format!("\taddress {cidr}\n"));
            }
        } else {
            self.out.push_str(&format!("\taddress {address}\n"));
            if let Some(netmask) = netmask {
                self.out.push_str(&format!("\tnetmask {netmask}\n"));
            }
        }
        remove_gateway_scripts(&mut stanza.attrs);
        if let Some(gw) = gateway {
            if off_subnet {
                self.out.push_str(&gateway_scripts(ifname, gw));
            } else {
                self.out.push_str(&format!("\tgateway {gw}\n"));
            }
        }
        for attr in &stanza.attrs {
            self.out.push_str(&format!("\t{attr}\n"));
        }
        self.out.push('\n');
    }
}

/// `iface <name> <family> <method>` alone on a line.
fn iface_line(line: &str) -> Option<(&str, Family)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["iface", name, "inet", _] => Some((name, Family::V4)),
        ["iface", name, "inet6", _] => Some((name, Family::V6)),
        _ => None,
    }
}

/// A line that starts another kind of stanza.
fn is_other_stanza(line: &str) -> bool {
    let rest = line.trim_start();
    rest.starts_with("allow-")
        || ["mapping", "source", "source-directory"]
            .iter()
            .any(|word| {
                rest.strip_prefix(word)
                    .is_some_and(|after| after.starts_with(char::is_whitespace))
            })
}

/// The new `/etc/network/interfaces` for `nets` given the current text, or `None` when no
/// NIC has an address or gateway (pct leaves the file alone then). `cidr_form` writes
/// `address ip/prefix` (Debian ≥ 10, Alpine ≥ 3.13) instead of `address` and `netmask`.
pub fn render<'n>(
    existing: Option<&str>,
    nets: impl IntoIterator<Item = &'n NetDevice>,
    cidr_form: bool,
) -> Option<String> {
    let networks: BTreeMap<String, Settings> = nets
        .into_iter()
        .filter(|net| !net.name.is_empty())
        .map(|net| (net.name.clone(), Settings::of(net)))
        .filter(|(_, settings)| !settings.is_empty())
        .collect();
    if networks.is_empty() {
        return None;
    }
    let mut writer = Writer {
        networks: &networks,
        cidr_form,
        out: String::new(),
        done_auto: BTreeSet::new(),
        done_v4: BTreeSet::new(),
        done_v6: BTreeSet::new(),
    };
    let mut stanza: Option<Stanza> = None;
    if let Some(existing) = existing {
        // Lines as Perl's readline gives them: a final newline ends the last one.
        let mut lines: Vec<&str> = existing.split('\n').collect();
        if existing.is_empty() || existing.ends_with('\n') {
            lines.pop();
        }
        for line in lines {
            if line.starts_with("# --- BEGIN PVE ---") || line.starts_with("# --- END PVE ---") {
                if let Some(current) = stanza.as_mut() {
                    current.attrs.push(line.to_string());
                }
                continue;
            }
            if line.starts_with('#') {
                writer.out.push_str(line);
                writer.out.push('\n');
                continue;
            }
            if line.trim().is_empty() {
                if stanza.is_some() {
                    writer.print(stanza.take());
                } else {
                    writer.out.push_str(line);
                    writer.out.push('\n');
                }
                continue;
            }
            if let Some((ifname, family)) = iface_line(line) {
                writer.print(stanza.take());
                if networks.contains_key(ifname) {
                    stanza = Some(Stanza {
                        family,
                        ifname: ifname.to_string(),
                        attrs: Vec::new(),
                    });
                } else {
                    writer.out.push_str(line);
                    writer.out.push('\n');
                }
                continue;
            }
            if let Some(rest) = line.trim_start().strip_prefix("auto") {
                for iface in rest.split_whitespace() {
                    writer.done_auto.insert(iface.to_string());
                }
                writer.print(stanza.take());
                writer.out.push_str(line);
                writer.out.push('\n');
                continue;
            }
            if is_other_stanza(line) {
                writer.print(stanza.take());
                writer.out.push_str(line);
                writer.out.push('\n');
                continue;
            }
            if let Some(current) = stanza.as_mut() {
                let data = line.trim_start();
                if let Some(space) = data.find(char::is_whitespace) {
                    let name = &data[..space];
                    if !matches!(name, "address" | "netmask" | "gateway" | "broadcast") {
                        current.attrs.push(data.to_string());
                    }
                    continue;
                }
            }
            writer.out.push_str(line);
            writer.out.push('\n');
        }
        writer.print(stanza.take());
    }
    let mut need_separator = !writer.out.is_empty() && !writer.out.ends_with("\n\n");
    for (ifname, net) in &networks {
        for (family, has_address) in [
            (Family::V4, net.address.is_some()),
            (Family::V6, net.address6.is_some()),
        ] {
            let done = match family {
                Family::V4 => &writer.done_v4,
                Family::V6 => &writer.done_v6,
            };
            if done.contains(ifname) || !has_address {
                continue;
            }
            if need_separator {
                writer.out.push('\n');
                need_separator = false;
            }
            writer.print(Some(Stanza {
                family,
                ifname: ifname.clone(),
                attrs: Vec::new(),
            }));
        }
    }
    let mut text = writer.out;
    // Templates before Debian 8 do not bring loopback up unless told to.
    if !writer.done_auto.contains("lo") {
        text = format!("auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n{text}");
    }
    Some(text)
}

/// Rewrite the guest's `/etc/network/interfaces` for its named NICs.
pub fn setup_interfaces(setup: &Setup, cidr_form: bool) -> Result<(), String> {
    let existing = setup
        .root
        .read(INTERFACES)
        .map_err(|e| format!("unable to read '{INTERFACES}': {e}"))?;
    let Some(text) = render(existing.as_deref(), setup.conf.named_nets(), cidr_form) else {
        return Ok(());
    };
    setup.make_path("/etc/network")?;
    setup.write(INTERFACES, &text, None)
}

#[cfg(test)]
mod tests;
