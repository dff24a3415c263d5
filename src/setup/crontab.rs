//! Spread the cron jobs of containers made from one template: the minute of every root job
//! in /etc/crontab and /etc/cron.d is drawn anew at create.

use super::context::Setup;
use super::section::perl_lines;

/// Whether a whole file name is one pct takes from /etc/cron.d (`[A-Za-z0-9_-]+`).
fn is_cron_d_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The line with its minute replaced, if it is `<minute> h dom mon dow root command...`.
fn randomized(line: &str, minute: impl FnOnce() -> u32) -> Option<String> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = &line[digits..];
    // Four schedule fields, the user `root`, and a command, each after white space.
    let mut cursor = rest;
    let mut fields = Vec::new();
    for _ in 0..6 {
        let after_space = cursor.trim_start();
        if after_space.len() == cursor.len() {
            return None;
        }
        let end = after_space
            .find(char::is_whitespace)
            .unwrap_or(after_space.len());
        if end == 0 {
            return None;
        }
        fields.push(&after_space[..end]);
        cursor = &after_space[end..];
    }
    (fields[4] == "root").then(|| format!("{}{rest}", minute()))
}

/// Redraw the minutes; every file is rewritten with a newline after each line.
pub fn randomize_crontab(setup: &mut Setup) -> Result<(), String> {
    let mut files = Vec::new();
    if setup.root.is_file("/etc/crontab") {
        files.push("/etc/crontab".to_string());
    }
    // pct takes readdir's order; sorted here, so the same seed draws the same minutes.
    let mut names: Vec<String> = setup
        .root
        .list_dir("/etc/cron.d")
        .into_iter()
        .filter(|name| is_cron_d_name(name))
        .collect();
    names.sort();
    files.extend(names.into_iter().map(|name| format!("/etc/cron.d/{name}")));
    for path in files {
        let Some(data) = setup.root.read(&path).ok().flatten() else {
            continue;
        };
        let mut new = String::with_capacity(data.len());
        for line in perl_lines(&data) {
            let random = &mut *setup.random;
            match randomized(line, || (random.draw() * 59.0) as u32) {
                Some(line) => new.push_str(&line),
                None => new.push_str(line),
            }
            new.push('\n');
        }
        setup.write(&path, &new, None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::context::{GuestConfig, HostEnv};
    use crate::setup::random::Drand48;
    use crate::setup::root::GuestRoot;
    use std::fs;

    #[test]
    fn root_jobs_get_perls_minutes() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/cron.d")).unwrap();
        fs::write(
            dir.path().join("etc/crontab"),
            "SHELL=/bin/sh\n17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n25 6 * * * user true\n*/5 * * * * root x\n47 6\t* * 7\troot\ttest -x /usr/sbin/anacron",
        )
        .unwrap();
        fs::write(
            dir.path().join("etc/cron.d/e2scrub_all"),
            "30 3 * * 0 root true\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("etc/cron.d/a.dpkg-dist"),
            "30 3 * * 0 root true\n",
        )
        .unwrap();
        fs::write(dir.path().join("etc/cron.d/b"), "1 2 3 4 5 root\n").unwrap();
        let root = GuestRoot::open(dir.path(), None).unwrap();
        let conf = GuestConfig::default();
        let host = HostEnv::default();
        let mut random = Drand48::seeded(0);
        let mut setup = Setup::new(&root, &conf, &host, &mut random);
        randomize_crontab(&mut setup).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/crontab")).unwrap(),
            "SHELL=/bin/sh\n10 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n25 6 * * * user true\n*/5 * * * * root x\n44 6\t* * 7\troot\ttest -x /usr/sbin/anacron\n"
        );
        // cron.d in name order; a name with a dot is not taken, a line without a command
        // is not a job.
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/cron.d/b")).unwrap(),
            "1 2 3 4 5 root\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/cron.d/e2scrub_all")).unwrap(),
            "5 3 * * 0 root true\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/cron.d/a.dpkg-dist")).unwrap(),
            "30 3 * * 0 root true\n"
        );
    }
}
