//! Hostile input to the `pct` binary (run as root): arguments and environment that are not
//! UTF-8, numbers past pct's ranges, configs with bytes that are not UTF-8 or with huge and
//! garbage lines. Nothing panics; text values fail with pct-style messages; paths, commands
//! and descriptions pass through byte for byte; messages never copy raw bytes to the terminal.
//!
//! CTIDs 9301..9349 are this file's (cgroups are global).

mod common;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestRoot, busybox_template, pct_binary};

/// A byte that is never UTF-8 on its own.
const BAD: &[u8] = b"\xff";

fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// Run `pct` under `root` with byte-string arguments and extra environment; returns
/// (exit code, stdout, stderr) with the raw bytes of both streams.
fn pct_bytes(root: &Path, args: &[OsString], env: &[(&str, OsString)]) -> (i32, Vec<u8>, Vec<u8>) {
    let output = Command::new(pct_binary())
        .args(args)
        .env("CORRAL_ROOT", root)
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .expect("run pct");
    (
        output.status.code().unwrap_or(-1),
        output.stdout,
        output.stderr,
    )
}

fn words(args: &[&[u8]]) -> Vec<OsString> {
    args.iter().map(|a| os(a)).collect()
}

/// The subcommands `pct help` lists, so that a new one is covered without editing this file.
fn subcommands(root: &TestRoot) -> Vec<String> {
    let overview = root.pct_ok(&["help"]);
    let names: Vec<String> = overview
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pct "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(
        names.len() > 20,
        "pct help lists too few commands:\n{overview}"
    );
    names
}

/// The long options `pct help <command>` shows (`--name`), without `--help`.
fn options(root: &TestRoot, command: &str) -> Vec<String> {
    let help = root.pct_ok(&["help", command]);
    let mut found: Vec<String> = help
        .lines()
        .map(str::trim_start)
        .filter_map(|line| {
            let line = line.strip_prefix('-').map_or(line, |_| {
                // `-v, --verbose` or `--verbose`
                line.split_once(", ").map_or(line, |(_, long)| long)
            });
            let name = line.strip_prefix("--")?;
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(name.len());
            Some(name[..end].to_string())
        })
        .filter(|name| !name.is_empty() && name != "help")
        .collect();
    found.dedup();
    found
}

/// What every run with a bad byte must show: a failure (no container exists here), no panic,
/// a message, and no raw byte that is not UTF-8 nor U+FFFD in place of one.
fn assert_refused_cleanly(args: &[OsString], code: i32, stderr: &[u8]) {
    let text = String::from_utf8(stderr.to_vec())
        .unwrap_or_else(|_| panic!("{args:?}: raw bytes on stderr: {stderr:?}"));
    assert!(!text.contains("panicked"), "{args:?} panicked:\n{text}");
    assert_eq!(code, 255, "{args:?} exited {code}:\n{text}");
    assert!(!text.trim().is_empty(), "{args:?}: no message");
    assert!(
        !text.contains('\u{fffd}'),
        "{args:?}: lossy message:\n{text}"
    );
}

