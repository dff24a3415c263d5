//! Debian's `/etc/network/interfaces` (also Devuan, Ubuntu before 17.10 and Alpine), rewritten
//! the way pct does it: the existing file is read line by line; comments, other interfaces'
//! stanzas and unknown options stay; the `iface` stanzas of the container's NICs are
//! regenerated and those of a family no longer configured dropped; NICs the file lacks are
//! appended in name order, and loopback is prepended when nothing brings it up.
//!
//! The file is handled as bytes and matched with Perl's ASCII notion of whitespace, so text
//! pct would keep (in any encoding) is kept byte for byte.

use crate::setup::error::{FileAction, SetupError};
use std::collections::{BTreeMap, BTreeSet};

use super::{ip_in_cidr, ipv4_netmask, is_link_local6};
use crate::config::{Ip4Config, Ip6Config, NetDevice};
use crate::setup::context::Setup;
use crate::setup::section::{BEGIN, END};

const INTERFACES: &str = "/etc/network/interfaces";

/// How a static address is written; pct decides by distribution and release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressForm {
    /// `address ip/prefix`: Debian from 10, Alpine from 3.13.
    Cidr,
    /// `address ip` and `netmask mask`, the mask dotted for IPv4 and a prefix length for
    /// IPv6: older Debian and Alpine, every Devuan, Ubuntu before 17.10.
    Netmask,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn keyword(self) -> &'static str {
        match self {
            Family::V4 => "inet",
            Family::V6 => "inet6",
        }
    }
}

/// The address of one family of a NIC.
#[derive(Debug)]
enum Address {
    /// `dhcp`, `manual` or (IPv6) `auto`: written as the stanza's method.
    Method(&'static str),
    Static {
        address: String,
        netmask: String,
        cidr: String,
    },
}

/// What pct writes for one family of a NIC.
#[derive(Debug, Default)]
struct FamilyConfig {
    address: Option<Address>,
    gateway: Option<String>,
    /// The gateway lies outside the static subnet, so it needs a route of its own.
    needs_route: bool,
}

/// What pct writes for one NIC.
#[derive(Debug)]
struct Interface {
    v4: FamilyConfig,
    v6: FamilyConfig,
}

impl Interface {
    fn of(net: &NetDevice) -> Interface {
        let v4_address = net.ip.as_ref().map(|ip| match ip {
            Ip4Config::Dhcp => Address::Method("dhcp"),
            Ip4Config::Manual => Address::Method("manual"),
            Ip4Config::Static { address, prefix } => Address::Static {
                address: address.clone(),
                netmask: ipv4_netmask(*prefix),
                cidr: format!("{address}/{prefix}"),
            },
        });
        let v6_address = net.ip6.as_ref().map(|ip| match ip {
            Ip6Config::Auto => Address::Method("auto"),
            Ip6Config::Dhcp => Address::Method("dhcp"),
            Ip6Config::Manual => Address::Method("manual"),
            Ip6Config::Static { address, prefix } => Address::Static {
                address: address.clone(),
                netmask: prefix.to_string(),
                cidr: format!("{address}/{prefix}"),
            },
        });
        Interface {
            v4: FamilyConfig::new(v4_address, net.gw.as_deref(), |gw, cidr| {
                !ip_in_cidr(gw, cidr)
            }),
            // A link-local IPv6 gateway is always reachable.
            v6: FamilyConfig::new(v6_address, net.gw6.as_deref(), |gw, cidr| {
                !ip_in_cidr(gw, cidr) && !is_link_local6(gw)
            }),
        }
    }

    /// pct skips a NIC with neither address nor gateway in either family.
    fn is_empty(&self) -> bool {
        [&self.v4, &self.v6]
            .iter()
            .all(|family| family.address.is_none() && family.gateway.is_none())
    }

    fn family(&self, family: Family) -> &FamilyConfig {
        match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }
}

impl FamilyConfig {
    fn new(
        address: Option<Address>,
        gateway: Option<&str>,
        off_subnet: impl Fn(&str, &str) -> bool,
    ) -> FamilyConfig {
        // Only a static address has a subnet to be outside of.
        let needs_route = match (&address, gateway) {
            (Some(Address::Static { cidr, .. }), Some(gw)) => off_subnet(gw, cidr),
            _ => false,
        };
        FamilyConfig {
            address,
            gateway: gateway.map(str::to_string),
            needs_route,
        }
    }
}

/// Perl's `\s` on bytes.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn trim_start(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(text.len());
    &text[start..]
}

