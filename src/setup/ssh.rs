//! SSH for the guest: host keys made at create with the host's ssh-keygen (a template's
//! keys would be shared by every container made from it), and root's authorized_keys.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::context::Setup;
use super::password::home_of;
use super::root::ModifyOptions;

/// A generated host key pair, to be written to `/etc/ssh/<basename>` and `.pub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    pub basename: String,
    pub private: String,
    pub public: String,
}

/// A private directory for the keys while they exist on the host; removed on drop.
struct KeyDir(PathBuf);

impl KeyDir {
    fn new() -> Result<KeyDir, String> {
        use std::os::unix::fs::DirBuilderExt;
        let mut name = [0u8; 8];
        getrandom::fill(&mut name).map_err(|e| format!("unable to make a key directory: {e}"))?;
        let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!(".corral-ssh-{name}"));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| format!("unable to create '{}': {e}", path.display()))?;
        Ok(KeyDir(path))
    }
}

impl Drop for KeyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fingerprint line ssh-keygen prints for a key with `comment`.
fn fingerprint_line<'o>(output: &'o str, comment: &str) -> Option<&'o str> {
    output.lines().find(|line| {
        let Some((id, rest)) = line.split_once(char::is_whitespace) else {
            return false;
        };
        let sha256 = id
            .strip_prefix("SHA256:")
            .is_some_and(|b64| b64.len() == 43);
        let md5 = id.split(':').count() > 1
            && id
                .split(':')
                .all(|pair| pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()));
        (sha256 || md5) && rest.trim_start().eq_ignore_ascii_case(comment)
    })
}

fn generate(
    dir: &Path,
    kind: &str,
    basename: &str,
    comment: &str,
) -> Result<(String, HostKey), String> {
    let file = dir.join(basename);
    let command = format!(
        "ssh-keygen -f {} -t {kind} -N '' -E sha256 -C {comment}",
        file.display()
    );
    let output = Command::new("ssh-keygen")
        .arg("-f")
        .arg(&file)
        .args(["-t", kind, "-N", "", "-E", "sha256", "-C", comment])
        .output()
        .map_err(|e| format!("command '{command}' failed: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "command '{command}' failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let id = fingerprint_line(&stdout, comment).unwrap_or("").to_string();
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| format!("unable to read '{}': {e}", path.display()))
    };
    let key = HostKey {
        basename: basename.to_string(),
        private: read(&file)?,
        public: read(&file.with_extension(match file.extension() {
            Some(ext) => format!("{}.pub", ext.to_string_lossy()),
            None => "pub".into(),
        }))?,
    };
    Ok((id, key))
}

/// Make a key pair of each `(type, basename)` with comment `root@<short hostname>`,
/// saying what pct says while it does.
pub fn generate_host_keys(
    types: &[(&str, &str)],
    short_hostname: &str,
    messages: &mut Vec<String>,
) -> Result<Vec<HostKey>, String> {
    let dir = KeyDir::new()?;
    let comment = format!("root@{short_hostname}");
    let mut keys = Vec::new();
    for (kind, basename) in types {
        messages.push(format!(
            "Creating SSH host key '{basename}' - this may take some time ..."
        ));
        let (id, key) = generate(&dir.0, kind, basename, &comment)?;
        messages.push(format!("done: {id}"));
        keys.push(key);
    }
    Ok(keys)
}

/// Write the host keys into the guest's /etc/ssh.
pub fn write_host_keys(setup: &Setup, keys: &[HostKey]) -> Result<(), String> {
    for key in keys {
        let path = format!("/etc/ssh/{}", key.basename);
        setup.write(&path, &key.private, Some(0o600))?;
        setup.write(&format!("{path}.pub"), &key.public, Some(0o644))?;
    }
    Ok(())
}

/// Put `keys` into the managed section of `user`'s authorized_keys.
pub fn set_authorized_keys(setup: &mut Setup, user: &str, keys: &str) -> Result<(), String> {
    let mut home = if user == "root" {
        "/root/".to_string()
    } else {
        format!("/home/{user}/")
    };
    if setup.root.is_file("/etc/passwd") {
        let passwd = setup.read("/etc/passwd")?;
        home = home_of(&passwd, user).unwrap_or_default();
    }
    if !(setup.root.is_dir(&home) || setup.root.is_symlink(&home)) {
        return Err(format!("home directory '{home}' of {user} does not exist!"));
    }
    let ssh_dir = format!("{home}/.ssh");
    if !setup.root.is_dir(&ssh_dir) {
        setup.root.mkdir(&ssh_dir, 0o700);
    }
    setup.modify(
        &format!("{ssh_dir}/authorized_keys"),
        keys,
        ModifyOptions {
            perms: Some(0o700),
            ..ModifyOptions::default()
        },
    )
}

#[cfg(test)]
mod tests;
