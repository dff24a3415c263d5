//! `pct push`: copy a host file into a running container, written as pct writes it — by a
//! process inside the container's mount namespace and, for an unprivileged container, its
//! user namespace as the container's root. Paths resolve as the container sees them, names
//! (`--user www-data`) come from the container's own `/etc/passwd` and `/etc/group`, and the
//! ids the file gets are container ids the kernel shifts, so an id the container does not map
//! cannot be given.
//!
//! Design: joining a user namespace needs a single-threaded process, and the caller may be a
//! multi-threaded embedder that must come out as it went in; so the copy runs in a fresh exec
//! of the program's own binary (see `crate::reexec`), handed the namespaces as descriptors and
//! the source file as its stdin, answering with its stderr and exit status. It resolves the
//! destination with `openat2(RESOLVE_IN_ROOT)` below the container's root as well, so not even
//! a magic link of the container's `/proc` leads out.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::transfer::{
    CredentialCall, FileOptions, IdKind, Namespace, Owner, TransferDirection, TransferError,
    create_file, hex, id_in_database, numeric_id, unhex,
};
use super::{Container, Error};

/// The environment variable that carries a push request to the exec'd process (see
/// [`Request`]).
pub(crate) const PUSH_REQUEST_ENV: &str = "CORRAL_PUSH_REQUEST";

impl Container<'_> {
    /// `pct push`: copy the host file `file` to `destination` inside the running container,
    /// with `options`' mode and owner (names and ids as the container knows them).
    pub fn push(&self, file: &Path, destination: &str, options: &FileOptions) -> Result<(), Error> {
        let mode = options.mode()?;
        let _lock = self.lock()?;
        self.config()?;
        let not_running = || Error::NotRunning {
            vmid: self.vmid,
            attach: false,
            transfer: Some(TransferDirection::Push),
        };
        let init = self.running_init().ok_or_else(not_running)?;
        let source = File::open(file).map_err(|source| TransferError::OpenForReading {
            path: crate::text::for_message(file.as_os_str().as_bytes()),
            source,
        })?;
        let open_namespace = |namespace| {
            let name = match namespace {
                Namespace::Mount => "mnt",
                Namespace::User => "user",
            };
            File::open(format!("/proc/{}/ns/{name}", init.pid))
                .map_err(|source| TransferError::OpenNamespace { namespace, source })
        };
        let mount = open_namespace(Namespace::Mount)?;
        let user = open_namespace(Namespace::User)?;
        // A privileged container shares the host's user namespace: nothing to join.
        let own_user = std::fs::metadata("/proc/self/ns/user")
            .map_err(|e| Error::io("unable to read the own user namespace", e))?;
        let user_meta = user
            .metadata()
            .map_err(|source| TransferError::OpenNamespace {
                namespace: Namespace::User,
                source,
            })?;
        let user = (user_meta.ino() != own_user.ino() || user_meta.dev() != own_user.dev())
            .then_some(user);
        // The namespaces are init's, unless the pid was recycled between the two looks.
        if self
            .running_init()
            .is_none_or(|now| now.start_time != init.start_time || now.pid != init.pid)
        {
            return Err(not_running());
        }
        run_helper(source, mount, user, mode, options, destination)
    }
}

/// What the push process is asked to do: `<mount ns fd>:<user ns fd|->:<mode|->:<user>:<group>:
/// <destination>`, the texts hex-encoded (`-` for none) so that no byte of them is special.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    mount: RawFd,
    user: Option<RawFd>,
    mode: Option<u32>,
    owner_user: Option<String>,
    owner_group: Option<String>,
    destination: String,
}

impl Request {
    fn encode(&self) -> String {
        let text = |t: &Option<String>| t.as_deref().map(hex).unwrap_or_else(|| "-".into());
        format!(
            "{}:{}:{}:{}:{}:{}",
            self.mount,
            self.user.map(|fd| fd.to_string()).unwrap_or("-".into()),
            self.mode.map(|m| m.to_string()).unwrap_or("-".into()),
            text(&self.owner_user),
            text(&self.owner_group),
            hex(&self.destination),
        )
    }