/// The runs of non-space bytes, as Perl's `\S+` finds them.
fn words(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| is_space(b)).filter(|word| !word.is_empty())
}

/// `keyword` followed by a whitespace byte.
fn starts_with_word(text: &[u8], keyword: &str) -> bool {
    text.strip_prefix(keyword.as_bytes())
        .and_then(|rest| rest.first())
        .is_some_and(|&b| is_space(b))
}

/// One line of the file, by the first of pct's patterns that matches it.
#[derive(Debug, PartialEq, Eq)]
enum Line<'t> {
    /// `# --- BEGIN PVE ---` or `# --- END PVE ---` at the start of the line.
    Marker,
    Comment,
    Blank,
    /// `iface <name> inet|inet6 <method>` and nothing else.
    Iface {
        name: &'t [u8],
        family: Family,
    },
    /// `auto` and what follows — pct does not require a space after the keyword.
    Auto(Vec<&'t [u8]>),
    /// `mapping`, `allow-*`, `source`, `source-directory`.
    OtherStanza,
    /// `<name> <value…>`: an option when inside a stanza; `data` is all of it.
    Option {
        name: &'t [u8],
        data: &'t [u8],
    },
    Other,
}

fn classify(line: &[u8]) -> Line<'_> {
    if line.starts_with(b"# --- BEGIN PVE ---") || line.starts_with(b"# --- END PVE ---") {
        return Line::Marker;
    }
    if line.starts_with(b"#") {
        return Line::Comment;
    }
    let data = trim_start(line);
    if data.is_empty() {
        return Line::Blank;
    }
    let tokens: Vec<&[u8]> = words(data).collect();
    if let [b"iface", name, family, _method] = tokens.as_slice() {
        let family = match *family {
            b"inet" => Some(Family::V4),
            b"inet6" => Some(Family::V6),
            _ => None,
        };
        if let Some(family) = family {
            return Line::Iface { name, family };
        }
    }
    if let Some(rest) = data.strip_prefix(b"auto") {
        return Line::Auto(words(rest).collect());
    }
    if starts_with_word(data, "mapping")
        || data.starts_with(b"allow-")
        || starts_with_word(data, "source")
        || starts_with_word(data, "source-directory")
    {
        return Line::OtherStanza;
    }
    match data.iter().position(|&b| is_space(b)) {
        Some(end) => Line::Option {
            name: &data[..end],
            data,
        },
        None => Line::Other,
    }
}

/// Options pct regenerates itself, so the old ones are dropped.
fn is_regenerated_option(name: &[u8]) -> bool {
    matches!(name, b"address" | b"netmask" | b"gateway" | b"broadcast")
}

/// `(ip, dev)` of an option that is exactly `<prefix words…> <ip> dev <dev>`, as pct's
/// `^\s*<prefix>\s+(\S+)\s+dev\s+(\S+)$` matches it (no trailing whitespace).
fn route_option<'t>(option: &'t [u8], prefix: &[&str]) -> Option<(&'t [u8], &'t [u8])> {
    if option.last().is_some_and(|&b| is_space(b)) {
        return None;
    }
    let mut tokens = words(option);
    for expected in prefix {
        if tokens.next()? != expected.as_bytes() {
            return None;
        }
    }
    let ip = tokens.next()?;
    if tokens.next()? != b"dev" {
        return None;
    }
    let dev = tokens.next()?;
    tokens.next().is_none().then_some((ip, dev))
}

/// Whether the four options are the route scripts pct wrote before it marked them, all
/// naming the same gateway and device.
fn is_legacy_route_block(options: &[&[u8]]) -> bool {
    let Some(first) = route_option(options[0], &["post-up", "ip", "route", "add"]) else {
        return false;
    };
    [
        (
            options[1],
            ["post-up", "ip", "route", "add", "default", "via"].as_slice(),
        ),
        (
            options[2],
            &["pre-down", "ip", "route", "del", "default", "via"],
        ),
        (options[3], &["pre-down", "ip", "route", "del"]),
    ]
    .into_iter()
    .all(|(option, prefix)| route_option(option, prefix) == Some(first))
}

