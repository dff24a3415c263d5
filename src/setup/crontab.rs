//! pct's `$randomize_crontab`: the minute of root's system cron jobs drawn at random, so
//! that containers made from one template do not all run them at the same moment.

use super::error::{FileAction, SetupError};
use std::os::fd::AsFd;

use rustix::fs::{Dir, Mode, OFlags, ResolveFlags, openat2};

use super::context::Setup;
use super::root::GuestRoot;

const CRONTAB: &str = "/etc/crontab";
const CRON_D: &str = "/etc/cron.d";

/// Perl's `\s` on bytes: ASCII white space, vertical tab included.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The line without its leading minute when it is a root job,
/// `^\d+(\s+\S+\s+\S+\s+\S+\s+\S+\s+root\s+\S.*)$`: the minute, four more time fields,
/// the user `root`, a command.
fn root_job_rest(line: &[u8]) -> Option<&[u8]> {
    let minute_end = line
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(line.len());
    if minute_end == 0 {
        return None;
    }
    let rest = &line[minute_end..];
    // White space and the other fields alternate, each field a maximal run, so the
    // pattern needs no backtracking: after the minute come four time fields and the user,
    // and a command must follow.
    let mut fields = Vec::new();
    let mut remaining = rest;
    while fields.len() < 5 {
        let field_start = remaining.iter().position(|&b| !is_space(b))?;
        if field_start == 0 {
            return None;
        }
        let field = &remaining[field_start..];
        let field_len = field
            .iter()
            .position(|&b| is_space(b))
            .unwrap_or(field.len());
        fields.push(&field[..field_len]);
        remaining = &field[field_len..];
    }
    let has_command = remaining
        .iter()
        .position(|&b| !is_space(b))
        .is_some_and(|p| p > 0);
    (fields[4] == b"root" && has_command).then_some(rest)
}

/// Whether pct's `dir_glob_foreach` takes the entry: the whole name matches
/// `[A-Za-z0-9_-]+`. Perl's `$` also matches before a final newline, and pct then uses the
/// name without it, so `name\n` stands for `name`.
fn cron_d_name(name: &[u8]) -> Option<String> {
    let name = name.strip_suffix(b"\n").unwrap_or(name);
    let valid = !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    valid.then(|| String::from_utf8_lossy(name).into_owned())
}

/// The names in the container's `/etc/cron.d` that pct would process. pct takes them in
/// readdir order, which depends on the file system; sorted by name, the random minutes go
/// to the same files on every file system.
fn cron_d_files(root: &GuestRoot) -> Vec<String> {
    let Ok(dir) = openat2(
        root.as_fd(),
        CRON_D.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) else {
        return Vec::new();
    };
    let Ok(entries) = Dir::read_from(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| cron_d_name(entry.file_name().to_bytes()))
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| format!("{CRON_D}/{name}"))
        .collect()
}

/// Perl's `split(/\n/, $text)` on bytes: trailing empty lines are dropped.
fn perl_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    lines
}

/// `text` with every root job's minute drawn anew, each line ending in `\n` (pct splits on
/// newlines and joins with them). Bytes, since pct leaves the file's encoding alone.
fn randomize(text: &[u8], setup: &mut Setup) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 1);
    for line in perl_lines(text) {
        match root_job_rest(line) {
            Some(rest) => {
                let minute = (setup.random.draw() * 59.0) as u32;
                out.extend_from_slice(minute.to_string().as_bytes());
                out.extend_from_slice(rest);
            }
            None => out.extend_from_slice(line),
        }
        out.push(b'\n');
    }
    out
}

fn read_file(root: &GuestRoot, path: &str) -> Result<Vec<u8>, SetupError> {
    match root.read_bytes(path) {
        Ok(Some(data)) => Ok(data),
        Ok(None) => Err(SetupError::missing(FileAction::Read, path)),
        Err(e) => Err(SetupError::io(FileAction::Read, path, e)),
    }
}

