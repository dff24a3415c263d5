//! The library's errors, as an embedder sees them: each refusal and failure comes back as a
//! variant to match (not only a message), with pct's words as its `Display` and the cause
//! underneath as its `source()`. Driven through `corral::Host` on a temporary host root;
//! run as root. CTIDs 9050-9099 and 10440-10479 are this file's.

mod common;

use std::error::Error as _;

use common::ct::Ct;
use common::{TestRoot, busybox_template};
use corral::config::SetRequest;
use corral::host::RequestError;
use corral::runtime::{PlanError, PrlimitError};
use corral::{
    CreateOptions, DiskSize, Error, Host, MoveProblem, MoveTarget, MoveVolumeOptions,
    ResizeProblem, StartOptions, StartStep, Vmid,
};

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

// The host's refusals, by variant (CTIDs 10440-10459).

#[test]
fn a_lock_file_that_cannot_be_opened_is_a_lock_file_error() {
    let (root, host, template) = host_with_template();
    let ct = host.container(vmid(10440));
    ct.create(&create_options(&template, &[])).unwrap();
    // A directory where the lock file belongs: opening it for appending fails.
    let lock = root.join("run/lock/lxc/pve-config-10440.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();

    let error = ct.set_lock("backup").unwrap_err();
    assert!(
        matches!(&error, Error::LockFile { path, acquire: false, .. } if *path == lock),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "can't open file - Is a directory (os error 21)"
    );
    let os = error
        .source()
        .and_then(|e| e.downcast_ref::<std::io::Error>());
    assert_eq!(os.and_then(|e| e.raw_os_error()), Some(libc::EISDIR));
    // Inside create's task the same error is under pct's prefix.
    let forced = CreateOptions {
        force: true,
        ..create_options(&template, &[])
    };
    let error = ct.create(&forced).unwrap_err();
    assert_eq!(
        error.to_string(),
        "unable to create CT 10440 - can't open file - Is a directory (os error 21)"
    );
    assert!(
        matches!(error.root_cause(), Error::LockFile { .. }),
        "{error:?}"
    );
    assert!(ct.config().unwrap().main.lock().is_none());
}

#[test]
fn a_forced_create_over_a_running_container_is_running() {
    let (root, host, template) = host_with_template();
    let ct = host.container(vmid(10441));
    ct.create(&create_options(&template, &[])).unwrap();
    let _guard = Ct {
        root: &root,
        vmid: 10441,
    };
    // Started by the binary, so that this multi-threaded test process forks no monitor.
    root.pct_ok(&["start", "10441"]);
    let forced = CreateOptions {
        force: true,
        ..create_options(&template, &[])
    };
    let error = ct.create(&forced).unwrap_err();
    assert_eq!(
        error.to_string(),
        "unable to create CT 10441 - can't overwrite running container"
    );
    assert!(
        matches!(error.root_cause(), Error::Running { vmid, overwrite: true, .. } if vmid.get() == 10441),
        "{error:?}"
    );
    assert!(ct.is_running());
    ct.stop(false).unwrap();
}

#[test]
fn a_change_against_an_old_digest_is_config_changed() {
    let (_root, host, template) = host_with_template();
    let ct = host.container(vmid(10442));
    ct.create(&create_options(&template, &[])).unwrap();
    let (_, digest) = ct.config_and_digest().unwrap();
    let request = |value: &str| SetRequest {
        set: vec![("memory".into(), value.into())],
        ..SetRequest::default()
    };
    ct.set(&request("256"), Some(&digest)).unwrap();

    let error = ct.set(&request("384"), Some(&digest)).unwrap_err();
    assert!(
        matches!(&error, Error::ConfigChanged { vmid, .. } if vmid.get() == 10442),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "detected modified configuration - file changed by other user? Try again."
    );
    assert_eq!(ct.config().unwrap().main.get("memory"), Some("256"));
    // Nothing asked for at all.
    let error = ct.set(&SetRequest::default(), None).unwrap_err();
    assert!(
        matches!(error, Error::Request(RequestError::NoOptions)),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "no options specified");
}

#[test]
fn a_bad_idmap_line_in_host_conf_refuses_only_the_starts_that_write_id_maps() {
    let (root, _, template) = host_with_template();
    root.write("etc/corral/host.conf", "# id maps\nidmap: direkt\n");
    // Opening the host, listing, creating: none of them depend on the setting.
    let mut host = Host::open(root.path()).unwrap();
    let unprivileged = host.container(vmid(10443));
    unprivileged
        .create(&CreateOptions {
            unprivileged: Some(true),
            ..create_options(&template, &[])
        })
        .unwrap();
    let privileged = host.container(vmid(10444));
    privileged.create(&create_options(&template, &[])).unwrap();
    assert_eq!(host.vmids().unwrap().len(), 2);
    privileged.start_plan().unwrap();

    let conf = root.join("etc/corral/host.conf");
    for error in [
        host.id_map_tool().unwrap_err(),
        unprivileged.start_plan().unwrap_err(),
        unprivileged.start(&StartOptions::default()).unwrap_err(),
    ] {
        assert!(
            matches!(&error, Error::HostConfig { path, line: 2, .. } if *path == conf),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "{}, line 2: idmap: invalid value 'direkt' (auto, newuidmap or direct)",
                conf.display()
            )
        );
    }
    assert!(!unprivileged.is_running());
    // An embedder's own choice stands over the file.
    host.set_id_map_tool(corral::IdMapTool::Direct);
    host.container(vmid(10443)).start_plan().unwrap();
}

