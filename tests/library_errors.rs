//! The library's errors, as an embedder sees them: each refusal and failure comes back as a
//! variant to match (not only a message), with pct's words as its `Display` and the cause
//! underneath as its `source()`. Driven through `corral::Host` on a temporary host root;
//! run as root. CTIDs 9050-9099 are this file's.

mod common;

use std::error::Error as _;

use common::ct::Ct;
use common::{TestRoot, busybox_template};
use corral::runtime::{PlanError, PrlimitError};
use corral::{CreateOptions, Error, Host, StartOptions, StartStep, Vmid};

fn vmid(id: u32) -> Vmid {
    Vmid::new(id).unwrap()
}

fn create_options(template: &str, extra: &[(&str, &str)]) -> CreateOptions {
    let mut options = vec![
        ("rootfs".to_string(), "local:0".to_string()),
        ("hostname".to_string(), "library-errors".to_string()),
    ];
    options.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    CreateOptions {
        template: template.into(),
        options,
        unprivileged: Some(false),
        ..CreateOptions::default()
    }
}

/// A host root with the busybox template, and the host opened on it.
fn host_with_template() -> (TestRoot, Host, String) {
    let root = TestRoot::new();
    let template = root.install_template(&busybox_template());
    let host = Host::open(root.path()).unwrap();
    (root, host, template)
}

#[test]
fn a_missing_container_is_not_found() {
    let (_root, host, _) = host_with_template();
    let ct = host.container(vmid(9050));
    let error = ct.config().unwrap_err();
    assert!(
        matches!(&error, Error::NotFound { vmid, node, .. } if vmid.get() == 9050 && node == host.node()),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "Configuration file 'nodes/{}/lxc/9050.conf' does not exist",
            host.node()
        )
    );
    let error = ct.start(&StartOptions::default()).unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}

#[test]
fn creating_an_existing_container_is_already_exists() {
    let (_root, host, template) = host_with_template();
    let ct = host.container(vmid(9051));
    ct.create(&create_options(&template, &[])).unwrap();
    let error = ct.create(&create_options(&template, &[])).unwrap_err();
    assert!(
        matches!(&error, Error::AlreadyExists { vmid, .. } if vmid.get() == 9051),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("CT 9051 already exists on node '{}'", host.node())
    );
}

#[test]
fn bad_parameters_are_parameters() {
    let (_root, host, template) = host_with_template();
    let ct = host.container(vmid(9056));
    let error = ct
        .create(&create_options(&template, &[("memory", "lots")]))
        .unwrap_err();
    assert!(
        matches!(&error, Error::Parameters(errors) if errors.len() == 1 && errors[0].key == "memory"),
        "{error:?}"
    );
    assert!(!ct.exists());
}

#[test]
fn running_and_stopped_containers_refuse_by_variant() {
    let (root, host, template) = host_with_template();
    let ct = host.container(vmid(9052));
    ct.create(&create_options(&template, &[])).unwrap();
    let _guard = Ct {
        root: &root,
        vmid: 9052,
    };

    let error = ct.stop(false).unwrap_err();
    assert!(
        matches!(&error, Error::NotRunning { vmid, attach: false, .. } if vmid.get() == 9052),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "CT 9052 not running");
    let error = ct.command(["true"]).status().unwrap_err();
    assert!(
        matches!(error, Error::NotRunning { attach: true, .. }),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "container '9052' not running!");

    // Started by the binary, so that this multi-threaded test process forks no monitor.
    root.pct_ok(&["start", "9052"]);
    let error = ct.start(&StartOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::AlreadyRunning { vmid, .. } if vmid.get() == 9052),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "CT 9052 already running");
    let error = ct.destroy(Default::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "unable to destroy CT 9052 - container is running"
    );
    assert!(
        matches!(error.root_cause(), Error::Running { vmid, .. } if vmid.get() == 9052),
        "{error:?}"
    );
    ct.stop(false).unwrap();
}

#[test]
fn a_locked_container_is_locked_with_the_lock_name() {
    let (_root, host, template) = host_with_template();
    let ct = host.container(vmid(9053));
    ct.create(&create_options(&template, &[])).unwrap();
    ct.set_lock("backup").unwrap();
    let error = ct.start(&StartOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::Locked { vmid, lock, .. } if vmid.get() == 9053 && lock == "backup"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "CT is locked (backup)");
    let error = ct.destroy(Default::default()).unwrap_err();
    assert!(matches!(error, Error::Locked { .. }), "{error:?}");
}

