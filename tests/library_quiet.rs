//! The library prints nothing: a child process drives create, start, stop and destroy
//! through the API with its stdout and stderr captured, and both stay empty, while the
//! events its observer heard are, line for line, what `pct` prints for the same steps of
//! another container. Runs without the test harness (see Cargo.toml), whose own lines
//! would fill the child's stdout.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestRoot, busybox_template, ct::force_cleanup};
use corral::host::DestroyOptions;
use corral::{CreateOptions, Event, Host, Observer, StartOptions, Vmid};

const CHILD_ROOT: &str = "CORRAL_QUIET_TEST_ROOT";
const CHILD_TEMPLATE: &str = "CORRAL_QUIET_TEST_TEMPLATE";
const CHILD_EVENTS: &str = "CORRAL_QUIET_TEST_EVENTS";
const LIBRARY_CT: u32 = 9000;
const PCT_CT: u32 = 9001;

/// The options both containers are created with: an `unused0` (ignored with a warning),
/// `features: mknod=1` on a privileged container (a warning of every start), and a
/// hookscript that fails before the stop (a warning of the stop) and after it (in the
/// monitor, which has no caller left to tell: it goes to the container's log).
const UNUSED: &str = "local:9000/vm-9000-disk-9.raw";
const FEATURES: &str = "mknod=1";
const HOOKSCRIPT: &str = "local:snippets/hook.sh";
const HOOK: &str = "#!/bin/sh\ncase \"$2\" in pre-stop|post-stop) exit 1 ;; esac\n";

/// The test's name, for `cargo test` filters and `--list`.
const NAME: &str = "the_library_prints_nothing_and_reports_what_pct_prints";

fn main() {
    if let Some(root) = std::env::var_os(CHILD_ROOT) {
        return child(Path::new(&root));
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--list") {
        println!("{NAME}: test");
        return;
    }
    // As the harness does: a filter that the name does not contain skips the test.
    const TAKING_A_VALUE: [&str; 5] = [
        "--test-threads",
        "--skip",
        "--format",
        "--color",
        "--logfile",
    ];
    let mut filters = Vec::new();
    let mut args_left = args.iter();
    while let Some(arg) = args_left.next() {
        if TAKING_A_VALUE.contains(&arg.as_str()) {
            args_left.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    if !filters.is_empty() && !filters.iter().any(|filter| NAME.contains(filter.as_str())) {
        return;
    }
    parent();
    println!("test {NAME} ... ok");
}

/// One event, as `operation<TAB>kind<TAB>text` with newlines escaped.
fn record_line(operation: &str, event: &Event) -> String {
    let (kind, text) = match event {
        Event::Info(text) => ("info", text.clone()),
        Event::Warning(text) => ("warning", text.clone()),
        Event::Notice(text) => ("notice", text.clone()),
        Event::Debug(text) => ("debug", text.clone()),
        Event::Progress { done, total } => ("progress", format!("{done}/{total}")),
        Event::ProgressEnd => ("progress-end", String::new()),
        other => ("other", format!("{other:?}")),
    };
    format!("{operation}\t{kind}\t{}\n", text.replace('\n', "\\n"))
}

/// The library's side: everything it has to say goes to the observer, recorded to a file.
fn child(root: &Path) {
    let events_path = std::env::var_os(CHILD_EVENTS).expect("events path");
    let template = std::env::var_os(CHILD_TEMPLATE).expect("template");
    let heard = Arc::new(Mutex::new(String::new()));
    let operation = Arc::new(Mutex::new("open"));
    let observer = {
        let heard = heard.clone();
        let operation = operation.clone();
        Observer::new(move |event| {
            let line = record_line(*operation.lock().unwrap(), event);
            heard.lock().unwrap().push_str(&line);
        })
    };
    let run = || -> Result<(), corral::Error> {
        let host = Host::open(root)?.with_observer(observer);
        let ct = host.container(Vmid::new(LIBRARY_CT)?);
        *operation.lock().unwrap() = "create";
        ct.create(&CreateOptions {
            template,
            options: vec![
                ("unused0".into(), UNUSED.into()),
                ("features".into(), FEATURES.into()),
                ("hookscript".into(), HOOKSCRIPT.into()),
            ],
            unprivileged: Some(false),
            progress: true,
            ..Default::default()
        })?;
        *operation.lock().unwrap() = "start";
        ct.start(&StartOptions {
            debug: true,
            ..Default::default()
        })?;
        *operation.lock().unwrap() = "stop";
        ct.stop(false)?;
        // In the foreground the monitor's messages and steps come back to the caller.
        *operation.lock().unwrap() = "foreground";
        append_init(root, LIBRARY_CT);
        let exit = ct.start(&StartOptions {
            foreground: true,
            debug: true,
            ..Default::default()
        })?;
        assert_eq!(exit, Some(corral::runtime::InitExit::Exited(0)));
        *operation.lock().unwrap() = "destroy";
        let warnings = ct.destroy(DestroyOptions {
            purge: true,
            ..Default::default()
        })?;
        for warning in warnings {
            let line = record_line("destroy", &Event::Warning(warning.0));
            heard.lock().unwrap().push_str(&line);
        }
        Ok(())
    };
    let result = run();
    let mut text = heard.lock().unwrap().clone();
    if let Err(e) = &result {
        text.push_str(&format!("failed\t{}\n", e.to_string().replace('\n', "\\n")));
    }
    std::fs::write(events_path, text).expect("write the events");
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}

/// An init that ends at once, for a start in the foreground.
fn append_init(root: &Path, vmid: u32) {
    use std::io::Write;
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join(format!("etc/pve/lxc/{vmid}.conf")))
        .unwrap();
    config
        .write_all(b"lxc.init.cmd: /bin/sh -c true\n")
        .unwrap();
}

/// Stops and removes what a failed run left.
struct Cleanup<'a>(&'a TestRoot, u32);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        force_cleanup(self.0, self.1);
    }
}

