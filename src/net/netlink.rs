//! A small blocking rtnetlink client: the handful of requests container networking needs
//! (links, addresses, routes, bridge VLANs), built as bytes here. Blocking and fork-safe, so
//! it works in the monitor and in the container's child alike, with no async runtime; and
//! the kernel's netlink ABI is stable where the Rust netlink crates break every few months.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// Message types and flags (linux/rtnetlink.h, linux/netlink.h).
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

// Link attributes (linux/if_link.h).
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_BRIDGE_VLAN_INFO: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;

// Address and route attributes.
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;

/// BRIDGE_VLAN_INFO_* flags.
pub const VLAN_PVID: u16 = 2;
pub const VLAN_UNTAGGED: u16 = 4;

/// A netlink request under construction: header, fixed part, attributes.
struct Message {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Message {
    fn new(kind: u16, flags: u16, fixed: &[u8]) -> Message {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, filled in at the end
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // sequence
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        buf.extend_from_slice(fixed);
        let mut message = Message {
            buf,
            nests: Vec::new(),
        };
        message.align();
        message
    }

    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn attr(&mut self, kind: u16, payload: &[u8]) -> &mut Message {
        let len = (4 + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.align();
        self
    }

    fn attr_str(&mut self, kind: u16, text: &str) -> &mut Message {
        let mut payload = text.as_bytes().to_vec();
        payload.push(0);
        self.attr(kind, &payload)
    }

    fn attr_u32(&mut self, kind: u16, value: u32) -> &mut Message {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// Open a nested attribute; `raw` bytes (a fixed header such as the peer's ifinfomsg)
    /// follow its header directly.
    fn begin(&mut self, kind: u16, raw: &[u8]) -> &mut Message {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self.buf.extend_from_slice(raw);
        self.align();
        self
    }

    fn end(&mut self) -> &mut Message {
        let start = self.nests.pop().expect("an open nest");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn finish(mut self) -> Vec<u8> {
        assert!(self.nests.is_empty(), "unclosed nest");
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// `struct ifinfomsg`.
fn ifinfomsg(family: u8, index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut raw = [0u8; 16];
    raw[0] = family;
    raw[4..8].copy_from_slice(&index.to_ne_bytes());
    raw[8..12].copy_from_slice(&flags.to_ne_bytes());
    raw[12..16].copy_from_slice(&change.to_ne_bytes());
    raw
}

fn ip_bytes(address: &IpAddr) -> (u8, Vec<u8>) {
    match address {
        IpAddr::V4(v4) => (libc::AF_INET as u8, v4.octets().to_vec()),
        IpAddr::V6(v6) => (libc::AF_INET6 as u8, v6.octets().to_vec()),
    }
}

/// The peer of a veth pair, made directly in another network namespace.
#[derive(Debug, Clone)]
pub struct VethPeer<'a> {
    pub name: &'a str,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    /// A process in the target network namespace.
    pub netns_pid: u32,
}

/// A netlink route socket in the network namespace of the thread that opened it.
pub struct Netlink {
    socket: OwnedFd,
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor.
        Ok(Netlink {
            socket: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Send one request and wait for the kernel's acknowledgement.
    fn request(&self, message: Message) -> io::Result<()> {
        let bytes = message.finish();
        // SAFETY: sending a buffer we own on our socket (to the kernel: zeroed address).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as u16;
        let sent = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut reply = [0u8; 8192];
        loop {
            // SAFETY: receiving into a buffer we own.
            let received = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    reply.as_mut_ptr().cast(),
                    reply.len(),
                    0,
                )
            };
            if received < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            let reply = &reply[..received as usize];
            if reply.len() >= 20 && u16::from_ne_bytes([reply[4], reply[5]]) == NLMSG_ERROR {
                let code = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
                return if code == 0 {
                    Ok(())
                } else {
                    Err(io::Error::from_raw_os_error(-code))
                };
            }
        }
    }

    /// A veth pair: `host_name` here, `peer` made straight inside its namespace, so it is
    /// never visible on the host.
    pub fn create_veth(
        &self,
        host_name: &str,
        mtu: Option<u32>,
        peer: &VethPeer,
    ) -> io::Result<()> {
        let mut message = Message::new(
            RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifinfomsg(libc::AF_UNSPEC as u8, 0, 0, 0),
        );
        message.attr_str(IFLA_IFNAME, host_name);
        if let Some(mtu) = mtu {
            message.attr_u32(IFLA_MTU, mtu);
        }
        message
            .begin(IFLA_LINKINFO, &[])
            .attr_str(IFLA_INFO_KIND, "veth")
            .begin(IFLA_INFO_DATA, &[])
            .begin(VETH_INFO_PEER, &ifinfomsg(libc::AF_UNSPEC as u8, 0, 0, 0))
            .attr_str(IFLA_IFNAME, peer.name)
            .attr_u32(IFLA_NET_NS_PID, peer.netns_pid);
        if let Some(mac) = peer.mac {
            message.attr(IFLA_ADDRESS, &mac);
        }
        if let Some(mtu) = peer.mtu {
            message.attr_u32(IFLA_MTU, mtu);
        }
        message.end().end().end();
        self.request(message)
    }

    /// Bring a link up or down.
    pub fn set_up(&self, index: u32, up: bool) -> io::Result<()> {
        let flags = if up { libc::IFF_UP as u32 } else { 0 };
        self.request(Message::new(
            RTM_NEWLINK,
            0,
            &ifinfomsg(
                libc::AF_UNSPEC as u8,
                index as i32,
                flags,
                libc::IFF_UP as u32,
            ),
        ))
    }

    /// Enslave a link to a bridge (`master`), or free it (`None`).
    pub fn set_master(&self, index: u32, master: Option<u32>) -> io::Result<()> {
        let mut message = Message::new(
            RTM_SETLINK,
            0,
            &ifinfomsg(libc::AF_UNSPEC as u8, index as i32, 0, 0),
        );
        message.attr_u32(IFLA_MASTER, master.unwrap_or(0));
        self.request(message)
    }

    pub fn delete_link(&self, index: u32) -> io::Result<()> {
        self.request(Message::new(
            RTM_DELLINK,
            0,
            &ifinfomsg(libc::AF_UNSPEC as u8, index as i32, 0, 0),
        ))
    }

    /// Add (or, with `add` false, remove) VLANs on a bridge port: `bridge vlan add dev X vid
    /// N [pvid] [untagged]`.
    pub fn bridge_vlans(&self, port: u32, vlans: &[(u16, u16)], add: bool) -> io::Result<()> {
        let mut message = Message::new(
            if add { RTM_SETLINK } else { RTM_DELLINK },
            0,
            &ifinfomsg(libc::AF_BRIDGE as u8, port as i32, 0, 0),
        );
        message.begin(IFLA_AF_SPEC, &[]);
        for (vid, flags) in vlans {
            let mut info = [0u8; 4];
            info[0..2].copy_from_slice(&flags.to_ne_bytes());
            info[2..4].copy_from_slice(&vid.to_ne_bytes());
            message.attr(IFLA_BRIDGE_VLAN_INFO, &info);
        }
        message.end();
        self.request(message)
    }

    /// A static address; IPv6 ones skip duplicate address detection, so they work at once.
    pub fn add_address(&self, index: u32, address: IpAddr, prefix: u8) -> io::Result<()> {
        let (family, bytes) = ip_bytes(&address);
        let flags = if family == libc::AF_INET6 as u8 {
            IFA_F_NODAD
        } else {
            0
        };
        let mut fixed = [0u8; 8];
        fixed[0] = family;
        fixed[1] = prefix;
        fixed[2] = flags;
        fixed[4..8].copy_from_slice(&index.to_ne_bytes());
        let mut message = Message::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &fixed);
        message.attr(IFA_LOCAL, &bytes).attr(IFA_ADDRESS, &bytes);
        self.request(message)
    }

    /// The default route through `gateway` on link `index`.
    pub fn add_default_route(&self, index: u32, gateway: IpAddr) -> io::Result<()> {
        let (family, bytes) = ip_bytes(&gateway);
        // struct rtmsg: family, dst_len, src_len, tos, table (main), protocol (boot),
        // scope (universe), type (unicast), flags.
        let mut fixed = [0u8; 12];
        fixed[0] = family;
        fixed[4] = libc::RT_TABLE_MAIN;
        fixed[5] = libc::RTPROT_BOOT;
        fixed[6] = libc::RT_SCOPE_UNIVERSE;
        fixed[7] = libc::RTN_UNICAST;
        let mut message = Message::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &fixed);
        message.attr(RTA_GATEWAY, &bytes).attr_u32(RTA_OIF, index);
        self.request(message)
    }
}

/// The index of a link in this network namespace.
pub fn link_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_carry_their_lengths() {
        let mut message = Message::new(RTM_NEWLINK, 0, &ifinfomsg(0, 0, 0, 0));
        message
            .attr_str(IFLA_IFNAME, "veth1")
            .begin(IFLA_LINKINFO, &[])
            .attr_str(IFLA_INFO_KIND, "veth")
            .end();
        let bytes = message.finish();
        assert_eq!(
            u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        // header 16 + ifinfomsg 16, then IFLA_IFNAME: 4 + "veth1\0" padded to 8.
        assert_eq!(u16::from_ne_bytes([bytes[32], bytes[33]]), 10);
        assert_eq!(&bytes[36..41], b"veth1");
        // The nest: its header, then the kind attribute (4 + "veth\0" padded to 8).
        let nest = 44;
        assert_eq!(u16::from_ne_bytes([bytes[nest], bytes[nest + 1]]), 4 + 12);
        assert_eq!(
            u16::from_ne_bytes([bytes[nest + 2], bytes[nest + 3]]),
            IFLA_LINKINFO | NLA_F_NESTED
        );
        assert_eq!(bytes.len(), nest + 16);
    }
}