#[test]
fn a_protected_container_is_protected() {
    let (_root, host, template) = host_with_template();
    let ct = host.container(vmid(9054));
    ct.create(&create_options(&template, &[("protection", "1")]))
        .unwrap();
    let error = ct.destroy(Default::default()).unwrap_err();
    assert!(
        matches!(&error, Error::Protected { vmid, restore: false, .. } if vmid.get() == 9054),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "can't remove CT 9054 - protection mode enabled"
    );
    assert!(ct.exists());

    // Overwriting it is refused inside the create task: pct's prefix, and underneath it
    // the same refusal, reachable by `root_cause` and by `source()`.
    let forced = CreateOptions {
        force: true,
        ..create_options(&template, &[])
    };
    let error = ct.create(&forced).unwrap_err();
    assert_eq!(
        error.to_string(),
        "unable to create CT 9054 - unable to restore CT 9054 - protection mode enabled"
    );
    assert!(matches!(error, Error::Context { .. }), "{error:?}");
    assert!(
        matches!(error.root_cause(), Error::Protected { restore: true, .. }),
        "{error:?}"
    );
    let inner = error.source().and_then(|e| e.downcast_ref::<Error>());
    assert!(matches!(inner, Some(Error::Protected { .. })), "{error:?}");
}

#[test]
fn a_start_that_fails_names_its_step_and_cause() {
    let (root, host, template) = host_with_template();
    let ct = host.container(vmid(9055));
    ct.create(&create_options(&template, &[])).unwrap();
    let guard = Ct {
        root: &root,
        vmid: 9055,
    };
    root.append_config(9055, "lxc.init.cmd: /no/such/init\n");

    let error = ct.start(&StartOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::Start { vmid, step: StartStep::Exec, .. } if vmid.get() == 9055),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "unable to exec init '/no/such/init': No such file or directory (os error 2)\n\
         startup for container '9055' failed"
    );
    // The chain: the failed step (its own text), then the operating-system error, which
    // came back from init's child through the monitor as its errno.
    let step = error.source().expect("the failed step");
    assert_eq!(
        step.to_string(),
        "unable to exec init '/no/such/init': No such file or directory (os error 2)"
    );
    let os = step
        .source()
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .expect("the operating-system error");
    assert_eq!(os.raw_os_error(), Some(libc::ENOENT));
    assert!(!ct.is_running());
    guard.assert_nothing_left();
}

/// The plan's typed fields are checked when it is built: a bad resource limit fails the
/// start (and `start_plan`) at the plan step, before a monitor or a child exists.
#[test]
fn a_bad_prlimit_fails_at_the_plan_step() {
    let (root, host, template) = host_with_template();
    let ct = host.container(vmid(9058));
    ct.create(&create_options(&template, &[])).unwrap();
    let guard = Ct {
        root: &root,
        vmid: 9058,
    };
    root.append_config(9058, "lxc.prlimit.bogus: 5\n");

    for error in [
        ct.start_plan().unwrap_err(),
        ct.start(&StartOptions::default()).unwrap_err(),
    ] {
        assert!(
            matches!(&error, Error::Start { vmid, step: StartStep::Plan, .. } if vmid.get() == 9058),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "lxc.prlimit.bogus: unknown resource");
        // Under the step's error, the plan's, and under that the limit's own.
        let plan = error
            .source()
            .and_then(|step| step.source())
            .and_then(|plan| plan.downcast_ref::<PlanError>());
        let Some(PlanError::Prlimit(PrlimitError::UnknownResource { name, .. })) = plan else {
            panic!("{plan:?}");
        };
        assert_eq!(name, "bogus");
    }
    assert!(!ct.is_running());
    guard.assert_nothing_left();
}

#[test]
fn a_start_whose_rootfs_is_gone_fails_at_the_mount_step() {
    let (root, host, template) = host_with_template();
    let ct = host.container(vmid(9057));
    let config = ct.create(&create_options(&template, &[])).unwrap();
    let guard = Ct {
        root: &root,
        vmid: 9057,
    };
    assert!(
        config
            .main
            .get("rootfs")
            .unwrap()
            .starts_with("local:9057/subvol-")
    );
    let volume = root.join("var/lib/vz/images/9057/subvol-9057-disk-0.subvol");
    std::fs::remove_dir_all(&volume).unwrap();

    let error = ct.start(&StartOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::Start { vmid, step: StartStep::Mount, .. } if vmid.get() == 9057),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "unable to mount rootfs (local:9057/subvol-9057-disk-0.subvol): unable to bind \
             mount '{0}': directory '{0}' does not exist\nstartup for container '9057' failed",
            volume.display()
        )
    );
    // pct's words for the missing directory, and the errno they stand for underneath.
    let os = error
        .source()
        .and_then(|step| step.source())
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .expect("the operating-system error");
    assert_eq!(os.kind(), std::io::ErrorKind::NotFound);
    guard.assert_nothing_left();
}
