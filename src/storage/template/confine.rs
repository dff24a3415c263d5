//! The extraction process: a child that Landlock confines to writing beneath the rootfs (and
//! reading the archive), talking to the parent over a pipe. The parent passes progress and
//! warnings on to the caller's observer, reaps the child and turns its report into the result.
//!
//! A process rather than a confined thread of the caller (which guest setup uses: Landlock's
//! `restrict_self` binds the calling thread and what it starts afterwards, never its
//! siblings): the archive is untrusted and decoded by C libraries (liblzma, zstd), and a
//! decoder bug that a hostile archive exploits must end in an address space of its own, not
//! in the caller's, which a thread shares whatever Landlock forbids it; and a cancelled
//! create kills the process at once, which cannot be done to a thread.
//!
//! Design: the child is a fresh exec of the program's own binary (`/proc/self/exe`), spawned
//! through `std::process::Command` with an [`EXTRACT_REQUEST_ENV`] request, which the crate's
//! constructor (`crate::reexec`) turns into the extraction process before `main`. The caller
//! may be a multi-threaded embedder, and a plain fork of it copies only the forking thread,
//! with every lock another thread holds at that moment held forever in the child; the
//! extraction runs Rust code that allocates, formats and decompresses, so such a child could
//! deadlock at random. `Command`'s child does only async-signal-safe work until exec
//! (clearing close-on-exec of the three descriptors it hands over, blocking the signals that
//! only the parent is to act on, asking for SIGKILL when the parent dies), and after exec the
//! extraction process has one thread and fresh locks. Nothing here starts a thread, so
//! Landlock's `restrict_self` confines the whole extraction process. The decompressors are
//! libraries (flate2, liblzma, zstd) running in that process. The cost is one exec of the
//! program per extraction.

use std::cell::Cell;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::Once;

use landlock::{
    ABI, Access, AccessFs, AccessNet, PathBeneath, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope,
};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{Pid, WaitOptions, WaitStatus, waitpid};

use super::compression::{Compression, MAGIC_LEN};
use super::rootdir::RootDir;
use super::unpack::{Event, UnpackError, cause, unpack_archive};
use super::{ExtractOptions, ExtractSummary, TemplateError};
use crate::config::IdMap;

/// How the child is held in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Confinement {
    /// Landlock where the kernel has it, and the path checks.
    Landlock,
    /// The path checks alone, as on a kernel without Landlock; lets tests show that this
    /// layer holds by itself.
    PathChecksOnly,
}

/// What the child tells the parent. On the wire: a tag byte, a little-endian u32 length and
/// the payload.
#[derive(Debug, PartialEq, Eq)]
enum Message {
    /// Compressed bytes of the archive consumed so far.
    Progress(u64),
    Warning(String),
    LandlockUnavailable(String),
    Done(ExtractSummary),
    Failed(String),
}

/// Far more than any message needs; a longer one means the stream is garbled.
const MAX_MESSAGE: u32 = 1 << 20;
/// Progress is sent each time this many more compressed bytes have been read.
const PROGRESS_STEP: u64 = 256 * 1024;
const READ_BUFFER: usize = 256 * 1024;

impl Message {
    fn encode(&self) -> Vec<u8> {
        let (tag, payload) = match self {
            Message::Progress(consumed) => (b'P', consumed.to_le_bytes().to_vec()),
            Message::Warning(text) => (b'W', text.as_bytes().to_vec()),
            Message::LandlockUnavailable(text) => (b'L', text.as_bytes().to_vec()),
            Message::Done(summary) => {
                let mut payload = summary.entries.to_le_bytes().to_vec();
                payload.extend_from_slice(&summary.bytes.to_le_bytes());
                (b'D', payload)
            }
            Message::Failed(text) => (b'E', text.as_bytes().to_vec()),
        };
        // Texts are the child's own messages; cut rather than garble an absurd one.
        let payload = &payload[..payload.len().min(MAX_MESSAGE as usize)];
        let mut frame = vec![tag];
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    /// The next message, or `None` at the end of the stream.
    fn read(input: &mut impl Read) -> io::Result<Option<Message>> {
        let mut head = [0u8; 5];
        match input.read_exact(&mut head[..1]) {
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            result => result?,
        }
        input.read_exact(&mut head[1..])?;
        let length = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        let garbled = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "garbled message from the extraction process",
            )
        };
        if length > MAX_MESSAGE {
            return Err(garbled());
        }
        let mut payload = vec![0u8; length as usize];
        input.read_exact(&mut payload)?;
        let number = |at: usize| -> io::Result<u64> {
            let bytes = payload.get(at..at + 8).ok_or_else(garbled)?;
            Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| garbled())?))
        };
        let text = || String::from_utf8_lossy(&payload).into_owned();
        Ok(Some(match head[0] {
            b'P' => Message::Progress(number(0)?),
            b'W' => Message::Warning(text()),
            b'L' => Message::LandlockUnavailable(text()),
            b'D' => Message::Done(ExtractSummary {
                entries: number(0)?,
                bytes: number(8)?,
            }),
            b'E' => Message::Failed(text()),
            _ => return Err(garbled()),
        }))
    }
}