/// pct's crontab randomisation: `/etc/crontab` when it is a file, then `/etc/cron.d`.
pub fn randomize_crontab(setup: &mut Setup) -> Result<(), SetupError> {
    let mut files = cron_d_files(setup.root);
    if setup.root.is_file(CRONTAB) {
        files.insert(0, CRONTAB.to_string());
    }
    for path in files {
        let text = read_file(setup.root, &path)?;
        let new = randomize(&text, setup);
        // Written whole with pct's default mode, as `file_set_contents` does; an ignored
        // file stays untouched.
        setup
            .root
            .write(&path, &new, None)
            .map_err(|e| SetupError::io(FileAction::Write, &path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::context::{GuestConfig, HostEnv};
    use crate::setup::random::Drand48;
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::path::Path;

    fn run(dir: &Path) -> Result<(), SetupError> {
        let root = GuestRoot::open(dir, None).unwrap();
        let (conf, host) = (GuestConfig::default(), HostEnv::default());
        let mut random = Drand48::seeded(0);
        let mut setup = Setup::new(&root, &conf, &host, &mut random);
        randomize_crontab(&mut setup)
    }

    fn read(dir: &Path, path: &str) -> String {
        fs::read_to_string(dir.join(path)).unwrap()
    }

    #[test]
    fn root_jobs_are_recognised() {
        assert_eq!(
            root_job_rest(b"17 *\t* * *   root    cd / && run-parts"),
            Some(&b" *\t* * *   root    cd / && run-parts"[..])
        );
        for line in [
            "17 * * * * nobody run",
            "*/5 * * * * root run",
            " 17 * * * * root run",
            "17 * * * * root",
            "17 * * * * root   ",
            "17 * * * root run",
            "17* * * * * root run",
            "# 17 * * * * root run",
            "SHELL=/bin/sh",
            "",
        ] {
            assert_eq!(root_job_rest(line.as_bytes()), None, "{line}");
        }
        // The user is the field after the four time fields, whatever those look like.
        assert!(root_job_rest(b"0 a b c d root x").is_some());
        assert!(root_job_rest(b"0 1 2 3 4 5 root x").is_none());
        // Bytes beyond ASCII are fields like any other, and stay as they are.
        assert_eq!(
            root_job_rest(b"1 \xff * * * root \xfe"),
            Some(&b" \xff * * * root \xfe"[..])
        );
    }

    #[test]
    fn crontab_then_cron_d_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/cron.d")).unwrap();
        fs::write(
            dir.path().join("etc/crontab"),
            "SHELL=/bin/sh\n# m h dom mon dow user\tcommand\n17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n25 6\t* * *\tnobody\ttrue\n\n\n",
        )
        .unwrap();
        fs::write(dir.path().join("etc/cron.d/zz-last"), "1 2 3 4 5 root last").unwrap();
        fs::write(
            dir.path().join("etc/cron.d/a_first"),
            "30 3 * * 0 root first\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("etc/cron.d/.placeholder"),
            "0 0 * * * root x\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("etc/cron.d/backup.dpkg-old"),
            "0 0 * * * root x\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("etc/cron.d/e2scrub_all"),
            "10 3 * * 0 root e2\n",
        )
        .unwrap();
        fs::set_permissions(
            dir.path().join("etc/cron.d/e2scrub_all"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        run(dir.path()).unwrap();
        // Seed 0 draws 10, 44, 5, 51.
        assert_eq!(
            read(dir.path(), "etc/crontab"),
            "SHELL=/bin/sh\n# m h dom mon dow user\tcommand\n10 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n25 6\t* * *\tnobody\ttrue\n"
        );
        assert_eq!(
            read(dir.path(), "etc/cron.d/a_first"),
            "44 3 * * 0 root first\n"
        );
        assert_eq!(
            read(dir.path(), "etc/cron.d/e2scrub_all"),
            "5 3 * * 0 root e2\n"
        );
        assert_eq!(
            read(dir.path(), "etc/cron.d/zz-last"),
            "51 2 3 4 5 root last\n"
        );
        for untouched in ["etc/cron.d/.placeholder", "etc/cron.d/backup.dpkg-old"] {
            assert_eq!(read(dir.path(), untouched), "0 0 * * * root x\n");
        }
        // Rewritten with pct's default mode.
        let mode = fs::metadata(dir.path().join("etc/cron.d/e2scrub_all"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o644);
    }

    #[test]
    fn no_crontab_and_no_cron_d_is_nothing_to_do() {
        let entries = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        run(dir.path()).unwrap();
        assert!(entries(&dir.path().join("etc")).is_empty(), "nothing made");
        // A directory where the crontab would be is not a crontab: read as none, left alone.
        fs::create_dir_all(dir.path().join("etc/crontab")).unwrap();
        run(dir.path()).unwrap();
        assert_eq!(entries(&dir.path().join("etc")), ["crontab"]);
        assert!(dir.path().join("etc/crontab").is_dir());
        assert!(entries(&dir.path().join("etc/crontab")).is_empty());
    }

    #[test]
    fn ignored_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/crontab"), "0 0 * * * root x\n\n").unwrap();
        fs::write(dir.path().join("etc/.pve-ignore.crontab"), "").unwrap();
        run(dir.path()).unwrap();
        assert_eq!(read(dir.path(), "etc/crontab"), "0 0 * * * root x\n\n");
    }

    #[test]
    fn a_crontab_linked_to_the_host_is_replaced_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let host_file = outside.path().join("host-cron");
        fs::write(&host_file, "0 0 * * * root host\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/cron.d")).unwrap();
        fs::create_dir_all(dir.path().join("srv")).unwrap();
        fs::write(dir.path().join("srv/job"), "7 * * * * root job\n").unwrap();
        // Resolved inside the container the first link names a file there, not the host's.
        let host_path = host_file.to_str().unwrap();
        let inside = dir.path().join(host_path.trim_start_matches('/'));
        fs::create_dir_all(inside.parent().unwrap()).unwrap();
        fs::write(&inside, "1 * * * * root guest\n").unwrap();
        symlink(&host_file, dir.path().join("etc/cron.d/linked")).unwrap();
        symlink("/srv/job", dir.path().join("etc/cron.d/other")).unwrap();
        run(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(&host_file).unwrap(),
            "0 0 * * * root host\n"
        );
        let linked = dir.path().join("etc/cron.d/linked");
        assert!(fs::symlink_metadata(&linked).unwrap().is_file());
        assert_eq!(
            fs::read_to_string(&linked).unwrap(),
            "10 * * * * root guest\n"
        );
        assert_eq!(read(dir.path(), "srv/job"), "7 * * * * root job\n");
        assert_eq!(
            read(dir.path(), "etc/cron.d/other"),
            "44 * * * * root job\n"
        );
    }

    #[test]
    fn names_as_pct_matches_them() {
        assert_eq!(cron_d_name(b"php").as_deref(), Some("php"));
        assert_eq!(cron_d_name(b"A-b_9").as_deref(), Some("A-b_9"));
        assert_eq!(cron_d_name(b"job\n").as_deref(), Some("job"));
        for name in [
            &b"."[..],
            b"..",
            b"",
            b"a.b",
            b"a b",
            b"job\n\n",
            b"\xc3\xa9",
        ] {
            assert_eq!(cron_d_name(name), None);
        }
    }
}
