//! Running guest setup: pct's hook pipelines (post-create, pre-start) over the distribution's
//! plugin, on a thread that Landlock confines to the rootfs, so a hostile guest file
//! can at worst mislead the writes it is the subject of, never reach the host.

use std::os::fd::AsFd;
use std::path::Path;

use super::context::{GuestConfig, HostEnv, Report, Setup};
use super::distro::{self, Distro};
use super::error::SetupError;
use super::random::{OsRandom, RandomSource};
use super::root::GuestRoot;
use super::ssh::{self, HostKey};

/// Which of pct's pipelines to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// Every start: init, network, host name, DNS, time zone.
    PreStart,
    /// `pct create`: first the one-time steps (machine-id, template fixes, crontab, root
    /// password and keys, SSH host keys), then what every start does.
    PostCreate {
        password: Option<String>,
        ssh_public_keys: Option<String>,
    },
    /// `pct clone`, on the new container: its machine-id emptied (systemd makes a new one),
    /// new SSH host keys where the source had any, then what every start does.
    PostClone,
}

/// pct's warning for a systemd too old for a cgroup2-only host.
const CGROUP_V2_WARNING: &str = "old systemd (< v232) detected, container won't run in a pure \
     cgroupv2 environment! Please see documentation -> container -> cgroup version.";

/// One setup run.
pub struct SetupRequest<'a> {
    pub rootfs: &'a Path,
    /// The container's root as the host sees it, for unprivileged containers.
    pub owner: Option<(u32, u32)>,
    pub conf: &'a GuestConfig,
    pub host: &'a HostEnv,
    pub hook: Hook,
}

/// What a run did: the plugin's ostype and what it had to say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetupOutcome {
    pub ostype: String,
    pub report: Report,
}

/// A failed run: what went wrong, and what was said before it.
#[derive(Debug)]
pub struct SetupFailure {
    pub error: SetupError,
    pub report: Report,
}

impl SetupFailure {
    fn new(error: SetupError, report: Report) -> SetupFailure {
        SetupFailure { error, report }
    }
}

/// What the parent prepares before the child is confined: the plugin, and SSH host keys,
/// whose generation runs ssh-keygen on the host.
struct Prepared {
    distro: Box<dyn Distro>,
    host_keys: Vec<HostKey>,
    report: Report,
}

fn prepare(request: &SetupRequest, root: &GuestRoot) -> Result<Prepared, SetupFailure> {
    let mut report = Report::default();
    let distro = distro::load(root, request.conf, &mut report.warnings)
        .map_err(|error| SetupFailure::new(error, report.clone()))?;
    let mut host_keys = Vec::new();
    let key_types = distro.ssh_host_key_types();
    // pct does not renew host keys on clone; corral does where the source had some, as
    // clones sharing them could pass for one another.
    let wants_host_keys = match request.hook {
        Hook::PostCreate { .. } => root.is_dir("/etc/ssh"),
        Hook::PostClone => key_types
            .iter()
            .any(|(_, basename)| root.is_file(&format!("/etc/ssh/{basename}"))),
        Hook::PreStart => false,
    };
    if wants_host_keys && !key_types.is_empty() {
        host_keys = ssh::generate_host_keys(
            distro.ssh_host_key_types(),
            request.conf.short_hostname(),
            &mut report.messages,
        )
        .map_err(|error| SetupFailure::new(error, report.clone()))?;
    }
    Ok(Prepared {
        distro,
        host_keys,
        report,
    })
}