/// The environment variable that carries an extraction request to the exec'd process:
/// `<archive fd>:<rootfs fd>:<pipe fd>:<compression>:<landlock|path-checks>:<ignore|stop>:<id
/// map>`, the id map being its `lxc.idmap` values joined by `,`, or `-` for none.
pub(crate) const EXTRACT_REQUEST_ENV: &str = "CORRAL_EXTRACT_REQUEST";

/// What the extraction process is asked to do; the descriptors are its own once exec'd.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    archive: RawFd,
    rootfs: RawFd,
    to_parent: RawFd,
    compression: Compression,
    confinement: Confinement,
    ignore_unpack_errors: bool,
    id_map: Option<IdMap>,
}

impl Request {
    fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}:{}",
            self.archive,
            self.rootfs,
            self.to_parent,
            self.compression.name(),
            match self.confinement {
                Confinement::Landlock => "landlock",
                Confinement::PathChecksOnly => "path-checks",
            },
            if self.ignore_unpack_errors {
                "ignore"
            } else {
                "stop"
            },
            match &self.id_map {
                Some(map) => map.to_lxc_values().join(","),
                None => "-".into(),
            }
        )
    }

    fn parse(request: &str) -> Option<Request> {
        let mut fields = request.splitn(7, ':');
        let mut descriptor = || fields.next()?.parse::<RawFd>().ok().filter(|&fd| fd > 2);
        let (archive, rootfs, to_parent) = (descriptor()?, descriptor()?, descriptor()?);
        let compression = Compression::from_name(fields.next()?)?;
        let confinement = match fields.next()? {
            "landlock" => Confinement::Landlock,
            "path-checks" => Confinement::PathChecksOnly,
            _ => return None,
        };
        let ignore_unpack_errors = match fields.next()? {
            "ignore" => true,
            "stop" => false,
            _ => return None,
        };
        let id_map = match fields.next()? {
            "-" => None,
            "" => Some(IdMap::default()),
            values => Some(IdMap::from_lxc_values(values.split(',')).ok()?),
        };
        Some(Request {
            archive,
            rootfs,
            to_parent,
            compression,
            confinement,
            ignore_unpack_errors,
            id_map,
        })
    }
}