    fn parse(request: &str) -> Option<Request> {
        let fields: Vec<&str> = request.split(':').collect();
        let [mount, user, mode, owner_user, owner_group, destination] = fields[..] else {
            return None;
        };
        let descriptor = |text: &str| text.parse::<RawFd>().ok().filter(|&fd| fd > 2);
        let text = |t: &str| match t {
            "-" => Some(None),
            t => unhex(t).map(Some),
        };
        Some(Request {
            mount: descriptor(mount)?,
            user: match user {
                "-" => None,
                fd => Some(descriptor(fd)?),
            },
            mode: match mode {
                "-" => None,
                mode => Some(mode.parse().ok()?),
            },
            owner_user: text(owner_user)?,
            owner_group: text(owner_group)?,
            destination: unhex(destination)?,
        })
    }
}

/// Spawn the push process with `source` as its stdin, and turn its answer into the result.
fn run_helper(
    source: File,
    mount: File,
    user: Option<File>,
    mode: Option<u32>,
    options: &FileOptions,
    destination: &str,
) -> Result<(), Error> {
    // Copies above stdio's numbers, which `Command` redirects.
    let above_stdio = |fd: BorrowedFd<'_>| {
        rustix::io::fcntl_dupfd_cloexec(fd, 3)
            .map_err(|e| Error::io("failed to duplicate a descriptor", e.into()))
    };
    let mount_fd = above_stdio(mount.as_fd())?;
    let user_fd = user.as_ref().map(|f| above_stdio(f.as_fd())).transpose()?;
    let request = Request {
        mount: mount_fd.as_raw_fd(),
        user: user_fd.as_ref().map(|fd| fd.as_raw_fd()),
        mode,
        owner_user: options.user.clone(),
        owner_group: options.group.clone(),
        destination: destination.to_string(),
    };
    let handed_over: Vec<RawFd> = [Some(request.mount), request.user]
        .into_iter()
        .flatten()
        .collect();
    let parent = std::process::id() as libc::pid_t;
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0("corral push")
        .env(PUSH_REQUEST_ENV, request.encode())
        .stdin(Stdio::from(source))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: the closure makes only async-signal-safe system calls (fcntl, prctl, getppid)
    // and allocates nothing; the descriptors stay open in the caller until `spawn` returns.
    unsafe {
        command.pre_exec(move || {
            for &fd in &handed_over {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // An orphaned copy has no one to report to.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| Error::io("failed to start the push process", e))?;
    drop((mount_fd, user_fd));
    let mut answer = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut answer);
    }
    let status = child
        .wait()
        .map_err(|e| Error::io("failed to wait for the push process", e))?;
    if status.success() {
        return Ok(());
    }
    let answer = answer.trim_end();
    Err(TransferError::decode(answer)
        .unwrap_or_else(|| TransferError::PushProcess {
            status,
            answer: answer.to_string(),
        })
        .into())
}

/// The push process, from the crate's constructor: joins the namespaces of the request,
/// copies stdin to the destination and leaves through `_exit` without running the program's
/// `main`. Its error goes to stderr, encoded for the caller to decode (see
/// [`TransferError::encode`]).
pub(crate) fn push_process(request: OsString) -> ! {
    let code = match request.to_str().and_then(Request::parse) {
        None => {
            eprintln_raw("push request garbled");
            2
        }
        Some(request) => match copy_in_container(&request) {
            Ok(()) => 0,
            Err(error) => {
                eprintln_raw(&error.encode());
                1
            }
        },
    };
    // SAFETY: leave without running the program's main, its atexit handlers or destructors.
    unsafe { libc::_exit(code) }
}

/// One line to stderr, with the descriptor as it is (no buffering to flush before `_exit`).
fn eprintln_raw(message: &str) {
    let line = format!("{message}\n");
    // SAFETY: fd 2 is this process's stderr, borrowed for the one write.
    let stderr = unsafe { BorrowedFd::borrow_raw(2) };
    let _ = rustix::io::write(stderr, line.as_bytes());
}

fn copy_in_container(request: &Request) -> Result<(), TransferError> {
    // SAFETY: the descriptors were handed over by `run_helper` for this process to own.
    let mount = unsafe { OwnedFd::from_raw_fd(request.mount) };
    let user = request.user.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    rustix::thread::move_into_link_name_space(
        mount.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Mount),
    )
    .map_err(|e| TransferError::EnterNamespace {
        namespace: Namespace::Mount,
        source: e.into(),
    })?;
    std::env::set_current_dir("/").map_err(|source| TransferError::Credentials {
        call: CredentialCall::Chdir,
        source,
    })?;
    if let Some(user) = user {
        rustix::thread::move_into_link_name_space(
            user.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::User),
        )
        .map_err(|e| TransferError::EnterNamespace {
            namespace: Namespace::User,
            source: e.into(),
        })?;
        let failed = |call| TransferError::Credentials {
            call,
            source: io::Error::last_os_error(),
        };
        // SAFETY: plain system calls in a single-threaded process.
        if unsafe { libc::setgid(0) } != 0 {
            return Err(failed(CredentialCall::Setgid));
        }
        // Host root's supplementary groups mean nothing in there; where the container's
        // setgroups is denied they stay, as under pct.
        // SAFETY: as above.
        unsafe { libc::setgroups(0, std::ptr::null()) };
        // SAFETY: as above.
        if unsafe { libc::setuid(0) } != 0 {
            return Err(failed(CredentialCall::Setuid));
        }
    }
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| TransferError::OpenRoot { source: e.into() })?;
    let owner = Owner {
        uid: lookup(&root, request.owner_user.as_deref(), IdKind::User)?,
        gid: lookup(&root, request.owner_group.as_deref(), IdKind::Group)?,
    };
    let file = create_file(&root, &request.destination, request.mode, owner, true)?;
    let mut file = File::from(file);
    // SAFETY: stdin is this process's own, handed over as the source.
    let mut source = unsafe { File::from_raw_fd(0) };
    io::copy(&mut source, &mut file)
        .and_then(|_| file.sync_all())
        .map_err(|source| TransferError::Write {
            path: request.destination.clone(),
            source,
        })?;
    Ok(())
}