/// Drop pct's earlier route scripts from a stanza's options: every marked block when there
/// is a marker (an unterminated block runs to the end), otherwise each unmarked four-line
/// block from older pct versions.
fn remove_gateway_scripts(options: &mut Vec<&[u8]>) {
    let is_marker = |option: &&[u8]| *option == BEGIN.as_bytes() || *option == END.as_bytes();
    if options.iter().any(is_marker) {
        let mut keep = true;
        options.retain(|&option| {
            if option == BEGIN.as_bytes() {
                keep = false;
                false
            } else if option == END.as_bytes() {
                keep = true;
                false
            } else {
                keep
            }
        });
        return;
    }
    let mut i = 0;
    while i + 3 < options.len() {
        if is_legacy_route_block(&options[i..i + 4]) {
            options.drain(i..i + 4);
        } else {
            i += 1;
        }
    }
}

/// The marked route scripts that make an off-subnet gateway reachable.
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

/// An `iface` stanza of one of the container's NICs, its old options being collected.
struct Stanza<'n, 't> {
    ifname: &'n str,
    family: Family,
    /// The options pct keeps, and PVE markers so its old route scripts can be found.
    options: Vec<&'t [u8]>,
}

/// The new file being written while the old one is read.
struct Rewriter<'n, 't> {
    interfaces: &'n BTreeMap<String, Interface>,
    form: AddressForm,
    out: Vec<u8>,
    /// Interfaces an `auto` line names, in the file or written here.
    auto_done: BTreeSet<Vec<u8>>,
    /// The stanzas written so far.
    written: BTreeSet<(&'n str, Family)>,
    open: Option<Stanza<'n, 't>>,
}

impl<'n, 't> Rewriter<'n, 't> {
    fn new(interfaces: &'n BTreeMap<String, Interface>, form: AddressForm) -> Self {
        Rewriter {
            interfaces,
            form,
            out: Vec::new(),
            auto_done: BTreeSet::new(),
            written: BTreeSet::new(),
            open: None,
        }
    }

    fn push(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
    }

    fn keep_line(&mut self, line: &[u8]) {
        self.out.extend_from_slice(line);
        self.out.push(b'\n');
    }

    /// The container's interface of that name, with the map's own key.
    fn managed(&self, name: &[u8]) -> Option<&'n str> {
        let name = std::str::from_utf8(name).ok()?;
        self.interfaces
            .get_key_value(name)
            .map(|(key, _)| key.as_str())
    }

    fn feed(&mut self, line: &'t [u8]) {
        match classify(line) {
            Line::Marker => {
                if let Some(stanza) = self.open.as_mut() {
                    stanza.options.push(line);
                }
            }
            Line::Comment => self.keep_line(line),
            // A blank line ends a stanza; its regenerated text brings its own.
            Line::Blank if self.open.is_some() => self.close_stanza(),
            Line::Blank => self.keep_line(line),
            Line::Iface { name, family } => {
                self.close_stanza();
                match self.managed(name) {
                    Some(ifname) => {
                        self.open = Some(Stanza {
                            ifname,
                            family,
                            options: Vec::new(),
                        })
                    }
                    None => self.keep_line(line),
                }
            }
            Line::Auto(names) => {
                self.auto_done.extend(names.into_iter().map(<[u8]>::to_vec));
                self.close_stanza();
                self.keep_line(line);
            }
            Line::OtherStanza => {
                self.close_stanza();
                self.keep_line(line);
            }
            Line::Option { name, data } if self.open.is_some() => {
                if !is_regenerated_option(name)
                    && let Some(stanza) = self.open.as_mut()
                {
                    stanza.options.push(data);
                }
            }
            Line::Option { .. } | Line::Other => self.keep_line(line),
        }
    }

    fn close_stanza(&mut self) {
        if let Some(stanza) = self.open.take() {
            self.write_stanza(stanza);
        }
    }