/// Opens what the child needs, spawns it, follows its reports and reaps it.
pub(super) fn extract_in_child(
    archive: &Path,
    rootfs: &Path,
    options: &ExtractOptions,
    confinement: Confinement,
) -> Result<ExtractSummary, TemplateError> {
    let io_error = |context: String| move |source| TemplateError::Io { context, source };
    let file =
        File::open(archive).map_err(io_error(format!("failed to open '{}'", archive.display())))?;
    let metadata = file
        .metadata()
        .map_err(io_error(format!("failed to stat '{}'", archive.display())))?;
    if !metadata.is_file() {
        return Err(TemplateError::Invalid(format!(
            "'{}' is not a regular file",
            archive.display()
        )));
    }
    let compression = detect_compression(&file)
        .map_err(io_error(format!("failed to read '{}'", archive.display())))?
        .map_err(|format| {
            TemplateError::Invalid(format!(
                "unrecognized compression format: {format} ('{}')",
                archive.display()
            ))
        })?;
    let root = RootDir::open(rootfs).map_err(io_error(format!(
        "unable to open rootfs '{}'",
        rootfs.display()
    )))?;
    let (from_child, to_parent) = pipe_with(PipeFlags::CLOEXEC).map_err(|e| TemplateError::Io {
        context: "failed to create pipe".into(),
        source: e.into(),
    })?;
    // What the child gets: copies above stdio's numbers, which `Command` redirects (a caller
    // that closed its stdin would otherwise have the pipe there).
    let above_stdio = |fd: BorrowedFd<'_>| {
        rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| TemplateError::Io {
            context: "failed to duplicate a descriptor".into(),
            source: e.into(),
        })
    };
    let archive_fd = above_stdio(file.as_fd())?;
    let rootfs_fd = above_stdio(root.as_fd())?;
    let to_parent_fd = above_stdio(to_parent.as_fd())?;
    drop((file, root, to_parent));
    let request = Request {
        archive: archive_fd.as_raw_fd(),
        rootfs: rootfs_fd.as_raw_fd(),
        to_parent: to_parent_fd.as_raw_fd(),
        compression,
        confinement,
        ignore_unpack_errors: options.ignore_unpack_errors,
        id_map: options.id_map.clone(),
    };
    let child = spawn_extraction(&request).map_err(|source| TemplateError::Io {
        context: "failed to start the extraction process".into(),
        source,
    })?;
    drop((archive_fd, rootfs_fd, to_parent_fd));
    let pid = Pid::from_child(&child);
    let report = follow_child(
        from_child,
        metadata.len(),
        options,
        options.cancel.as_ref().map(|cancel| (cancel, pid)),
    );
    let status = reap(pid);
    conclude(report, status)
}

