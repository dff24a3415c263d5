//! `pct enter` and `pct console` on a running container, and what a command in it joins
//! (`pct exec` is [`Container::command`]).

use std::io::IsTerminal;
use std::os::fd::AsFd;

use super::{ConsoleProblem, Container, Error};
use crate::runtime::command::{Request, request};
use crate::runtime::plan::StartPlan;
use crate::runtime::state::InitState;
use crate::runtime::terminal;

impl Container<'_> {
    /// The running init, the plan it runs under and its seccomp program, for a command to
    /// join.
    pub(super) fn attach_target(
        &self,
    ) -> Result<(InitState, StartPlan, Vec<libc::sock_filter>), Error> {
        let init = self
            .running_init()
            .ok_or_else(|| Error::not_running(self.vmid, true))?;
        // A frozen container would take the command into its cgroup and hold it there.
        if crate::cgroup::Hierarchy::find()
            .is_some_and(|h| crate::cgroup::ContainerCgroup::of(&h, self.vmid.get()).frozen())
        {
            return Err(Error::Suspended { vmid: self.vmid });
        }
        // A run state lost while the container ran: the plan its config gives now.
        let plan = match self.state_dir().read_plan() {
            Ok(plan) => plan,
            Err(_) => {
                let config = self.config()?;
                let facts = self.host_facts(&config.main)?;
                StartPlan::build(self.vmid.get(), &config.main, &facts)?
            }
        };
        let filter = crate::runtime::seccomp::cached_filter(
            &crate::runtime::seccomp::cache_dir(self.host.root()),
            &plan.seccomp.policy,
        )?;
        Ok((init, plan, filter))
    }

    /// A connection to the monitor when the filter has notify rules (`features: mknod=1`),
    /// so that it answers them for the command too.
    pub(super) fn notify_channel(
        &self,
        filter: &[libc::sock_filter],
    ) -> Option<std::os::unix::net::UnixStream> {
        if !crate::runtime::seccomp::wants_listener(filter) {
            return None;
        }
        std::os::unix::net::UnixStream::connect(self.state_dir().socket()).ok()
    }

    /// `pct enter`: root's login shell from the container's /etc/passwd (else /bin/sh), on
    /// a pty of the container's own when stdin is a terminal (an interactive call: the
    /// caller's terminal is in raw mode while it runs). Returns the shell's exit code.
    pub fn enter(&self, keep_env: bool) -> Result<i32, Error> {
        let init = self
            .running_init()
            .ok_or_else(|| Error::not_running(self.vmid, true))?;
        let terminal = std::io::stdin().is_terminal();
        let mut child = self
            .command([root_shell(init.pid), "-l".into()])
            .keep_env(keep_env)
            .tty(terminal)
            .spawn()?;
        let status = if terminal {
            child.interact()
        } else {
            child.wait()
        };
        status
            .map(super::command::exit_code)
            .map_err(|e| Error::io("attach", e))
    }

    /// `pct console`: tty (the first free one), /dev/console or a shell, by `cmode`.
    pub fn console(&self, escape: Option<&str>) -> Result<i32, Error> {
        let escape = terminal::parse_escape(escape.unwrap_or("^a"))?;
        let config = self.config()?;
        let index = match config.main.get("cmode").unwrap_or("tty") {
            "shell" => return self.enter(false),
            "console" => 0,
            _ => -1,
        };
        if self.running_init().is_none() {
            return Err(Error::not_running(self.vmid, true));
        }
        let socket = self.state_dir().socket();
        let reply = request(&socket, &Request::Console(index))
            .map_err(|e| Error::io("unable to reach the container's monitor", e))?;
        let console = |problem| Error::Console {
            vmid: self.vmid,
            problem,
        };
        let (connection, line, master) = reply.ok_or_else(|| console(ConsoleProblem::NoMonitor))?;
        let (master, tty) = match (line.strip_prefix("ok "), master) {
            (Some(tty), Some(master)) => (master, tty.parse::<usize>().unwrap_or(0)),
            _ if line == "busy" => return Err(console(ConsoleProblem::InUse)),
            _ => {
                let reason = line.strip_prefix("error ").unwrap_or(&line).to_string();
                return Err(console(ConsoleProblem::Refused(reason)));
            }
        };
        connection
            .set_read_timeout(None)
            .map_err(|e| Error::io("console", e))?;
        // The banner is for the person at the terminal: a notice the caller shows (pct on
        // stderr) before the relay takes the terminal over, or that an embedder relaying
        // the console elsewhere shows its own way. Its last newline is the notice's end.
        let banner = terminal::console_banner(tty, escape);
        self.host
            .observer()
            .notice(banner.strip_suffix('\n').unwrap_or(&banner));
        let raw = terminal::RawMode::enable(std::io::stdin().as_fd())
            .map_err(|e| Error::io("console", e))?;
        let relayed = terminal::relay(&master, Some(escape), true);
        drop(raw);
        // Holding the connection until here keeps the tty ours; closing it frees it.
        drop(connection);
        relayed.map_err(|e| Error::io("console", e))?;
        Ok(0)
    }
}

/// root's shell as the container's passwd file names it, read inside init's root.
fn root_shell(init_pid: u32) -> String {
    let root = std::path::PathBuf::from(format!("/proc/{init_pid}/root"));
    let passwd = crate::setup::read_in_root(&root, "/etc/passwd")
        .ok()
        .flatten();
    passwd
        .and_then(|bytes| {
            String::from_utf8_lossy(&bytes).lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.len() == 7 && fields[0] == "root" && fields[6].starts_with('/'))
                    .then(|| fields[6].to_string())
            })
        })
        .unwrap_or_else(|| "/bin/sh".to_string())
}