    fn write_stanza(&mut self, mut stanza: Stanza<'n, 't>) {
        let ifname = stanza.ifname;
        if self.auto_done.insert(ifname.as_bytes().to_vec()) {
            self.push(&format!("auto {ifname}\n"));
        }
        self.written.insert((ifname, stanza.family));
        let config = self.interfaces[ifname].family(stanza.family);
        let keyword = stanza.family.keyword();
        let (address, netmask, cidr) = match &config.address {
            // The family is no longer configured: its stanza goes.
            None => return,
            // pct keeps no options for these.
            Some(Address::Method(method)) => {
                self.push(&format!("iface {ifname} {keyword} {method}\n\n"));
                return;
            }
            Some(Address::Static {
                address,
                netmask,
                cidr,
            }) => (address, netmask, cidr),
        };
        self.push(&format!("iface {ifname} {keyword} static\n"));
        match self.form {
            AddressForm::Cidr => self.push(&format!("\taddress {cidr}\n")),
            AddressForm::Netmask => {
                self.push(&format!("\taddress {address}\n\tnetmask {netmask}\n"));
            }
        }
        remove_gateway_scripts(&mut stanza.options);
        match &config.gateway {
            Some(gw) if config.needs_route => self.push(&gateway_scripts(ifname, gw)),
            Some(gw) => self.push(&format!("\tgateway {gw}\n")),
            None => {}
        }
        for option in stanza.options {
            self.out.push(b'\t');
            self.keep_line(option);
        }
        self.out.push(b'\n');
    }

    /// Stanzas of the NICs the file did not have, by name, separated from what came before
    /// by a blank line.
    fn append_missing(&mut self) {
        let mut need_separator = !self.out.is_empty() && !self.out.ends_with(b"\n\n");
        for (ifname, interface) in self.interfaces {
            for family in [Family::V4, Family::V6] {
                if self.written.contains(&(ifname.as_str(), family))
                    || interface.family(family).address.is_none()
                {
                    continue;
                }
                if need_separator {
                    self.out.push(b'\n');
                    need_separator = false;
                }
                self.write_stanza(Stanza {
                    ifname,
                    family,
                    options: Vec::new(),
                });
            }
        }
    }

    fn finish(self) -> Vec<u8> {
        // Templates before Debian 8 do not bring loopback up unless told to.
        if self.auto_done.contains(b"lo".as_slice()) {
            return self.out;
        }
        let mut text = b"auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n".to_vec();
        text.extend_from_slice(&self.out);
        text
    }
}

/// The lines of a file as Perl's readline gives them, newlines removed.
fn read_lines(text: &[u8]) -> Vec<&[u8]> {
    if text.is_empty() {
        return Vec::new();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.split(|&b| b == b'\n').collect()
}

/// The new `/etc/network/interfaces` for `nets` given the current contents, or `None` when
/// no named NIC has an address or gateway (pct leaves the file alone then).
pub fn render<'n>(
    existing: Option<&[u8]>,
    nets: impl IntoIterator<Item = &'n NetDevice>,
    form: AddressForm,
) -> Option<Vec<u8>> {
    let interfaces: BTreeMap<String, Interface> = nets
        .into_iter()
        .filter(|net| !net.name.is_empty())
        .map(|net| (net.name.clone(), Interface::of(net)))
        .filter(|(_, interface)| !interface.is_empty())
        .collect();
    if interfaces.is_empty() {
        return None;
    }
    let mut rewriter = Rewriter::new(&interfaces, form);
    if let Some(existing) = existing {
        for line in read_lines(existing) {
            rewriter.feed(line);
        }
        rewriter.close_stanza();
    }
    rewriter.append_missing();
    Some(rewriter.finish())
}

/// Rewrite the guest's `/etc/network/interfaces` for `nets`.
pub fn setup_interfaces<'n>(
    setup: &Setup,
    nets: impl IntoIterator<Item = &'n NetDevice>,
    form: AddressForm,
) -> Result<(), SetupError> {
    // pct reads what it can open; a file it cannot read counts as absent.
    let existing = setup.root.read_bytes(INTERFACES).ok().flatten();
    let Some(text) = render(existing.as_deref(), nets, form) else {
        return Ok(());
    };
    setup.make_path("/etc/network")?;
    setup
        .root
        .write(INTERFACES, &text, None)
        .map_err(|e| SetupError::io(FileAction::Write, INTERFACES, e))
}

#[cfg(test)]
mod tests;
