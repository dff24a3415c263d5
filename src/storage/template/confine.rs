//! The extraction process: a forked child that Landlock confines to writing beneath the rootfs
//! (and reading the archive), talking to the parent over a pipe. The parent draws progress,
//! prints warnings, reaps the child and turns its report into the result.
//!
//! A child rather than a thread because a Landlock domain binds the whole process and cannot
//! be lifted; confining the caller would confine `pct` itself. Nothing here starts a thread.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
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
use super::unpack::{Event, cause, unpack_archive};
use super::{ExtractOptions, ExtractSummary, TemplateError};

/// How the child is held in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
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

/// Opens what the child needs, forks it, follows its reports and reaps it.
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

    // SAFETY: the child only runs this crate's extraction code and leaves through `_exit`;
    // the threads of ours that may exist meanwhile (a caller waiting for the create's
    // mount-namespace thread, pct's signal waiter) sit in join/sigwait holding no lock the
    // child could need, and the child does not touch stdio or other process-wide state a
    // foreign thread might have locked.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let source = io::Error::last_os_error();
        return Err(TemplateError::Io {
            context: "failed to fork the extraction process".into(),
            source,
        });
    }
    if pid == 0 {
        drop(from_child);
        child_main(file, root, compression, options, confinement, to_parent);
    }
    drop(to_parent);
    drop(root);
    let pid = Pid::from_raw(pid).expect("fork returned a positive pid");
    let report = follow_child(
        from_child,
        metadata.len(),
        options.progress,
        options.cancel.as_ref().map(|cancel| (cancel, pid)),
    );
    let status = reap(pid);
    conclude(report, status)
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