fn apply(
    request: &SetupRequest,
    root: &GuestRoot,
    prepared: Prepared,
    random: &mut dyn RandomSource,
) -> Result<SetupOutcome, SetupFailure> {
    let distro = prepared.distro;
    let mut setup = Setup::new(root, request.conf, request.host, random);
    setup.report = prepared.report;
    let result = (|| -> Result<(), SetupError> {
        match &request.hook {
            Hook::PreStart => {
                if distro.managed() {
                    setup.write("/fastboot", "", None)?;
                }
            }
            Hook::PostCreate {
                password,
                ssh_public_keys,
            } => {
                distro.clear_machine_id(&mut setup, false)?;
                distro.snakeoil_fixup(&mut setup)?;
                distro.template_fixup(&mut setup)?;
                if distro.managed() {
                    super::crontab::randomize_crontab(&mut setup)?;
                }
                distro.set_user_password(&mut setup, "root", password.as_deref())?;
                // pct skips keys that are empty (or Perl-false "0").
                if let Some(keys) = ssh_public_keys
                    && distro.managed()
                    && super::base::truthy(Some(keys))
                {
                    ssh::set_authorized_keys(&mut setup, "root", keys)?;
                }
            }
            Hook::PostClone => distro.clear_machine_id(&mut setup, true)?,
        }
        distro.setup_init(&mut setup)?;
        distro.setup_network(&mut setup)?;
        distro.set_hostname(&mut setup)?;
        distro.set_dns(&mut setup)?;
        distro.set_timezone(&mut setup)?;
        if distro.managed() {
            ssh::write_host_keys(&setup, &prepared.host_keys)?;
            let systemd = super::base::init_systemd(root);
            if let Some(warning) = super::base::systemd_nesting_warning(systemd, request.conf) {
                setup.warn(warning);
            }
            // corral runs on cgroup v2 alone, where pct gives this warning.
            if request.hook == Hook::PreStart && !super::base::unified_cgroupv2_support(systemd) {
                setup.warn(CGROUP_V2_WARNING);
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(SetupOutcome {
            ostype: distro.ostype().to_string(),
            report: setup.report,
        }),
        Err(error) => Err(SetupFailure::new(error, setup.report)),
    }
}

fn open_root(request: &SetupRequest) -> Result<GuestRoot, SetupFailure> {
    GuestRoot::open(request.rootfs, request.owner).map_err(|source| {
        let error = SetupError::Rootfs {
            path: request.rootfs.to_path_buf(),
            source,
        };
        SetupFailure::new(error, Report::default())
    })
}

/// Run setup in this process, unconfined, drawing from `random`: for tests, and for callers
/// that are already confined.
#[cfg(test)]
pub fn run_unconfined(
    request: &SetupRequest,
    random: &mut dyn RandomSource,
) -> Result<SetupOutcome, SetupFailure> {
    let root = open_root(request)?;
    let prepared = prepare(request, &root)?;
    apply(request, &root, prepared, random)
}

/// Run setup: detection and SSH host key generation first, then the writes confined by
/// Landlock to the rootfs (where the kernel has Landlock) — all on a thread of its own.
///
/// A thread, not a forked child: Landlock and the no-new-privileges bit it needs hold for
/// the calling thread alone, so a thread confines as well as a process, while a fork of a
/// possibly multi-threaded caller (an embedder) could inherit another thread's held lock
/// and hang in the setup code. The thread ends with the setup; nothing of its confinement
/// reaches the caller's threads.
pub fn run(request: &SetupRequest) -> Result<SetupOutcome, SetupFailure> {
    // pct does not even look inside an unmanaged container.
    if request.conf.ostype.as_deref() == Some("unmanaged") {
        return Ok(SetupOutcome {
            ostype: "unmanaged".into(),
            report: Report::default(),
        });
    }
    let failed = |error| SetupFailure::new(error, Report::default());
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("corral-setup".into())
            .spawn_scoped(scope, || {
                let root = open_root(request)?;
                let prepared = prepare(request, &root)?;
                confine(&root).map_err(failed)?;
                apply(request, &root, prepared, &mut OsRandom)
            })
            .map_err(|source| failed(SetupError::Thread { source }))?;
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Hold the calling thread to the rootfs for good. A kernel without Landlock leaves the
/// in-root path resolution as the only guard, which holds by itself.
fn confine(root: &GuestRoot) -> Result<(), SetupError> {
    crate::storage::confine_beneath(root.as_fd(), None)
        .map(|_| ())
        .map_err(|source| SetupError::Confine { source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::random::Drand48;
    use std::fs;

    #[test]
    fn the_setup_process_cannot_write_outside_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        let outside = dir.path().join("outside");
        let root = GuestRoot::open(&rootfs, None).unwrap();
        let outside_c = std::ffi::CString::new(outside.to_str().unwrap()).unwrap();
        // SAFETY: the child only makes raw syscalls and Landlock calls, then _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = match confine(&root) {
                Err(_) => 2,
                Ok(()) => {
                    let inside = root.write("/etc/inside", b"ok", None).is_ok();
                    // SAFETY: a plain open(2) of a NUL-terminated path.
                    let fd = unsafe {
                        libc::open(outside_c.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644)
                    };
                    match (inside, fd < 0) {
                        (true, true) => 0,
                        (false, _) => 3,
                        (true, false) => 4,
                    }
                }
            };
            // SAFETY: leave the forked child at once.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let code = libc::WEXITSTATUS(status);
        // SAFETY: asks the kernel for its Landlock ABI version; no memory is passed.
        let landlock = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<u8>(),
                0,
                1,
            )
        } > 0;
        if landlock {
            assert_eq!(
                code, 0,
                "3: the rootfs refused a write, 4: outside accepted one"
            );
            assert!(!outside.exists());
        } else {
            assert!(code == 0 || code == 4, "{code}");
        }
        assert_eq!(fs::read_to_string(rootfs.join("etc/inside")).unwrap(), "ok");
    }

    /// Guest setup draws its randomness (salts, UUIDs, crontab minutes) on the confined
    /// thread, where Landlock refuses /dev/urandom: a static build, whose getrandom crate
    /// reads that file, failed to create a Debian container.
    #[test]
    fn the_confined_setup_thread_gets_kernel_randomness() {
        use crate::setup::random::{OsRandom, RandomSource};
        let dir = tempfile::tempdir().unwrap();
        let root = GuestRoot::open(dir.path(), None).unwrap();
        let bytes = std::thread::spawn(move || {
            confine(&root).unwrap();
            let mut bytes = [0u8; 32];
            OsRandom.fill(&mut bytes);
            bytes
        })
        .join()
        .expect("randomness on the confined thread");
        assert_ne!(bytes, [0u8; 32]);
    }

    /// Setup is confined on a thread of its own: the calling thread may still write outside
    /// the rootfs afterwards, and has not been given no_new_privs (which Landlock needs).
    #[test]
    fn the_caller_of_a_setup_stays_unconfined() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::write(rootfs.join("etc/debian_version"), "12.5\n").unwrap();
        let conf = GuestConfig {
            ostype: Some("debian".into()),
            hostname: Some("confined".into()),
            ..GuestConfig::default()
        };
        let request = SetupRequest {
            rootfs: &rootfs,
            owner: None,
            conf: &conf,
            host: &HostEnv::default(),
            hook: Hook::PreStart,
        };
        let no_new_privs = || {
            fs::read_to_string("/proc/thread-self/status")
                .unwrap()
                .lines()
                .find(|line| line.starts_with("NoNewPrivs:"))
                .map(str::to_string)
        };
        let before = no_new_privs();
        run(&request).unwrap();
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/hostname")).unwrap(),
            "confined\n"
        );
        assert_eq!(no_new_privs(), before);
        fs::write(
            dir.path().join("outside"),
            "the caller writes where it likes",
        )
        .unwrap();
    }

    #[test]
    fn unmanaged_containers_are_not_looked_at() {
        let dir = tempfile::tempdir().unwrap();
        let conf = GuestConfig {
            ostype: Some("unmanaged".into()),
            hostname: Some("x".into()),
            ..GuestConfig::default()
        };
        let request = SetupRequest {
            rootfs: dir.path(),
            owner: None,
            conf: &conf,
            host: &HostEnv::default(),
            hook: Hook::PreStart,
        };
        assert_eq!(run(&request).unwrap().ostype, "unmanaged");
        let outcome = run_unconfined(&request, &mut Drand48::seeded(0)).unwrap();
        assert_eq!(outcome.ostype, "unmanaged");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
