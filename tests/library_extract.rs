//! Template extraction as a multi-threaded embedder meets it: containers created through
//! `corral::Host` from several threads at once, each extraction running in a fresh exec of
//! this program rather than in a fork of it. Runs as root; CTIDs 9030-9049 are this file's.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestRoot;
use common::ct::Ct;
use corral::{CreateOptions, Event, Host, Observer, Vmid};

/// Member errors a create passes over with `ignore_unpack_errors`: many more warnings than a
/// pipe holds, so the extraction process cannot have ended while its first one is heard (the
/// parent reads no further until the observer returns).
const BROKEN_LINKS: usize = 1000;
const BROKEN_LINK_PREFIX: &str = "broken-link-";

/// A tiny rootfs, followed by hard links to a member that does not exist.
fn template_with_broken_links(path: &Path) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for dir in ["./", "./etc/", "./bin/"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder
            .append_data(&mut header, dir, std::io::empty())
            .unwrap();
    }
    let padding = "x".repeat(60);
    for index in 0..BROKEN_LINKS {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Link);
        header.set_mode(0o644);
        header.set_size(0);
        builder
            .append_link(
                &mut header,
                format!("{BROKEN_LINK_PREFIX}{padding}{index}"),
                "./not/there",
            )
            .unwrap();
    }
    builder.into_inner().unwrap().sync_all().unwrap();
}

/// The command lines of this process's children that run this program.
fn children_running_this_program() -> Vec<String> {
    let ours = std::fs::read_link("/proc/self/exe").unwrap();
    let pid = std::process::id().to_string();
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace() {
            let proc = Path::new("/proc").join(child);
            let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
            let parent = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split(' ').nth(2));
            if parent == Some(pid.as_str())
                && std::fs::read_link(proc.join("exe")).ok() == Some(ours.clone())
            {
                let cmdline = std::fs::read(proc.join("cmdline")).unwrap_or_default();
                found.push(String::from_utf8_lossy(&cmdline).into_owned());
            }
        }
    }
    found
}

#[test]
fn creates_from_several_threads_extract_in_exec_d_processes() {
    let root = TestRoot::new();
    let cache = root.join("var/lib/vz/template/cache");
    std::fs::create_dir_all(&cache).unwrap();
    template_with_broken_links(&cache.join("broken-links_1.0_amd64.tar"));
    let vmids = [9030, 9031, 9032];
    let _guards: Vec<Ct> = vmids.iter().map(|&vmid| Ct { root: &root, vmid }).collect();

    let (done, finished) = mpsc::channel();
    for vmid in vmids {
        let done = done.clone();
        let root_path = root.path().to_path_buf();
        std::thread::spawn(move || {
            // The processes that run this program while the extraction's first warning is
            // heard: the extraction process among them.
            let seen = Arc::new(Mutex::new(None));
            let recorder = Arc::clone(&seen);
            let host = Host::open(&root_path)
                .unwrap()
                .with_observer(Observer::new(move |event| {
                    if let Event::Warning(text) = event
                        && text.contains(BROKEN_LINK_PREFIX)
                    {
                        recorder
                            .lock()
                            .unwrap()
                            .get_or_insert_with(children_running_this_program);
                    }
                }));
            let created = host
                .container(Vmid::new(vmid).unwrap())
                .create(&CreateOptions {
                    template: "local:vztmpl/broken-links_1.0_amd64.tar".into(),
                    options: vec![("rootfs".into(), "local:0".into())],
                    unprivileged: Some(false),
                    ignore_unpack_errors: true,
                    ..CreateOptions::default()
                });
            let seen = seen.lock().unwrap().take();
            let _ = done.send((vmid, created.map_err(|e| e.to_string()), seen));
        });
    }
    drop(done);
    for _ in vmids {
        let (vmid, created, seen) = finished
            .recv_timeout(Duration::from_secs(120))
            .expect("every create finishes");
        created.unwrap_or_else(|e| panic!("create {vmid}: {e}"));
        let seen = seen.unwrap_or_else(|| panic!("{vmid}: no warning of the extraction"));
        assert!(
            seen.iter().any(|cmdline| cmdline == "corral extract\0"),
            "{vmid}: the extraction is an exec of this program, not a fork of it: {seen:?}"
        );
    }
}