#[test]
fn volumes_destroy_cannot_free_are_named_each_with_its_error() {
    let (root, host, template) = host_with_template();
    let ct = host.container(vmid(10445));
    ct.create(&create_options(&template, &[])).unwrap();
    // An unused image that is a directory: removing it as a file fails.
    let stray = root.join("var/lib/vz/images/10445/vm-10445-disk-1.raw");
    std::fs::create_dir_all(&stray).unwrap();
    root.append_config(10445, "unused0: local:10445/vm-10445-disk-1.raw\n");

    let error = ct.destroy(Default::default()).unwrap_err();
    let Error::VolumesNotFreed { vmid, volumes, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(vmid.get(), 10445);
    assert_eq!(volumes.len(), 1, "{error:?}");
    assert_eq!(
        volumes[0].volume.to_string(),
        "local:10445/vm-10445-disk-1.raw"
    );
    let os = volumes[0]
        .error
        .source()
        .and_then(|e| e.downcast_ref::<std::io::Error>());
    assert_eq!(os.and_then(|e| e.raw_os_error()), Some(libc::EISDIR));
    assert_eq!(
        error.to_string(),
        format!(
            "unable to free volume 'local:10445/vm-10445-disk-1.raw' - unable to free volume \
             'local:10445/vm-10445-disk-1.raw' ('{}'): Is a directory (os error 21)",
            stray.display()
        )
    );
    // The config stays, locked, to name what is left.
    assert_eq!(ct.config().unwrap().main.lock(), Some("destroyed"));
    std::fs::remove_dir(&stray).unwrap();
    ct.unlock().unwrap();
    ct.destroy(Default::default()).unwrap();
    assert!(!ct.exists());
}

#[test]
fn resize_refusals_are_resize_errors_and_change_nothing() {
    let (root, host, template) = host_with_template();
    let ct = host.container(vmid(10470));
    let mut options = create_options(&template, &[]);
    // A raw image of 1 GiB, which has a size to refuse.
    options.options[0].1 = "local:1".into();
    ct.create(&options).unwrap();
    let image = root.join("var/lib/vz/images/10470/vm-10470-disk-0.raw");
    let config_before = ct.config_and_digest().unwrap().1;
    const GIB: u64 = 1 << 30;

    let error = ct
        .resize("rootfs", DiskSize::Absolute(GIB / 2), None)
        .unwrap_err();
    assert!(
        matches!(&error, Error::Resize { disk, problem: ResizeProblem::Shrink, .. } if disk == "rootfs"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "unable to shrink disk size");

    let error = ct.resize("rootfs", DiskSize::Grow(0), None).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Resize {
                problem: ResizeProblem::SameSize,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "disk is already at specified size");

    let error = ct.resize("mp3", DiskSize::Grow(GIB), None).unwrap_err();
    assert!(
        matches!(&error, Error::Resize { disk, problem: ResizeProblem::NotConfigured, .. } if disk == "mp3"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "format error\nvolume: property is missing and it is not optional"
    );

    let error = ct
        .resize("rootfs", DiskSize::Grow(GIB), Some("0123456789abcdef"))
        .unwrap_err();
    assert!(
        matches!(&error, Error::ConfigChanged { vmid, .. } if vmid.get() == 10470),
        "{error:?}"
    );

    assert_eq!(std::fs::metadata(&image).unwrap().len(), GIB);
    assert_eq!(ct.config_and_digest().unwrap().1, config_before);
}

#[test]
fn move_volume_refusals_are_move_volume_errors() {
    let (_root, host, template) = host_with_template();
    let source = host.container(vmid(10471));
    let target = host.container(vmid(10472));
    let with_mp0 = [("mp0", "local:0,mp=/data")];
    source
        .create(&create_options(&template, &with_mp0))
        .unwrap();
    target.create(&create_options(&template, &[])).unwrap();
    let to = |vmid_: u32, key: Option<&str>| MoveTarget::Container {
        vmid: vmid(vmid_),
        key: key.map(str::to_string),
    };
    let options = MoveVolumeOptions::default();

    let error = MoveTarget::from_args(Some("local"), Some(vmid(10472)), None).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::MoveVolume {
                problem: MoveProblem::StorageAndTargetVmid,
                ..
            }
        ),
        "{error:?}"
    );

    let error = source
        .move_volume("rootfs", &to(10472, None), &options)
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::MoveVolume {
                problem: MoveProblem::Rootfs,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "Cannot move to/from 'rootfs'");

    let error = source
        .move_volume("mp0", &to(10479, None), &options)
        .unwrap_err();
    assert!(
        matches!(&error, Error::MoveVolume { problem: MoveProblem::NoContainer { vmid }, .. } if vmid.get() == 10479),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "could not find CT 10479");

    let error = source
        .move_volume("mp4", &to(10472, None), &options)
        .unwrap_err();
    assert!(
        matches!(&error, Error::MoveVolume { problem: MoveProblem::NoVolume { key, vmid }, .. } if key == "mp4" && vmid.get() == 10471),
        "{error:?}"
    );

    // The target's digest: pct names the container before the message.
    let stale = MoveVolumeOptions {
        target_digest: Some("0123".into()),
        ..MoveVolumeOptions::default()
    };
    let error = source
        .move_volume("mp0", &to(10472, Some("mp1")), &stale)
        .unwrap_err();
    assert!(
        matches!(error.root_cause(), Error::ConfigChanged { vmid, .. } if vmid.get() == 10472),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "Container 10472: detected modified configuration - file changed by other user? Try again."
    );
    assert!(source.config().unwrap().main.get("mp0").is_some());
    assert!(target.config().unwrap().main.get("mp1").is_none());
}

// The volume tools' refusals, by variant (CTIDs 10460-10469).

#[test]
fn push_pull_and_fsck_refuse_by_variant() {
    use corral::host::{
        FileOptions, FsckOptions, FsckProblem, IdKind, TransferDirection, TransferError,
    };
    let (root, host, template) = host_with_template();
    let ct = host.container(vmid(10460));
    ct.create(&create_options(&template, &[])).unwrap();
    let _guard = Ct {
        root: &root,
        vmid: 10460,
    };
    let source = root.join("source.txt");
    std::fs::write(&source, "data\n").unwrap();
    let options = FileOptions::default();

    // Stopped: the copies need it running, and pct says so in each's words.
    let error = ct.push(&source, "/root/x", &options).unwrap_err();
    assert!(
        matches!(&error, Error::NotRunning { vmid, transfer: Some(TransferDirection::Push), .. } if vmid.get() == 10460),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "can only push files to a running CT");
    // A mode that is none is refused before anything else.
    let bad_mode = FileOptions {
        perms: Some("9".into()),
        ..FileOptions::default()
    };
    let error = ct.push(&source, "/root/x", &bad_mode).unwrap_err();
    assert!(
        matches!(&error, Error::Request(RequestError::InvalidMode { perms, .. }) if perms == "09"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "invalid mode: '09'");
    // A host user that does not exist, for pull.
    let nobody = FileOptions {
        user: Some("no-such-user-10460".into()),
        ..FileOptions::default()
    };
    let error = ct
        .pull("/etc/hostname", &root.join("pulled"), &nobody)
        .unwrap_err();
    assert!(
        matches!(&error, Error::Transfer(TransferError::UnknownId { kind: IdKind::User, name, .. }) if name == "no-such-user-10460"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "failed to get uid for: no-such-user-10460"
    );

    // fsck: a mount point the config lacks, and a subvolume with no file system of its own.
    let fsck = |device: &str| FsckOptions {
        device: Some(device.into()),
        force: false,
    };
    let error = ct.fsck(&fsck("mp3")).unwrap_err();
    assert!(
        matches!(&error, Error::Fsck { device, problem: FsckProblem::NoMountPoint, .. } if device == "mp3"),
        "{error:?}"
    );
    let error = ct.fsck(&fsck("rootfs")).unwrap_err();
    assert!(
        matches!(&error, Error::Fsck { problem: FsckProblem::Format { format, .. }, .. } if format == "subvol"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "unable to run fsck for 'local:10460/subvol-10460-disk-0.subvol' (format == subvol)"
    );

    // Started by the binary, so that this multi-threaded test process forks no monitor.
    root.pct_ok(&["start", "10460"]);
    let error = ct.fsck(&fsck("rootfs")).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Fsck {
                problem: FsckProblem::Running,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "cannot run fsck when container is running"
    );
    // The push process looks the name up in the container and answers with the variant.
    let error = ct
        .push(
            &source,
            "/root/x",
            &FileOptions {
                group: Some("no-such-group".into()),
                ..FileOptions::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&error, Error::Transfer(TransferError::UnknownId { kind: IdKind::Group, name, .. }) if name == "no-such-group"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "failed to get gid for: no-such-group");
    ct.stop(false).unwrap();
}