#[test]
fn every_subcommand_handles_arguments_that_are_not_utf8() {
    let root = TestRoot::new();
    let utf8_refusal = "value is not valid UTF-8 - got '\\xff'";
    // Arguments that are byte strings: a path, or the command `pct exec` runs.
    let byte_string_options = ["ssh-public-keys"];
    let mut runs = 0;
    for command in subcommands(&root) {
        let name = command.as_bytes();
        // First and second position: a vmid (text) for most, the extra words of `help`,
        // or nothing at all (`list`, `cpusets`, ...).
        for args in [words(&[name, BAD]), words(&[name, b"9349", BAD])] {
            let (code, _, stderr) = pct_bytes(root.path(), &args, &[]);
            assert_refused_cleanly(&args, code, &stderr);
            runs += 1;
            let text = String::from_utf8_lossy(&stderr);
            let second = args.len() == 3;
            match (command.as_str(), second) {
                // The command exec runs, and the template path, reach their use unchanged:
                // here that is "no such container" or "no such file", with the bytes escaped.
                ("exec", true) => assert!(
                    text.contains("container '9349' not running!"),
                    "{args:?}: {text}"
                ),
                ("create", true) => {
                    assert!(text.contains("can't find file '\\xff'"), "{args:?}: {text}")
                }
                _ => assert!(
                    text.contains(utf8_refusal)
                        || text.contains("400 too many arguments")
                        || text.contains("ERROR: unknown command"),
                    "{args:?}: {text}"
                ),
            }
        }
        for option in options(&root, &command) {
            let flag = format!("--{option}");
            let joined = [flag.as_bytes(), b"=", BAD].concat();
            for args in [
                words(&[name, b"9349", flag.as_bytes(), BAD]),
                words(&[name, b"9349", &joined]),
            ] {
                let (code, _, stderr) = pct_bytes(root.path(), &args, &[]);
                assert_refused_cleanly(&args, code, &stderr);
                runs += 1;
                let text = String::from_utf8_lossy(&stderr);
                if byte_string_options.contains(&option.as_str()) {
                    assert!(!text.contains(utf8_refusal), "{args:?}: {text}");
                } else {
                    assert!(
                        text.contains(&format!("{option}: {utf8_refusal}"))
                            // `list 9349 --x` and the like fail on the extra word first.
                            || text.contains("400 too many arguments"),
                        "{args:?}: {text}"
                    );
                }
            }
        }
    }
    assert!(runs > 100, "only {runs} runs");

    // A vmid must be text; the message is pct's parameter error with the bytes escaped.
    let args = words(&[b"status", b"caf\xe9"]);
    let (_, _, stderr) = pct_bytes(root.path(), &args, &[]);
    assert_eq!(
        String::from_utf8(stderr).unwrap(),
        "400 Parameter verification failed.\nvmid: value is not valid UTF-8 - got 'caf\\xe9'\npct status <vmid> [OPTIONS]\n"
    );
    // An unknown option is named as given, escaped.
    let args = words(&[b"stop", b"9349", b"--caf\xe9"]);
    let (_, _, stderr) = pct_bytes(root.path(), &args, &[]);
    assert!(
        String::from_utf8(stderr)
            .unwrap()
            .starts_with("Unknown option: caf\\xe9\n400 unable to parse option\n")
    );
}

#[test]
fn a_host_root_that_is_not_utf8_is_a_path() {
    let root = TestRoot::new();
    let odd = root.path().join(OsStr::from_bytes(b"host-caf\xe9"));
    fs::create_dir_all(odd.join("etc/pve/lxc")).unwrap();
    fs::write(
        odd.join("etc/pve/lxc/9348.conf"),
        "hostname: odd\nmemory: 512\n",
    )
    .unwrap();
    let args = vec![os(b"--root"), odd.clone().into_os_string(), os(b"list")];
    let (code, stdout, stderr) = pct_bytes(Path::new("/nonexistent"), &args, &[]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(
        stdout.contains("9348") && stdout.contains("odd"),
        "{stdout}"
    );
    // Through CORRAL_ROOT too.
    let (code, stdout, _) = pct_bytes(&odd, &words(&[b"config", b"9348"]), &[]);
    assert_eq!(code, 0);
    assert!(String::from_utf8(stdout).unwrap().contains("hostname: odd"));
}

#[test]
fn memory_past_what_bytes_can_hold_is_refused_not_wrapped() {
    let root = TestRoot::new();
    let config =
        "arch: amd64\nmemory: 512\nostype: debian\nrootfs: local:9347/subvol-9347-disk-0.subvol\n";
    root.write("etc/pve/lxc/9347.conf", config);
    // 2^44 MiB is 2^64 bytes: memory.max used to become 0.
    let (code, _, stderr) = root.pct(&["set", "9347", "--memory", "17592186044416"]);
    assert_eq!(code, 255);
    assert!(
        stderr.starts_with(
            "400 Parameter verification failed.\nmemory: value must have a maximum value of 17592186044415\n"
        ),
        "{stderr}"
    );
    for (option, value, message) in [
        (
            "--swap",
            "17592186044416",
            "swap: value must have a maximum value of 17592186044415",
        ),
        (
            "--cores",
            "8193",
            "cores: value must have a maximum value of 8192",
        ),
        (
            "--cpulimit",
            "8192.5",
            "cpulimit: value must have a maximum value of 8192",
        ),
        (
            "--cpuunits",
            "500001",
            "cpuunits: value must have a maximum value of 500000",
        ),
        (
            "--mp0",
            "local:99999999999,mp=/big",
            "mp0: disk size '99999999999' GiB is too large",
        ),
    ] {
        let (code, _, stderr) = root.pct(&["set", "9347", option, value]);
        assert_eq!(code, 255, "{option} {value}");
        assert!(stderr.contains(message), "{option} {value}: {stderr}");
    }
    let (code, _, stderr) = root.pct(&["set", "9347", "--mp0", "local:-1,mp=/x"]);
    assert_eq!(code, 255);
    assert!(
        stderr.contains("unable to parse directory volume name '-1'"),
        "{stderr}"
    );
    assert_eq!(
        root.read("etc/pve/lxc/9347.conf"),
        config,
        "nothing written"
    );
    assert!(
        !root.join("var/lib/vz/images/9347").exists(),
        "nothing allocated"
    );

    // A hand-edited value is kept by the file parser, as pct's is, but never becomes a limit.
    root.write(
        "etc/pve/lxc/9347.conf",
        &config.replace("memory: 512", "memory: 17592186044416"),
    );
    let (code, stdout, stderr) = root.pct(&["start", "9347", "--dry-run"]);
    assert_eq!(code, 255, "{stdout}");
    assert!(
        stderr.contains("memory: value must have a maximum value of 17592186044415"),
        "{stderr}"
    );
}

/// Stops the container and removes its cgroup when the test ends, however it ends.
struct Running<'a> {
    root: &'a TestRoot,
    vmid: u32,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        common::ct::force_cleanup(self.root, self.vmid);
    }
}