/// The text lines of one operation's events of the given kinds, as a terminal shows them.
fn lines_of(events: &str, operation: &str, kinds: &[&str]) -> Vec<String> {
    events
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let (op, kind, text) = (fields.next()?, fields.next()?, fields.next()?);
            (op == operation && kinds.contains(&kind)).then(|| text.replace("\\n", "\n"))
        })
        .flat_map(|text| text.lines().map(str::to_string).collect::<Vec<_>>())
        .map(without_timing)
        .collect()
}

/// Output lines, the extraction's speed left out (the only part that differs between runs).
fn output_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::to_string)
        .map(without_timing)
        .collect()
}

fn without_timing(line: String) -> String {
    match line.strip_prefix("Total bytes read: ") {
        Some(rest) => format!(
            "Total bytes read: {}",
            rest.split(' ').next().unwrap_or_default()
        ),
        None => line,
    }
}

fn parent() {
    let root = TestRoot::new();
    let template = root.install_template(&busybox_template());
    root.write("var/lib/vz/snippets/hook.sh", HOOK);
    std::fs::set_permissions(
        root.join("var/lib/vz/snippets/hook.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let _cleanup = [Cleanup(&root, LIBRARY_CT), Cleanup(&root, PCT_CT)];
    let events_path = root.join("library-events");

    let child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ROOT, root.path())
        .env(CHILD_TEMPLATE, &template)
        .env(CHILD_EVENTS, &events_path)
        .output()
        .expect("run the library child");
    let events = std::fs::read_to_string(&events_path).unwrap_or_default();
    assert!(
        child.status.success(),
        "the library child failed ({}); events:\n{events}",
        child.status
    );
    assert_eq!(
        String::from_utf8_lossy(&child.stdout),
        "",
        "the library wrote to stdout"
    );
    assert_eq!(
        String::from_utf8_lossy(&child.stderr),
        "",
        "the library wrote to stderr"
    );

    // pct prints the same steps of its container as the library reported them.
    let id = PCT_CT.to_string();
    let (code, out, err) = root.pct(&[
        "create",
        &id,
        &template,
        "--unused0",
        UNUSED,
        "--features",
        FEATURES,
        "--hookscript",
        HOOKSCRIPT,
        "--unprivileged",
        "0",
    ]);
    assert_eq!(code, 0, "pct create: {err}");
    let created = lines_of(&events, "create", &["info"]);
    assert_eq!(created, output_lines(&out), "create's stdout");
    assert!(
        created
            .iter()
            .any(|l| l.starts_with("extracting archive '")),
        "{created:?}"
    );
    assert!(
        created.iter().any(|l| l.starts_with("Total bytes read: ")),
        "{created:?}"
    );
    let create_warnings = lines_of(&events, "create", &["warning", "notice"]);
    assert_eq!(create_warnings, output_lines(&err), "create's stderr");
    assert!(
        create_warnings
            .contains(&"ignoring 'unused0', cannot create/restore with unused volume".into()),
        "{create_warnings:?}"
    );
    assert!(
        events.contains("create\tprogress-end\t"),
        "no end of the extraction's progress in:\n{events}"
    );

    let (code, out, err) = root.pct(&["start", &id]);
    assert_eq!(code, 0, "pct start: {err}");
    assert_eq!(output_lines(&out), lines_of(&events, "start", &["info"]));
    let start_warnings = lines_of(&events, "start", &["warning", "notice"]);
    assert_eq!(start_warnings, output_lines(&err), "start's stderr");
    assert!(
        start_warnings
            .contains(&"WARN: features: mknod=1 only applies to unprivileged containers".into()),
        "{start_warnings:?}"
    );
    // The steps of the start, the monitor's among them, came back as debug events.
    let steps = lines_of(&events, "start", &["debug"]);
    for step in [
        "pct: start plan built",
        "monitor: running",
        "pct: init runs",
    ] {
        assert!(
            steps
                .iter()
                .any(|l| l.starts_with("DEBUG ") && l.ends_with(&format!("ms  {step}"))),
            "no step '{step}' in {steps:?}"
        );
    }

    let (code, out, err) = root.pct(&["stop", &id]);
    assert_eq!(code, 0, "pct stop: {err}");
    assert_eq!(output_lines(&out), lines_of(&events, "stop", &["info"]));
    let hook_failed = |vmid: u32, phase: &str| {
        format!(
            "hookscript error for {vmid} on {phase}: command '{} {vmid} {phase}' failed: exit code 1",
            root.join("var/lib/vz/snippets/hook.sh").display()
        )
    };
    assert_eq!(
        lines_of(&events, "stop", &["warning", "notice"]),
        [hook_failed(LIBRARY_CT, "pre-stop")]
    );
    assert_eq!(output_lines(&err), [hook_failed(PCT_CT, "pre-stop")]);
    // The monitor's own message, after the start returned, is in the container's log.
    for vmid in [LIBRARY_CT, PCT_CT] {
        let log = root.join(&format!("var/log/corral/{vmid}.log"));
        let wanted = hook_failed(vmid, "post-stop");
        common::ct::wait_until(
            "the post-stop hook's failure in the log",
            Duration::from_secs(10),
            || std::fs::read_to_string(&log).is_ok_and(|text| text.lines().any(|l| l == wanted)),
        );
    }

    append_init(root.path(), PCT_CT);
    let (code, out, err) = root.pct(&["start", &id, "--foreground"]);
    assert_eq!(code, 0, "pct start --foreground: {err}");
    assert_eq!(
        output_lines(&out),
        lines_of(&events, "foreground", &["info"])
    );
    let foreground: Vec<String> = lines_of(&events, "foreground", &["warning", "notice"])
        .into_iter()
        .map(|line| line.replace(&LIBRARY_CT.to_string(), &id))
        .collect();
    assert_eq!(foreground, output_lines(&err), "foreground start's stderr");
    assert!(
        foreground.contains(&hook_failed(PCT_CT, "post-stop")),
        "{foreground:?}"
    );
    // The steps of the container's child came through the pipe, in order.
    let steps = lines_of(&events, "foreground", &["debug"]);
    let position = |step: &str| {
        steps
            .iter()
            .position(|l| l.ends_with(&format!("ms  {step}")))
            .unwrap_or_else(|| panic!("no step '{step}' in {steps:?}"))
    };
    assert!(position("child: exec /bin/sh -c true") < position("monitor: stopped"));

    let (code, out, err) = root.pct(&["destroy", &id, "--purge"]);
    assert_eq!(code, 0, "pct destroy: {err}");
    // The same line, each naming its own container.
    let purging = |vmid: u32| vec![format!("purging CT {vmid} from related configurations..")];
    assert_eq!(lines_of(&events, "destroy", &["info"]), purging(LIBRARY_CT));
    assert_eq!(output_lines(&out), purging(PCT_CT), "destroy's stdout");
    assert_eq!(
        output_lines(&err),
        lines_of(&events, "destroy", &["warning", "notice"])
    );
}
