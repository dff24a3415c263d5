//! Commands in a running container, shaped like `std::process::Command`:
//! [`Container::command`] gives a [`ContainerCommand`] to configure, whose `spawn` gives a
//! [`ContainerChild`] to wait for, kill, or await through its pidfd. Nothing of the caller
//! changes: no namespace joined, no signal or terminal touched, every descriptor opened on
//! the way closed again (see `runtime::attach` for how).

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output, Stdio};

use super::{Container, Error};
use crate::runtime::attach::{AttachError, AttachRequest, UncheckedStart, attach_environment};

impl<'h> Container<'h> {
    /// A command to run in this running container: `argv[0]` is the program (looked up in
    /// the command's PATH when it has no `/`), the rest its arguments. Its environment is
    /// pct's: a standard PATH, `container=lxc`, the caller's TERM and init's environment
    /// (or the caller's whole environment with [`ContainerCommand::keep_env`]).
    pub fn command<I, S>(&self, argv: I) -> ContainerCommand<'h>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        ContainerCommand {
            container: *self,
            argv: argv.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            env: Vec::new(),
            env_clear: false,
            keep_env: false,
            cwd: None,
            uid: None,
            gid: None,
            stdin: None,
            stdout: None,
            stderr: None,
            tty: false,
        }
    }
}

/// A command to run in a container, configured as a `std::process::Command` is.
pub struct ContainerCommand<'h> {
    container: Container<'h>,
    argv: Vec<OsString>,
    /// Changes to the base environment, in order: a value sets, `None` removes.
    env: Vec<(OsString, Option<OsString>)>,
    env_clear: bool,
    keep_env: bool,
    cwd: Option<PathBuf>,
    uid: Option<u32>,
    gid: Option<u32>,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    tty: bool,
}

impl ContainerCommand<'_> {
    /// Add an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.argv.push(arg.as_ref().to_owned());
        self
    }

    /// Add arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.argv
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Set a variable in the command's environment.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Remove a variable from the command's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Start from an empty environment: only what `env` sets afterwards is passed.
    pub fn env_clear(&mut self) -> &mut Self {
        self.env.clear();
        self.env_clear = true;
        self
    }

    /// pct's `--keep-env`: the base environment is the caller's own (plus `container=lxc`)
    /// instead of pct's clean one.
    pub fn keep_env(&mut self, keep: bool) -> &mut Self {
        self.keep_env = keep;
        self
    }

    /// The working directory inside the container (`/` by default).
    pub fn current_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The user id inside the container (root by default).
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.uid = Some(uid);
        self
    }

    /// The group id inside the container (root by default); supplementary groups are dropped.
    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.gid = Some(gid);
        self
    }

    /// The command's stdin: `Stdio::inherit()`, `piped()`, `null()` or a descriptor.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.stdin = Some(cfg.into());
        self
    }

    /// The command's stdout, as for [`stdin`](Self::stdin).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.stdout = Some(cfg.into());
        self
    }

    /// The command's stderr, as for [`stdin`](Self::stdin).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.stderr = Some(cfg.into());
        self
    }

    /// Run the command on a pty of the container's own devpts, as its controlling terminal
    /// and stdin, stdout and stderr (the stdio settings are then unused); its master is
    /// [`ContainerChild::pty`]. Never chosen for you, whatever the caller's terminal is.
    pub fn tty(&mut self, tty: bool) -> &mut Self {
        self.tty = tty;
        self
    }

    /// Start the command; stdio not set is inherited. Returns once the command runs: a
    /// failure on the way, a missing program included, is the error. The stdio settings are
    /// used up.
    pub fn spawn(&mut self) -> Result<ContainerChild, Error> {
        self.spawn_with(Defaults::Inherit, true)
    }

    /// Run the command to its end with stdout and stderr captured (unless set otherwise) and
    /// stdin empty (likewise).
    pub fn output(&mut self) -> Result<Output, Error> {
        let child = self.spawn_with(Defaults::Capture, true)?;
        child
            .wait_with_output()
            .map_err(|e| Error::io("waiting for the command", e))
    }

    /// Run the command to its end with the caller's stdio (unless set otherwise).
    pub fn status(&mut self) -> Result<ExitStatus, Error> {
        // The wait is for the end anyway: whether the command got to exec is read after it.
        let mut child = self.spawn_with(Defaults::Inherit, false)?;
        drop(child.stdin.take());
        let status = child
            .wait()
            .map_err(|e| Error::io("waiting for the command", e))?;
        match child.unchecked.take() {
            Some(unchecked) => unchecked.check().map(|()| status).map_err(attach_error),
            None => Ok(status),
        }
    }

    fn spawn_with(
        &mut self,
        defaults: Defaults,
        until_exec: bool,
    ) -> Result<ContainerChild, Error> {
        let (init, plan, filter) = self.container.attach_target()?;
        let stdio = self.take_stdio(defaults);
        let cwd = self.cwd.as_ref().map(|dir| dir.as_os_str());
        let request = AttachRequest {
            argv: &self.argv,
            env: self.environment(&plan),
            cwd,
            uid: self.uid,
            gid: self.gid,
            terminal: self.tty,
            stdio,
            monitor: self.container.notify_channel(&filter),
            until_exec,
        };
        let attached =
            crate::runtime::attach::spawn(&init, &plan, request, &filter).map_err(attach_error)?;
        Ok(ContainerChild {
            pid: attached.pid,
            pidfd: attached.pidfd,
            status: None,
            stdin: attached.stdin,
            stdout: attached.stdout,
            stderr: attached.stderr,
            pty: attached
                .terminal
                .map(|fd| ContainerPty(std::fs::File::from(fd))),
            unchecked: attached.unchecked,
        })
    }

    /// The stdio to set up, `None` when it is all the caller's own (the cheaper way).
    fn take_stdio(&mut self, defaults: Defaults) -> Option<[Stdio; 3]> {
        let unset = self.stdin.is_none() && self.stdout.is_none() && self.stderr.is_none();
        if unset && defaults == Defaults::Inherit {
            return None;
        }
        let capture = defaults == Defaults::Capture;
        Some([
            self.stdin.take().unwrap_or_else(|| {
                if capture {
                    Stdio::null()
                } else {
                    Stdio::inherit()
                }
            }),
            self.stdout.take().unwrap_or_else(|| {
                if capture {
                    Stdio::piped()
                } else {
                    Stdio::inherit()
                }
            }),
            self.stderr.take().unwrap_or_else(|| {
                if capture {
                    Stdio::piped()
                } else {
                    Stdio::inherit()
                }
            }),
        ])
    }

    fn environment(&self, plan: &crate::runtime::StartPlan) -> Vec<OsString> {
        let mut env = if self.env_clear {
            Vec::new()
        } else {
            attach_environment(self.keep_env, plan)
        };
        for (key, value) in &self.env {
            env.retain(|entry| {
                entry
                    .as_bytes()
                    .strip_prefix(key.as_bytes())
                    .is_none_or(|rest| rest.first() != Some(&b'='))
            });
            if let Some(value) = value {
                let mut entry = key.clone();
                entry.push("=");
                entry.push(value);
                env.push(entry);
            }
        }
        env
    }
}