/// The signals only the parent acts on (pct turns them into a cancellation, which kills the
/// child): a Ctrl-C reaching the whole process group must not end the child first, and the
/// parent's answer stays pct's `received interrupt`.
const PARENT_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Exec the program's own binary as the extraction process for `request`, whose descriptors
/// (above stdio's, which the request parser refuses) it inherits. `Command` points the
/// child's stdin and stdout at /dev/null and leaves it the caller's stderr, where only a
/// panic would write.
fn spawn_extraction(request: &Request) -> io::Result<std::process::Child> {
    let handed_over = [request.archive, request.rootfs, request.to_parent];
    let parent = std::process::id() as libc::pid_t;
    let mut command = std::process::Command::new("/proc/self/exe");
    command
        .arg0("corral extract")
        .env(EXTRACT_REQUEST_ENV, request.encode())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; the signal
    // numbers are valid.
    let blocked = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in PARENT_SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
        set
    };
    // SAFETY: the closure makes only async-signal-safe system calls (fcntl, pthread_sigmask,
    // prctl, getppid) and allocates nothing; the descriptors stay open in the caller until
    // `spawn` returns.
    unsafe {
        command.pre_exec(move || {
            for fd in handed_over {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // Whatever mask `Command` leaves, these are blocked too; a mask survives exec.
            let error = libc::pthread_sigmask(libc::SIG_BLOCK, &blocked, std::ptr::null_mut());
            if error != 0 {
                return Err(io::Error::from_raw_os_error(error));
            }
            // An orphaned extraction has no one to report to; a parent gone before the
            // prctl shows as a new parent.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    command.spawn()
}

/// The extraction process, from the crate's constructor: takes over the descriptors of the
/// request, extracts and leaves through `_exit` without running the program's `main`. A
/// request that cannot be read exits with status 2, which the parent reports.
pub(crate) fn extraction_process(request: OsString) -> ! {
    let Some(request) = request.to_str().and_then(Request::parse) else {
        // SAFETY: leave without running the program's main.
        unsafe { libc::_exit(2) }
    };
    // SAFETY: the descriptors were handed over by `spawn_extraction` for this process to own,
    // and nothing else in it has taken them.
    let (archive, root, to_parent) = unsafe {
        (
            File::from_raw_fd(request.archive),
            RootDir::from_fd(OwnedFd::from_raw_fd(request.rootfs)),
            OwnedFd::from_raw_fd(request.to_parent),
        )
    };
    child_main(archive, root, &request, to_parent)
}

fn detect_compression(file: &File) -> io::Result<Result<Compression, &'static str>> {
    let mut magic = [0u8; MAGIC_LEN];
    let mut filled = 0;
    while filled < MAGIC_LEN {
        match file.read_at(&mut magic[filled..], filled as u64) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(Compression::detect(&magic[..filled]))
}

/// Why the extraction process failed; the parent hears its text.
#[derive(Debug, thiserror::Error)]
enum ChildError {
    #[error("failed to confine template extraction with Landlock: {0}")]
    Landlock(#[source] landlock::RulesetError),
    #[error("failed to start {compression} decompression: {}", cause(.source))]
    Decompression {
        compression: &'static str,
        source: io::Error,
    },
    #[error("{0}")]
    Unpack(#[from] UnpackError),
}

/// What the parent heard.
struct Report {
    outcome: Option<Result<ExtractSummary, TemplateError>>,
}

/// Whether `pipe` has something to read (or was closed), waiting at most `timeout`.
fn readable_within(pipe: BorrowedFd<'_>, timeout: std::time::Duration) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        &pipe,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec::try_from(timeout).ok();
    matches!(rustix::event::poll(&mut fds, timeout.as_ref()), Ok(n) if n > 0)
}

/// Reads the child's reports until its end. With a cancellation token, the pipe is polled so
/// that a cancel is seen within a tenth of a second even while the child is silent; the child
/// is then killed and the outcome is pct's `received interrupt`.
fn follow_child(
    pipe: OwnedFd,
    archive_len: u64,
    options: &ExtractOptions,
    cancel: Option<(&crate::cancel::Cancel, Pid)>,
) -> Report {
    use crate::report::Event;
    let observer = &options.observer;
    let say = |text: &str| observer.warning(text);
    // Progress starts now, so that a rate shown from it counts from the start.
    if options.progress {
        observer.emit(Event::Progress {
            done: 0,
            total: archive_len,
        });
    }
    let mut input = File::from(pipe);
    let mut outcome = None;
    loop {
        if let Some((token, child)) = cancel {
            while !token.is_cancelled()
                && !readable_within(input.as_fd(), std::time::Duration::from_millis(100))
            {
            }
            if token.is_cancelled() {
                let _ = rustix::process::kill_process(child, rustix::process::Signal::KILL);
                outcome = Some(Err(TemplateError::Invalid(
                    crate::cancel::INTERRUPTED.to_string(),
                )));
                break;
            }
        }
        match Message::read(&mut input) {
            Ok(Some(Message::Progress(consumed))) => {
                if options.progress {
                    observer.emit(Event::Progress {
                        done: consumed,
                        total: archive_len,
                    });
                }
            }
            Ok(Some(Message::Warning(text))) => say(&text),
            Ok(Some(Message::LandlockUnavailable(reason))) => {
                static NOTICE: Once = Once::new();
                NOTICE.call_once(|| {
                    say(&format!(
                        "warning: Landlock is unavailable ({reason}); template extraction relies on path checks alone"
                    ))
                });
            }
            Ok(Some(Message::Done(summary))) => outcome = Some(Ok(summary)),
            Ok(Some(Message::Failed(text))) => outcome = Some(Err(TemplateError::Invalid(text))),
            Ok(None) => break,
            Err(source) => {
                outcome.get_or_insert(Err(TemplateError::Io {
                    context: "lost contact with the extraction process".into(),
                    source,
                }));
                break;
            }
        }
    }
    if options.progress {
        observer.emit(Event::ProgressEnd);
    }
    Report { outcome }
}

fn reap(pid: Pid) -> io::Result<WaitStatus> {
    loop {
        match waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(status),
            Ok(None) => {}
            Err(Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

fn conclude(
    report: Report,
    status: io::Result<WaitStatus>,
) -> Result<ExtractSummary, TemplateError> {
    let status = status.map_err(|source| TemplateError::Io {
        context: "failed to wait for the extraction process".into(),
        source,
    })?;
    match (report.outcome, status.exit_status()) {
        (Some(Ok(summary)), Some(0)) => Ok(summary),
        (Some(Err(error)), _) => Err(error),
        (_, _) => Err(TemplateError::Invalid(match status.terminating_signal() {
            Some(signal) => format!("template extraction process was killed by signal {signal}"),
            None => format!(
                "template extraction process exited with status {} without a result",
                status.exit_status().unwrap_or(-1)
            ),
        })),
    }
}

/// Sends messages to the parent. A write can only fail once the parent is gone, and then
/// there is no one left to tell.
struct Channel(File);

impl Channel {
    fn send(&mut self, message: Message) {
        let _ = self.0.write_all(&message.encode());
    }
}

fn child_main(archive: File, root: RootDir, request: &Request, to_parent: OwnedFd) -> ! {
    let mut channel = Channel(File::from(to_parent));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_child(&mut channel, archive, &root, request)
    }));
    let code = match outcome {
        Ok(Ok(summary)) => {
            channel.send(Message::Done(summary));
            0
        }
        Ok(Err(error)) => {
            channel.send(Message::Failed(error.to_string()));
            1
        }
        Err(_) => {
            channel.send(Message::Failed(
                "template extraction failed: internal error".into(),
            ));
            101
        }
    };
    // SAFETY: `_exit` ends the process without running the program's `main`, its atexit
    // handlers or destructors.
    unsafe { libc::_exit(code) }
}

fn run_child(
    channel: &mut Channel,
    archive: File,
    root: &RootDir,
    request: &Request,
) -> Result<ExtractSummary, ChildError> {
    // Modes come from the archive alone; tar -p as root does not apply the umask either.
    rustix::process::umask(Mode::empty());
    close_inherited_fds(&[
        archive.as_raw_fd(),
        root.as_fd().as_raw_fd(),
        channel.0.as_raw_fd(),
    ]);

    let outcome = match request.confinement {
        Confinement::Landlock => confine_to_rootfs(root.as_fd(), archive.as_fd())?,
        Confinement::PathChecksOnly => LandlockOutcome::Enforced,
    };
    if let LandlockOutcome::Unavailable(reason) = outcome {
        channel.send(Message::LandlockUnavailable(reason));
    }

    let consumed = Rc::new(Cell::new(0u64));
    let counted = CountingReader {
        inner: archive,
        consumed: Rc::clone(&consumed),
    };
    let compression = request.compression;
    let decoder = compression
        .decoder(BufReader::with_capacity(READ_BUFFER, counted))
        .map_err(|source| ChildError::Decompression {
            compression: compression.name(),
            source,
        })?;
    let mut last_sent = 0;
    let mut report = |event: Event| match event {
        Event::Warning(text) => channel.send(Message::Warning(text)),
        Event::Progress => {
            let now = consumed.get();
            if now - last_sent >= PROGRESS_STEP {
                last_sent = now;
                channel.send(Message::Progress(now));
            }
        }
    };
    let summary = unpack_archive(
        decoder,
        root,
        request.id_map.as_ref(),
        request.ignore_unpack_errors,
        &mut report,
    )?;
    Ok(summary)
}

/// Counts the compressed bytes read, for progress against the archive's size.
struct CountingReader {
    inner: File,
    consumed: Rc<Cell<u64>>,
}

impl Read for CountingReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.consumed.set(self.consumed.get() + count as u64);
        Ok(count)
    }
}

/// Closes every descriptor the child inherited except stdio and `keep`, so neither Landlock
/// nor a decompressor bug has other open files to misuse.
fn close_inherited_fds(keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .collect();
    keep.sort_unstable();
    let mut next = 3u32;
    let close = |first: u32, last: u32| {
        if first <= last {
            // SAFETY: close_range only closes descriptors; none in range is used afterwards.
            // Kernels before 5.9 lack it, and then the descriptors simply stay open.
            unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        }
    };
    for fd in keep {
        if fd > next {
            close(next, fd - 1);
        }
        next = next.max(fd + 1);
    }
    close(next, u32::MAX);
}

pub(crate) enum LandlockOutcome {
    Enforced,
    Unavailable(String),
}

/// Restricts the calling thread and everything it starts afterwards, for good, to filesystem
/// access beneath `rootfs` plus reading `archive`; network binds/connects and signals to
/// processes outside are refused too where the kernel supports it. Best effort: a kernel without Landlock gives `Unavailable`.
fn confine_to_rootfs(
    rootfs: BorrowedFd<'_>,
    archive: BorrowedFd<'_>,
) -> Result<LandlockOutcome, ChildError> {
    confine_beneath(rootfs, Some(archive)).map_err(ChildError::Landlock)
}

/// Restricts the calling thread and everything it starts afterwards (the whole process when it
/// is the only thread), for good, to filesystem access beneath `rootfs` (and reading the file
/// `read_only`, if given), with no network binds or connects and no signals
/// to processes outside its domain. A kernel without Landlock gives `Unavailable`.
pub(crate) fn confine_beneath(
    rootfs: BorrowedFd<'_>,
    read_only: Option<BorrowedFd<'_>>,
) -> Result<LandlockOutcome, landlock::RulesetError> {
    let abi = ABI::V7;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|ruleset| ruleset.handle_access(AccessNet::from_all(abi)))
        .and_then(|ruleset| ruleset.scope(Scope::from_all(abi)))
        .and_then(|ruleset| ruleset.create())
        .and_then(|ruleset| ruleset.add_rule(PathBeneath::new(rootfs, AccessFs::from_all(abi))))
        .and_then(|ruleset| match read_only {
            Some(file) => ruleset.add_rule(PathBeneath::new(file, AccessFs::ReadFile)),
            None => Ok(ruleset),
        })
        .and_then(|ruleset| ruleset.restrict_self())?;
    Ok(match status.ruleset {
        RulesetStatus::NotEnforced => {
            LandlockOutcome::Unavailable("not supported by the running kernel".into())
        }
        _ => LandlockOutcome::Enforced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::template::fixtures::Scratch;

    #[test]
    fn messages_survive_the_wire() {
        let messages = [
            Message::Progress(123_456_789),
            Message::Warning("Removing leading `/' from member names".into()),
            Message::LandlockUnavailable("not supported".into()),
            Message::Done(ExtractSummary {
                entries: 42,
                bytes: 1 << 40,
            }),
            Message::Failed("./x: Cannot open: File exists".into()),
        ];
        let wire: Vec<u8> = messages.iter().flat_map(Message::encode).collect();
        let mut input = &wire[..];
        for expected in messages {
            assert_eq!(Message::read(&mut input).unwrap(), Some(expected));
        }
        assert_eq!(Message::read(&mut input).unwrap(), None);
    }

    #[test]
    fn requests_survive_the_environment() {
        let map = IdMap::from_lxc_values(["u 0 100000 65536", "g 0 200000 1000"]).unwrap();
        for (confinement, ignore_unpack_errors, id_map) in [
            (Confinement::Landlock, false, None),
            (Confinement::PathChecksOnly, true, Some(map)),
            (Confinement::Landlock, true, Some(IdMap::default())),
        ] {
            let request = Request {
                archive: 3,
                rootfs: 4,
                to_parent: 5,
                compression: Compression::Zstd,
                confinement,
                ignore_unpack_errors,
                id_map,
            };
            assert_eq!(Request::parse(&request.encode()), Some(request));
        }
        // The descriptors are never stdio's, which `Command` redirects.
        assert_eq!(Request::parse("0:4:5:none:landlock:stop:-"), None);
        assert_eq!(Request::parse("3:4:5:bzip2:landlock:stop:-"), None);
    }

    #[test]
    fn garbled_messages_are_errors() {
        assert!(Message::read(&mut &b"Z\x00\x00\x00\x00"[..]).is_err());
        assert!(Message::read(&mut &b"P\x03\x00\x00\x00abc"[..]).is_err());
        assert!(Message::read(&mut &b"W\xff\xff\xff\xff"[..]).is_err());
        assert!(Message::read(&mut &b"W\x05\x00\x00\x00ab"[..]).is_err());
    }

    /// The Landlock layer on its own: a thread confined to the rootfs can write there, and
    /// cannot create a file next to it even by plain absolute path; the other threads, this
    /// test's own among them, are not confined.
    #[test]
    fn landlock_confines_writes_to_the_rootfs() {
        let scratch = Scratch::new();
        let rootfs = scratch.rootfs();
        let escape = scratch.outside().join("escaped");
        let archive = File::open(scratch.outside().join("secret")).unwrap();
        let root = RootDir::open(&rootfs).unwrap();
        let inside = rootfs.join("inside");
        let confined = std::thread::scope(|scope| {
            scope
                .spawn(|| match confine_to_rootfs(root.as_fd(), archive.as_fd()) {
                    Ok(LandlockOutcome::Enforced) => {
                        let create = |path: &Path| File::create(path).is_ok();
                        (create(&inside), create(&escape))
                    }
                    Ok(LandlockOutcome::Unavailable(reason)) => panic!("no Landlock: {reason}"),
                    Err(error) => panic!("{error}"),
                })
                .join()
                .unwrap()
        });
        assert_eq!(confined, (true, false), "(created inside, escaped)");
        assert!(inside.exists());
        assert!(!escape.exists());
        scratch.assert_outside_untouched();
        File::create(&escape).expect("this thread is not confined");
    }
}