/// `--user`/`--group` as an id: digits are one, a name is looked up in the container's
/// `/etc/passwd` or `/etc/group`.
fn lookup(root: &OwnedFd, name: Option<&str>, kind: IdKind) -> Result<Option<u32>, TransferError> {
    let Some(name) = name else { return Ok(None) };
    if let Some(id) = numeric_id(name) {
        return Ok(Some(id));
    }
    let database = match kind {
        IdKind::User => "/etc/passwd",
        IdKind::Group => "/etc/group",
    };
    let text = read_in_root(root, database).unwrap_or_default();
    id_in_database(&text, name)
        .map(Some)
        .ok_or_else(|| TransferError::UnknownId {
            kind,
            name: name.to_string(),
        })
}

fn read_in_root(root: &OwnedFd, path: &str) -> io::Result<String> {
    let fd = rustix::fs::openat2(
        root,
        path.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?;
    let mut text = String::new();
    File::from(fd).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_survive_the_environment() {
        let request = Request {
            mount: 3,
            user: Some(4),
            mode: Some(0o644),
            owner_user: Some("www:data".into()),
            owner_group: None,
            destination: "/etc/ünï:code\n".into(),
        };
        assert_eq!(Request::parse(&request.encode()), Some(request));
        let privileged = Request {
            mount: 5,
            user: None,
            mode: None,
            owner_user: None,
            owner_group: Some("0".into()),
            destination: "x".into(),
        };
        assert_eq!(Request::parse(&privileged.encode()), Some(privileged));
        // stdio's numbers are never the namespaces'.
        assert_eq!(Request::parse("0:-:-:-:-:78"), None);
        assert_eq!(Request::parse("3:-:-:-:-:7"), None);
    }
}
