//! `pct exec`, `pct enter` and `pct console` on a running container.

use std::io::IsTerminal;

use super::{Container, Error};
use crate::runtime::attach::{AttachRequest, attach, attach_environment};
use crate::runtime::plan::StartPlan;
use crate::runtime::state::InitState;

impl Container<'_> {
    fn attach_target(&self) -> Result<(InitState, StartPlan, Vec<libc::sock_filter>), Error> {
        let init = self
            .running_init()
            .ok_or_else(|| Error::Failed(format!("container '{}' not running!", self.vmid)))?;
        let state = self.state_dir();
        let plan = state
            .read_plan()
            .map_err(|e| Error::io("unable to read the container's start plan", e))?;
        let filter = crate::runtime::seccomp::cached_filter(
            &crate::runtime::seccomp::cache_dir(self.host.root()),
            &plan.seccomp.policy,
        )
        .map_err(|e| Error::Failed(format!("seccomp: {e}")))?;
        Ok((init, plan, filter))
    }

    /// `pct exec <vmid> -- command...`: the command's exit status.
    pub fn exec(&self, command: &[String], keep_env: bool) -> Result<i32, Error> {
        let (init, plan, filter) = self.attach_target()?;
        let request = AttachRequest {
            argv: command,
            env: attach_environment(keep_env, &plan),
            terminal: None,
        };
        attach(&init, &plan, request, &filter).map_err(|e| Error::io("attach", e))
    }

    /// `pct enter`: a login shell.
    pub fn enter(&self, keep_env: bool) -> Result<i32, Error> {
        let (init, plan, filter) = self.attach_target()?;
        let shell = vec!["/bin/sh".to_string(), "-l".to_string()];
        let env = attach_environment(keep_env, &plan);
        if !std::io::stdin().is_terminal() {
            let request = AttachRequest {
                argv: &shell,
                env,
                terminal: None,
            };
            return attach(&init, &plan, request, &filter).map_err(|e| Error::io("attach", e));
        }
        Err(Error::Failed("enter with a terminal: pending".into()))
    }

    /// `pct console`.
    pub fn console(&self, escape: Option<&str>) -> Result<i32, Error> {
        let _ = escape;
        Err(Error::Failed("console: pending".into()))
    }
}