/// What the parent heard.
struct Report {
    outcome: Option<Result<ExtractSummary, String>>,
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
    want_progress: bool,
    cancel: Option<(&crate::cancel::Cancel, Pid)>,
) -> Report {
    let bar =
        (want_progress && rustix::termios::isatty(io::stderr())).then(|| progress_bar(archive_len));
    let say = |text: &str| match &bar {
        Some(bar) => bar.suspend(|| eprintln!("{text}")),
        None => eprintln!("{text}"),
    };
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
                outcome = Some(Err(crate::cancel::INTERRUPTED.to_string()));
                break;
            }
        }
        match Message::read(&mut input) {
            Ok(Some(Message::Progress(consumed))) => {
                if let Some(bar) = &bar {
                    bar.set_position(consumed);
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
            Ok(Some(Message::Failed(text))) => outcome = Some(Err(text)),
            Ok(None) => break,
            Err(error) => {
                outcome.get_or_insert(Err(format!(
                    "lost contact with the extraction process: {error}"
                )));
                break;
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Report { outcome }
}

#[cfg(feature = "cli")]
fn progress_bar(length: u64) -> indicatif::ProgressBar {
    let style = indicatif::ProgressStyle::with_template(
        "extracting [{bar:32}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    indicatif::ProgressBar::with_draw_target(Some(length), indicatif::ProgressDrawTarget::stderr())
        .with_style(style)
}

/// Without the `cli` feature there is no indicatif, and no bar: progress is only counted.
#[cfg(not(feature = "cli"))]
struct NoProgressBar;

#[cfg(not(feature = "cli"))]
impl NoProgressBar {
    fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        print()
    }
    fn set_position(&self, _consumed: u64) {}
    fn finish_and_clear(&self) {}
}

#[cfg(not(feature = "cli"))]
fn progress_bar(_length: u64) -> NoProgressBar {
    NoProgressBar
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
        (Some(Err(message)), _) => Err(TemplateError::Invalid(message)),
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

fn child_main(
    archive: File,
    root: RootDir,
    compression: Compression,
    options: &ExtractOptions,
    confinement: Confinement,
    to_parent: OwnedFd,
) -> ! {
    let mut channel = Channel(File::from(to_parent));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_child(
            &mut channel,
            archive,
            &root,
            compression,
            options,
            confinement,
        )
    }));
    let code = match outcome {
        Ok(Ok(summary)) => {
            channel.send(Message::Done(summary));
            0
        }
        Ok(Err(message)) => {
            channel.send(Message::Failed(message));
            1
        }
        Err(_) => {
            channel.send(Message::Failed(
                "template extraction failed: internal error".into(),
            ));
            101
        }
    };
    // SAFETY: `_exit` ends the child without running the parent's atexit handlers or
    // destructors, which belong to the parent.
    unsafe { libc::_exit(code) }
}

fn run_child(
    channel: &mut Channel,
    archive: File,
    root: &RootDir,
    compression: Compression,
    options: &ExtractOptions,
    confinement: Confinement,
) -> Result<ExtractSummary, String> {
    // An orphaned extraction has no one to report to.
    // SAFETY: plain prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // Modes come from the archive alone; tar -p as root does not apply the umask either.
    rustix::process::umask(Mode::empty());
    close_inherited_fds(&[
        archive.as_raw_fd(),
        root.as_fd().as_raw_fd(),
        channel.0.as_raw_fd(),
    ]);

    let outcome = match confinement {
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
    let decoder = compression
        .decoder(BufReader::with_capacity(READ_BUFFER, counted))
        .map_err(|e| {
            format!(
                "failed to start {} decompression: {}",
                compression.name(),
                cause(&e)
            )
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
    unpack_archive(
        decoder,
        root,
        options.id_map.as_ref(),
        options.ignore_unpack_errors,
        &mut report,
    )
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

/// Restricts the calling process, for good, to filesystem access beneath `rootfs` plus reading
/// `archive`; network binds/connects and signals to processes outside are refused too where
/// the kernel supports it. Best effort: a kernel without Landlock gives `Unavailable`.
pub(super) fn confine_to_rootfs(
    rootfs: BorrowedFd<'_>,
    archive: BorrowedFd<'_>,
) -> Result<LandlockOutcome, String> {
    confine_beneath(rootfs, Some(archive))
        .map_err(|e| format!("failed to confine template extraction with Landlock: {e}"))
}

/// Restricts the calling process, for good, to filesystem access beneath `rootfs` (and
/// reading the file `read_only`, if given), with no network binds or connects and no signals
/// to processes outside its domain. A kernel without Landlock gives `Unavailable`.
pub(crate) fn confine_beneath(
    rootfs: BorrowedFd<'_>,
    read_only: Option<BorrowedFd<'_>>,
) -> Result<LandlockOutcome, String> {
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
        .and_then(|ruleset| ruleset.restrict_self())
        .map_err(|e| e.to_string())?;
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
    fn garbled_messages_are_errors() {
        assert!(Message::read(&mut &b"Z\x00\x00\x00\x00"[..]).is_err());
        assert!(Message::read(&mut &b"P\x03\x00\x00\x00abc"[..]).is_err());
        assert!(Message::read(&mut &b"W\xff\xff\xff\xff"[..]).is_err());
        assert!(Message::read(&mut &b"W\x05\x00\x00\x00ab"[..]).is_err());
    }

    /// The Landlock layer on its own: a child confined to the rootfs can write there, and
    /// cannot create a file next to it even by plain absolute path.
    #[test]
    fn landlock_confines_writes_to_the_rootfs() {
        let scratch = Scratch::new();
        let rootfs = scratch.rootfs();
        let escape = scratch.outside().join("escaped");
        let archive = File::open(scratch.outside().join("secret")).unwrap();
        let root = RootDir::open(&rootfs).unwrap();
        let inside = rootfs.join("inside");
        let (escape_c, inside_c) = (cstring(&escape), cstring(&inside));
        // SAFETY: the child only makes raw syscalls and leaves through _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = match confine_to_rootfs(root.as_fd(), archive.as_fd()) {
                Ok(LandlockOutcome::Enforced) => {
                    let create = |path: &std::ffi::CString| unsafe {
                        libc::open(
                            path.as_ptr(),
                            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                            0o644,
                        )
                    };
                    match (create(&inside_c) >= 0, create(&escape_c) >= 0) {
                        (true, false) => 0,
                        (false, _) => 2,
                        (true, true) => 3,
                    }
                }
                Ok(LandlockOutcome::Unavailable(_)) => 4,
                Err(_) => 5,
            };
            unsafe { libc::_exit(code) };
        }
        let status = reap(Pid::from_raw(pid).unwrap()).unwrap();
        assert_eq!(
            status.exit_status(),
            Some(0),
            "0 ok, 2 inside refused, 3 escaped, 4 no landlock, 5 error"
        );
        assert!(inside.exists());
        assert!(!escape.exists());
        scratch.assert_outside_untouched();
    }

    fn cstring(path: &Path) -> std::ffi::CString {
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
    }
}