fn wait_for_status(root: &TestRoot, vmid: &str, wanted: &str) {
    let start = Instant::now();
    loop {
        let status = root.pct_ok(&["status", vmid]);
        if status.trim() == format!("status: {wanted}") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "CT {vmid}: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A busybox container made from a template whose path is not UTF-8 (the template argument
/// is a path, passed through as bytes).
fn create_busybox(root: &TestRoot, vmid: u32) {
    let cache = root.join("var/lib/vz/template/cache");
    fs::create_dir_all(&cache).unwrap();
    let odd_name = OsStr::from_bytes(b"busybox-caf\xe9.tar.gz");
    fs::copy(busybox_template(), cache.join(odd_name)).unwrap();
    let template = [
        b"/var/lib/vz/template/cache/".as_slice(),
        odd_name.as_bytes(),
    ]
    .concat();
    let id = vmid.to_string();
    let args = words(&[
        b"create",
        id.as_bytes(),
        &template,
        b"--rootfs",
        b"local:0",
        b"--unprivileged",
        b"0",
        b"--hostname",
        b"bytes",
    ]);
    let (code, stdout, stderr) = pct_bytes(root.path(), &args, &[]);
    assert_eq!(
        code,
        0,
        "create: {}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
}

fn exec_bytes(root: &TestRoot, vmid: &str, args: &[&[u8]], env: &[(&str, OsString)]) -> Vec<u8> {
    let mut all: Vec<&[u8]> = vec![b"exec", vmid.as_bytes()];
    all.extend_from_slice(args);
    let args = words(&all);
    let (code, stdout, stderr) = pct_bytes(root.path(), &args, env);
    assert_eq!(code, 0, "{args:?}: {}", String::from_utf8_lossy(&stderr));
    stdout
}

#[test]
fn exec_passes_arguments_and_environment_byte_for_byte() {
    let root = TestRoot::new();
    let vmid = 9301;
    let id = vmid.to_string();
    create_busybox(&root, vmid);
    let _running = Running { root: &root, vmid };
    root.pct_ok(&["start", &id]);
    wait_for_status(&root, &id, "running");

    // An argument with a Latin-1 byte reaches execve unchanged.
    let stdout = exec_bytes(
        &root,
        &id,
        &[
            b"--",
            b"sh",
            b"-c",
            b"printf %s \"$1\" | od -An -tx1",
            b"sh",
            b"caf\xe9",
        ],
        &[],
    );
    assert_eq!(String::from_utf8(stdout).unwrap().trim(), "63 61 66 e9");
    // A file name: made with one command, listed by another.
    exec_bytes(&root, &id, &[b"--", b"touch", b"/tmp/caf\xe9"], &[]);
    let stdout = exec_bytes(
        &root,
        &id,
        &[
            b"--",
            b"sh",
            b"-c",
            b"for f in /tmp/caf*; do printf %s \"$f\"; done | od -An -tx1 | tr -d '\\n'",
        ],
        &[],
    );
    assert_eq!(
        String::from_utf8(stdout).unwrap().trim(),
        "2f 74 6d 70 2f 63 61 66 e9",
        "file name changed"
    );
    // --keep-env with a variable that is not UTF-8 (pct used to panic on it).
    let stdout = exec_bytes(
        &root,
        &id,
        &[
            b"--keep-env",
            b"--",
            b"sh",
            b"-c",
            b"printf %s \"$ODD\" | od -An -tx1",
        ],
        &[("ODD", os(b"\xe9\xff"))],
    );
    assert_eq!(String::from_utf8(stdout).unwrap().trim(), "e9 ff");
}

#[test]
fn a_description_that_is_not_utf8_keeps_the_container_managed() {
    let root = TestRoot::new();
    let vmid = 9302;
    let id = vmid.to_string();
    create_busybox(&root, vmid);
    let _running = Running { root: &root, vmid };
    let path = root.join(&format!("etc/pve/lxc/{id}.conf"));
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"description: caf\xe9\n")
        .unwrap();

    let listed = root.pct_ok(&["list"]);
    assert!(listed.contains(&id) && listed.contains("bytes"), "{listed}");
    root.pct_ok(&["start", &id]);
    wait_for_status(&root, &id, "running");
    let listed = root.pct_ok(&["list"]);
    let row = listed
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_default();
    assert!(row.contains("running"), "{listed}");

    // Another key set: the description is written back with the same bytes.
    root.pct_ok(&["set", &id, "--onboot", "1"]);
    let raw = fs::read(&path).unwrap();
    assert!(
        raw.starts_with(b"#caf%E9\n"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert!(raw.windows(10).any(|w| w == b"onboot: 1\n"));
    assert!(
        root.pct_ok(&["config", &id])
            .contains("description: caf%E9")
    );

    root.pct_ok(&["stop", &id]);
    wait_for_status(&root, &id, "stopped");
    root.pct_ok(&["start", &id]);
    wait_for_status(&root, &id, "running");
    root.pct_ok(&["stopall", "--timeout", "5"]);
    wait_for_status(&root, &id, "stopped");
}

#[test]
fn long_and_garbage_config_lines_are_cut_and_escaped() {
    let root = TestRoot::new();
    let mut config =
        b"arch: amd64\nmemory: 512\nostype: debian\nrootfs: local:9346/subvol-9346-disk-0.subvol\n"
            .to_vec();
    config.extend(std::iter::repeat_n(b'x', 10 << 20));
    config.extend(b"\x1b]0;owned\x07\n");
    config.extend(b"hostname: caf\xe9\x1b[2J\n");
    root.write("etc/pve/lxc/9346.conf", "");
    fs::write(root.join("etc/pve/lxc/9346.conf"), &config).unwrap();

    let args = words(&[b"config", b"9346"]);
    let (code, stdout, stderr) = pct_bytes(root.path(), &args, &[]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    assert!(String::from_utf8(stdout).unwrap().contains("memory: 512"));
    let stderr = String::from_utf8(stderr).expect("messages are UTF-8");
    let lines: Vec<&str> = stderr.lines().collect();
    let prefix = "vm 9346 - unable to parse config: ";
    assert_eq!(
        lines,
        [
            format!("{prefix}{}...", "x".repeat(256 - prefix.len())).as_str(),
            "vm 9346 - unable to parse config: hostname: caf\\xe9\\x1b[2J",
        ],
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'));
    // Still listed, with the warnings.
    let (code, stdout, stderr) = pct_bytes(root.path(), &words(&[b"list"]), &[]);
    assert_eq!(code, 0);
    assert!(String::from_utf8(stdout).unwrap().contains("9346"));
    assert!(stderr.len() < 1000, "{} bytes of warnings", stderr.len());
}