/// The stdio a command gets where none was set: `spawn` and `status` inherit the caller's,
/// `output` captures stdout and stderr and gives an empty stdin, as std's do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Defaults {
    Inherit,
    Capture,
}

/// A command running in a container: the caller's own child, so it is waited for as one.
/// Like `std::process::Child`, dropping it neither kills nor waits for the command. Its
/// pidfd ([`AsFd`]) turns readable when the command ends, for async runtimes to await.
pub struct ContainerChild {
    pid: u32,
    pidfd: OwnedFd,
    status: Option<ExitStatus>,
    /// The command's stdin, when it was `Stdio::piped()`.
    pub stdin: Option<ChildStdin>,
    /// The command's stdout, when it was `Stdio::piped()`.
    pub stdout: Option<ChildStdout>,
    /// The command's stderr, when it was `Stdio::piped()`.
    pub stderr: Option<ChildStderr>,
    /// The master of the command's terminal, with `tty(true)`.
    pub pty: Option<ContainerPty>,
    /// For `status`: whether the command got to exec, read once it has ended.
    unchecked: Option<UncheckedStart>,
}

impl ContainerChild {
    /// The command's pid on the host (the caller's pid namespace).
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Send SIGKILL; nothing happens once the command has been waited for.
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        rustix::process::pidfd_send_signal(&self.pidfd, rustix::process::Signal::KILL)
            .map_err(io::Error::from)
    }

    /// Wait for the command to end (stdin, when piped, is closed first, as std does).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        self.wait_pid(0)
            .map(|status| status.expect("a blocking wait returns a status"))
    }

    /// The exit status if the command has ended, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wait_pid(libc::WNOHANG)
    }

    /// Close stdin, read stdout and stderr to their ends, and wait.
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stdout = self.stdout.take();
        let stderr = self.stderr.take();
        let (stdout, stderr) = std::thread::scope(|scope| {
            let stderr = scope.spawn(move || read_all(stderr));
            let stdout = read_all(stdout);
            (
                stdout,
                stderr.join().expect("the stderr reader does not panic"),
            )
        });
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout: stdout?,
            stderr: stderr?,
        })
    }

    /// The interactive session of `pct enter` and `pct exec` on a terminal: the caller's
    /// stdin in raw mode, the command's pty relayed to the caller's stdin and stdout until it
    /// hangs up, then the wait. Only for a command spawned with `tty(true)`.
    pub fn interact(&mut self) -> io::Result<ExitStatus> {
        if let Some(pty) = &self.pty {
            let master = OwnedFd::from(pty.0.try_clone()?);
            let raw = crate::runtime::terminal::RawMode::enable(io::stdin().as_fd())?;
            let relayed = crate::runtime::terminal::relay(&master, None, false);
            drop(raw);
            relayed?;
        }
        self.wait()
    }

    fn wait_pid(&mut self, flags: i32) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let mut raw = 0;
        loop {
            // SAFETY: waitpid for our own child, which nothing else reaps: its pid stays ours
            // until this call reaps it, and the status is cached after.
            let rc = unsafe { libc::waitpid(self.pid as i32, &mut raw, flags) };
            if rc == self.pid as i32 {
                let status = ExitStatus::from_raw(raw);
                self.status = Some(status);
                return Ok(Some(status));
            }
            if rc == 0 {
                return Ok(None);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl AsFd for ContainerChild {
    /// The command's pidfd.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

fn attach_error(error: AttachError) -> Error {
    match error {
        AttachError::Invalid(reason) => Error::InvalidCommand { reason },
        AttachError::Step { context, source } => Error::Io { context, source },
    }
}

fn read_all(stream: Option<impl Read>) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(mut stream) = stream {
        stream.read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// The exit code a shell would give: the command's own, or 128 + the signal that ended it.
pub(crate) fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The master side of a command's terminal: what is written is typed, what is read is shown.
#[derive(Debug)]
pub struct ContainerPty(std::fs::File);

impl Read for ContainerPty {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for ContainerPty {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl AsFd for ContainerPty {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<ContainerPty> for OwnedFd {
    fn from(pty: ContainerPty) -> OwnedFd {
        pty.0.into()
    }
}
