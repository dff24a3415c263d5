//! The monitor's command socket (`run/corral/<vmid>/command`): one request line per
//! connection, one reply line, and for some replies a descriptor passed along (a console
//! master, init's pidfd). A console connection stays open while its client uses the tty.

use std::io::{self, IoSlice, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

/// A request to the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `running <pid>`.
    State,
    /// Kill the container now; the monitor exits when it is gone.
    Stop,
    /// Send init the signal for a clean shutdown.
    Shutdown,
    /// The master of tty `n` (0 = /dev/console, -1 = the first free tty).
    Console(i32),
    /// init's pidfd.
    Pidfd,
    /// The payload cgroup path.
    Cgroup,
    /// Answer the seccomp notifications of an attached command's filter, whose listener
    /// comes with the request (`features: mknod=1`).
    Listener,
}

impl Request {
    pub fn line(&self) -> String {
        match self {
            Request::State => "state".into(),
            Request::Stop => "stop".into(),
            Request::Shutdown => "shutdown".into(),
            Request::Console(n) => format!("console {n}"),
            Request::Pidfd => "pidfd".into(),
            Request::Cgroup => "cgroup".into(),
            Request::Listener => "seccomp-listener".into(),
        }
    }

    pub fn parse(line: &str) -> Option<Request> {
        let mut words = line.split_whitespace();
        let request = match words.next()? {
            "state" => Request::State,
            "stop" => Request::Stop,
            "shutdown" => Request::Shutdown,
            "console" => Request::Console(words.next()?.parse().ok()?),
            "pidfd" => Request::Pidfd,
            "cgroup" => Request::Cgroup,
            "seccomp-listener" => Request::Listener,
            _ => return None,
        };
        words.next().is_none().then_some(request)
    }
}

/// Send one reply line, with a descriptor when given.
pub fn send_reply(stream: &UnixStream, line: &str, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let data = format!("{line}\n");
    let fds = fd.map(|fd| [fd]);
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if let Some(fds) = &fds {
        control.push(SendAncillaryMessage::ScmRights(fds));
    }
    sendmsg(
        stream,
        &[IoSlice::new(data.as_bytes())],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// Receive one reply line and the descriptor sent with it.
pub fn recv_reply(stream: &UnixStream) -> io::Result<(String, Option<OwnedFd>)> {
    let mut buf = [0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = recvmsg(
        stream,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for received_fd in fds {
                fd.get_or_insert(received_fd);
            }
        }
    }
    let text = String::from_utf8_lossy(&buf[..received.bytes]);
    if received.bytes == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "monitor closed the connection",
        ));
    }
    Ok((text.trim_end().to_string(), fd))
}

/// Connect to a monitor and send a request. `None` when no monitor listens.
pub fn connect(socket: &Path, request: &Request) -> io::Result<Option<UnixStream>> {
    let stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = &stream;
    writer.write_all(format!("{}\n", request.line()).as_bytes())?;
    Ok(Some(stream))
}

/// Send a request and read the reply: `None` when no monitor listens.
/// How long a client waits for the monitor's reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

pub fn request(
    socket: &Path,
    request: &Request,
) -> io::Result<Option<(UnixStream, String, Option<OwnedFd>)>> {
    let Some(stream) = connect(socket, request)? else {
        return Ok(None);
    };
    // The monitor answers every request at once; one that does not is treated as gone, so
    // a stop still gets through what the kernel knows instead of waiting forever.
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let (line, fd) = recv_reply(&stream)?;
    stream.set_read_timeout(None)?;
    Ok(Some((stream, line, fd)))
}

/// Read a request line on the server side, with the descriptor sent along, if any.
pub fn read_request(stream: &UnixStream) -> io::Result<(Option<Request>, Option<OwnedFd>)> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let (line, fd) = recv_reply(stream)?;
    Ok((Request::parse(line.trim()), fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn requests_round_trip_and_garbage_is_refused() {
        for request in [
            Request::State,
            Request::Stop,
            Request::Shutdown,
            Request::Console(-1),
            Request::Console(2),
            Request::Listener,
            Request::Pidfd,
            Request::Cgroup,
        ] {
            assert_eq!(Request::parse(&request.line()), Some(request));
        }
        assert_eq!(Request::parse("console"), None);
        assert_eq!(Request::parse("console x"), None);
        assert_eq!(Request::parse("stop now"), None);
        assert_eq!(Request::parse("reboot"), None);
    }

    #[test]
    fn replies_carry_descriptors() {
        let (a, b) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        send_reply(&a, "ok 1", Some(file.as_fd())).unwrap();
        let (line, fd) = recv_reply(&b).unwrap();
        assert_eq!(line, "ok 1");
        let fd = fd.expect("descriptor passed");
        let stat = rustix::fs::fstat(&fd).unwrap();
        let original = rustix::fs::fstat(&file).unwrap();
        assert_eq!(stat.st_ino, original.st_ino);
        send_reply(&a, "busy", None).unwrap();
        let (line, fd) = recv_reply(&b).unwrap();
        assert_eq!(line, "busy");
        assert!(fd.is_none());
    }
}
