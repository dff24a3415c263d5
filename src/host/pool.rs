//! Resource pools: the `pool:` lines of the host's `etc/pve/user.cfg`, as Proxmox's access
//! control keeps them (`pool:<poolid>:<comment>:<vmids>:<storages>:`). `pct create --pool`
//! and `pct clone --pool` add the new container to one; `pct destroy` takes the container
//! out of its pool and drops the ACLs on its path `/vms/<vmid>`.
//!
//! The same file holds users, groups, roles, ACLs and API tokens, which corral does not
//! manage: every line corral does not change is kept byte for byte, and the file is only
//! ever replaced whole (a temporary file renamed over it) under a lock.
//!
//! How Proxmox reads the file, and so how these functions read it: each non-empty line,
//! trimmed, is split at `:` into fields, each trimmed; lists split at `,`, `;` or blanks.
//! A pool whose name is not a valid pool id is ignored; a nested pool `a/b` also makes its
//! parent `a` exist, with or without a line of its own. A vmid belongs to the first pool
//! line that lists it (later ones are ignored duplicates).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::{ConfigLock, Error, Host, LOCK_TIMEOUT, RequestError};
use crate::config::Vmid;

/// The file, under the host root.
const USER_CFG: &str = "etc/pve/user.cfg";
/// The lock writers of the file take (Proxmox's `lock_user_config`).
const USER_CFG_LOCK: &str = "run/lock/corral/user.cfg.lock";
/// The new file is written beside it as `<prefix><pid>`, then renamed over it.
const TEMP_PREFIX: &str = ".user.cfg.tmp.";

/// Why a pool name is not a pool id (pve-access-control's `verify_poolname`); `Display` is
/// pct's message for the `pool` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PoolNameError {
    /// More than three levels (`a/b/c/d`).
    NestedTooDeeply(String),
    /// An empty level, or a character other than letters, digits, `.`, `-` and `_`.
    InvalidCharacters(String),
}

impl std::fmt::Display for PoolNameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolNameError::NestedTooDeeply(name) => {
                writeln!(f, "pool name '{name}' nested too deeply (max levels = 3)")
            }
            PoolNameError::InvalidCharacters(name) => {
                writeln!(f, "pool name '{name}' contains invalid characters")
            }
        }
    }
}

impl std::error::Error for PoolNameError {}

/// Whether a pool name is a pool id, as pve-access-control's `verify_poolname` checks.
pub(crate) fn check_pool_name(name: &str) -> Result<(), PoolNameError> {
    if name.split('/').count() > 3 {
        return Err(PoolNameError::NestedTooDeeply(name.to_string()));
    }
    let part_ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    if !name.split('/').all(part_ok) {
        return Err(PoolNameError::InvalidCharacters(name.to_string()));
    }
    Ok(())
}

/// One line of user.cfg: its bytes as read (terminator included) and, for a `pool:` line
/// Proxmox accepts, what it says.
struct Line<'a> {
    raw: &'a [u8],
    pool: Option<PoolLine>,
    acl_path: Option<String>,
}

/// What a `pool:` line says.
struct PoolLine {
    name: String,
    comment: String,
    vmids: Vec<u64>,
    storages: Vec<String>,
}

impl PoolLine {
    /// The line as Proxmox's `write_user_config` writes a pool: members and storages
    /// sorted as text, the (already encoded) comment as it was.
    fn render(&self) -> String {
        let mut vmids: Vec<String> = self.vmids.iter().map(u64::to_string).collect();
        vmids.sort();
        vmids.dedup();
        let mut storages = self.storages.clone();
        storages.sort();
        storages.dedup();
        format!(
            "pool:{}:{}:{}:{}:",
            self.name,
            self.comment,
            vmids.join(","),
            storages.join(",")
        )
    }
}

/// Proxmox's `split_list`.
fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', ';', ' ', '\t', '\0'])
        .filter(|item| !item.is_empty())
}

fn valid_storage_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// pve-access-control's `normalize_path` for an ACL path.
fn normalize_acl_path(path: &str) -> String {
    let mut normalized = String::new();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        normalized.push('/');
        normalized.push_str(part);
    }
    if normalized.is_empty() {
        normalized.push('/');
    }
    normalized
}

fn parse_line(raw: &[u8]) -> Line<'_> {
    let mut line = Line {
        raw,
        pool: None,
        acl_path: None,
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return line;
    };
    let fields: Vec<&str> = text.trim().split(':').map(str::trim).collect();
    let field = |index: usize| fields.get(index).copied().unwrap_or("");
    match field(0) {
        "pool" if check_pool_name(field(1)).is_ok() => {
            line.pool = Some(PoolLine {
                name: field(1).to_string(),
                comment: field(2).to_string(),
                vmids: split_list(field(3))
                    .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
                    .filter_map(|id| id.parse().ok())
                    .collect(),
                storages: split_list(field(4))
                    .filter(|id| valid_storage_id(id))
                    .map(String::from)
                    .collect(),
            });
        }
        "acl" if !field(2).is_empty() => line.acl_path = Some(normalize_acl_path(field(2))),
        _ => {}
    }
    line
}

fn parse(text: &[u8]) -> Vec<Line<'_>> {
    text.split_inclusive(|b| *b == b'\n')
        .map(parse_line)
        .collect()
}

/// The line terminator `raw` ends with (none on an unterminated last line).
fn terminator(raw: &[u8]) -> &[u8] {
    if raw.ends_with(b"\r\n") {
        b"\r\n"
    } else if raw.ends_with(b"\n") {
        b"\n"
    } else {
        b""
    }
}

/// Whether `pool` exists: it has a line, or a nested pool below it has one.
pub(crate) fn pool_exists(text: &[u8], pool: &str) -> bool {
    let nested = format!("{pool}/");
    parse(text)
        .iter()
        .filter_map(|line| line.pool.as_ref())
        .any(|p| p.name == pool || p.name.starts_with(&nested))
}

/// user.cfg with `vmid` added to `pool` (Proxmox's `add_vm_to_pool`): the pool's line
/// rewritten with the vmid among its members; a pool that only exists as the parent of a
/// nested one gets a line of its own, before its first child's. As in Proxmox, the vmid is
/// not taken out of another pool that (stale) lists it. Every other line is kept as it is.
/// `None`: there is no such pool.
pub(crate) fn add_vm(text: &[u8], pool: &str, vmid: u64) -> Option<Vec<u8>> {
    let lines = parse(text);
    let nested = format!("{pool}/");
    let own = lines
        .iter()
        .position(|line| line.pool.as_ref().is_some_and(|p| p.name == pool));
    let child = lines.iter().position(|line| {
        line.pool
            .as_ref()
            .is_some_and(|p| p.name.starts_with(&nested))
    });
    let mut out = Vec::with_capacity(text.len() + 16);
    match (own, child) {
        (Some(index), _) => {
            for (i, line) in lines.iter().enumerate() {
                match &line.pool {
                    Some(p) if i == index => {
                        let mut members = p.vmids.clone();
                        members.push(vmid);
                        let rewritten = PoolLine {
                            vmids: members,
                            name: p.name.clone(),
                            comment: p.comment.clone(),
                            storages: p.storages.clone(),
                        };
                        out.extend_from_slice(rewritten.render().as_bytes());
                        out.extend_from_slice(terminator(line.raw));
                    }
                    _ => out.extend_from_slice(line.raw),
                }
            }
        }
        (None, Some(index)) => {
            for (i, line) in lines.iter().enumerate() {
                if i == index {
                    let new = PoolLine {
                        name: pool.to_string(),
                        comment: String::new(),
                        vmids: vec![vmid],
                        storages: Vec::new(),
                    };
                    out.extend_from_slice(new.render().as_bytes());
                    out.push(b'\n');
                }
                out.extend_from_slice(line.raw);
            }
        }
        (None, None) => return None,
    }
    Some(out)
}

/// user.cfg without `vmid` in any pool and without the ACLs on `/vms/<vmid>` (Proxmox's
/// `remove_vm_access`, which `pct destroy` calls with or without `--purge`). Proxmox drops
/// the vmid from the pool it belongs to, and so from every line that lists it when it
/// writes the file again. `None`: nothing to change.
pub(crate) fn remove_vm_access(text: &[u8], vmid: u64) -> Option<Vec<u8>> {
    let acl_path = format!("/vms/{vmid}");
    let mut changed = false;
    let mut out = Vec::with_capacity(text.len());
    for line in parse(text) {
        if line.acl_path.as_deref() == Some(acl_path.as_str()) {
            changed = true;
            continue;
        }
        match line.pool {
            Some(mut pool) if pool.vmids.contains(&vmid) => {
                pool.vmids.retain(|id| *id != vmid);
                out.extend_from_slice(pool.render().as_bytes());
                out.extend_from_slice(terminator(line.raw));
                changed = true;
            }
            _ => out.extend_from_slice(line.raw),
        }
    }
    changed.then_some(out)
}

/// The pools of a host: its user.cfg read, checked and changed.
pub(crate) struct Pools<'h> {
    host: &'h Host,
}

impl<'h> Pools<'h> {
    pub(crate) fn of(host: &'h Host) -> Pools<'h> {
        Pools { host }
    }

    fn read(&self) -> Result<Vec<u8>, Error> {
        let path = self.host.path(USER_CFG);
        match fs::read(&path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io(format!("unable to read '{}'", path.display()), e)),
        }
    }

    /// pct's check before it makes anything: the pool must be a pool id and exist.
    pub(crate) fn check(&self, pool: &str) -> Result<(), Error> {
        check_pool_name(pool).map_err(|e| Error::param("pool", e.to_string()))?;
        if !pool_exists(&self.read()?, pool) {
            return Err(Error::Request(RequestError::NoSuchPool {
                pool: pool.to_string(),
            }));
        }
        Ok(())
    }

    /// Add `vmid` to `pool`; fails as pct's `can't add VM <vmid> to pool '<pool>': ...`.
    pub(crate) fn add(&self, vmid: Vmid, pool: &str) -> Result<(), Error> {
        self.edit(|text| match add_vm(text, pool, u64::from(vmid.get())) {
            Some(new) => Ok(Some(new)),
            None => Err(Error::Request(RequestError::NoSuchPool {
                pool: pool.to_string(),
            })),
        })
        .map_err(|e| e.context(&format!("can't add VM {vmid} to pool '{pool}':")))
    }

    /// Take `vmid` out of its pool and drop its ACLs; fails as pct's `access permissions
    /// cleanup for VM <vmid> failed: ...`.
    pub(crate) fn remove_vm_access(&self, vmid: Vmid) -> Result<(), Error> {
        self.edit(|text| Ok(remove_vm_access(text, u64::from(vmid.get()))))
            .map_err(|e| e.context(&format!("access permissions cleanup for VM {vmid} failed:")))
    }

    /// Under the lock: read the file, let `change` make the new text (`None`: leave it),
    /// and replace the file with it (a temporary file beside it, synced, renamed), with
    /// the old file's mode and owner.
    fn edit(
        &self,
        change: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, Error>,
    ) -> Result<(), Error> {
        let _lock = ConfigLock::acquire(
            &self.host.path(USER_CFG_LOCK),
            LOCK_TIMEOUT,
            self.host.observer(),
        )?;
        let Some(new) = change(&self.read()?)? else {
            return Ok(());
        };
        let path = self.host.path(USER_CFG);
        let unable = |e| Error::io(format!("unable to write '{}'", path.display()), e);
        let old = fs::metadata(&path).map_err(unable)?;
        let dir = path.parent().expect("user.cfg has a directory");
        // One killed between writing its temporary file and renaming it leaves the file.
        super::remove_stale_temps(dir, TEMP_PREFIX);
        let temp = dir.join(format!("{TEMP_PREFIX}{}", std::process::id()));
        let written = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(&new)?;
            fs::set_permissions(&temp, fs::Permissions::from_mode(old.mode() & 0o7777))?;
            std::os::unix::fs::chown(&temp, Some(old.uid()), Some(old.gid()))?;
            file.sync_all()?;
            fs::rename(&temp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written.map_err(unable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user.cfg as Proxmox writes it, with a few lines it would write differently, which
    /// corral must keep as they are.
    const USER_CFG: &str = "\
user:root@pam:1:0:::root@example.com:::
token:root@pam!ci:0:1:build%20bot:
user:alice@pve:1:0:Alice:Lee:alice@example.com:::

group:admins:alice@pve,root@pam:the%20admins:

pool:dev:development:250,100:local,tank:
pool:prod::300::
  pool:odd : spaced : 7 ;5 : :
pool:team/web:web servers:::

role:Auditor2:VM.Audit,Sys.Audit:

acl:1:/vms/100:alice@pve:PVEVMAdmin:
acl:1:/vms/1000:alice@pve:PVEVMAdmin:
acl:0://vms//100/:@admins:PVEAuditor:
acl:1:/pool/dev:@admins:PVEAdmin:
";

    /// The pool `vmid` belongs to, as Proxmox reads the file: the first line listing it.
    fn pool_of(text: &[u8], vmid: u64) -> Option<String> {
        parse(text)
            .into_iter()
            .filter_map(|line| line.pool)
            .find(|pool| pool.vmids.contains(&vmid))
            .map(|pool| pool.name)
    }

    fn text(bytes: Option<Vec<u8>>) -> String {
        String::from_utf8(bytes.expect("a change")).unwrap()
    }

    /// `after` is `before` with exactly the line `old` replaced by `new`.
    fn assert_only_line_changed(before: &str, after: &str, old: &str, new: &str) {
        let expected = before.replacen(&format!("{old}\n"), &format!("{new}\n"), 1);
        assert_ne!(expected, before, "the line '{old}' is in the file");
        assert_eq!(after, expected);
    }

    #[test]
    fn pool_names_are_checked_as_proxmox_does() {
        assert_eq!(check_pool_name("dev"), Ok(()));
        assert_eq!(check_pool_name("a.b-c_D/e/f"), Ok(()));
        assert_eq!(
            check_pool_name("a/b/c/d").unwrap_err().to_string(),
            "pool name 'a/b/c/d' nested too deeply (max levels = 3)\n"
        );
        for bad in ["", "a b", "a:b", "a//b", "/a", "ä"] {
            assert_eq!(
                check_pool_name(bad),
                Err(PoolNameError::InvalidCharacters(bad.to_string()))
            );
            assert_eq!(
                check_pool_name(bad).unwrap_err().to_string(),
                format!("pool name '{bad}' contains invalid characters\n")
            );
        }
    }

    #[test]
    fn pools_exist_by_their_line_or_a_nested_one() {
        let cfg = USER_CFG.as_bytes();
        for pool in ["dev", "prod", "odd", "team/web", "team"] {
            assert!(pool_exists(cfg, pool), "{pool}");
        }
        for pool in ["de", "web", "team/we", "admins", "root@pam"] {
            assert!(!pool_exists(cfg, pool), "{pool}");
        }
        assert!(!pool_exists(b"", "dev"));
        // A line with a name Proxmox ignores makes no pool.
        assert!(!pool_exists(b"pool:a b::100::\n", "a b"));
    }

    #[test]
    fn adding_rewrites_only_the_pools_line_members_sorted_as_text() {
        let after = text(add_vm(USER_CFG.as_bytes(), "dev", 1000));
        assert_only_line_changed(
            USER_CFG,
            &after,
            "pool:dev:development:250,100:local,tank:",
            "pool:dev:development:100,1000,250:local,tank:",
        );
        assert_eq!(pool_of(after.as_bytes(), 1000).as_deref(), Some("dev"));
    }

    #[test]
    fn adding_to_an_empty_pool_and_to_a_spaced_line() {
        let after = text(add_vm(USER_CFG.as_bytes(), "team/web", 120));
        assert_only_line_changed(
            USER_CFG,
            &after,
            "pool:team/web:web servers:::",
            "pool:team/web:web servers:120::",
        );
        let after = text(add_vm(USER_CFG.as_bytes(), "odd", 6));
        assert_only_line_changed(
            USER_CFG,
            &after,
            "  pool:odd : spaced : 7 ;5 : :",
            "pool:odd:spaced:5,6,7::",
        );
    }

    #[test]
    fn adding_a_member_again_changes_nothing_but_the_lines_form() {
        let after = text(add_vm(USER_CFG.as_bytes(), "prod", 300));
        assert_eq!(after, USER_CFG);
    }

    #[test]
    fn a_parent_pool_without_a_line_gets_one_before_its_child() {
        let after = text(add_vm(USER_CFG.as_bytes(), "team", 150));
        let expected = USER_CFG.replace("pool:team/web:", "pool:team::150::\npool:team/web:");
        assert_eq!(after, expected);
    }

    #[test]
    fn an_unknown_pool_is_refused() {
        assert!(add_vm(USER_CFG.as_bytes(), "nope", 100).is_none());
        assert!(add_vm(b"", "dev", 100).is_none());
        assert!(add_vm(USER_CFG.as_bytes(), "tea", 100).is_none());
    }

    #[test]
    fn a_file_without_final_newline_or_with_crlf_keeps_its_endings() {
        let cfg = "user:root@pam:1:0:::::\r\npool:dev:::";
        assert_eq!(
            text(add_vm(cfg.as_bytes(), "dev", 101)),
            "user:root@pam:1:0:::::\r\npool:dev::101::"
        );
        let cfg = "pool:dev::101::\r\nrole:x::\r\n";
        assert_eq!(
            text(remove_vm_access(cfg.as_bytes(), 101)),
            "pool:dev::::\r\nrole:x::\r\n"
        );
    }

    #[test]
    fn removing_takes_the_vmid_out_of_its_pool_and_drops_its_acls() {
        let after = text(remove_vm_access(USER_CFG.as_bytes(), 100));
        let expected = USER_CFG
            .replace(
                "pool:dev:development:250,100:local,tank:",
                "pool:dev:development:250:local,tank:",
            )
            .replace("acl:1:/vms/100:alice@pve:PVEVMAdmin:\n", "")
            .replace("acl:0://vms//100/:@admins:PVEAuditor:\n", "");
        assert_eq!(after, expected);
        assert_eq!(pool_of(after.as_bytes(), 100), None);
        // The ACL of 1000 and the other pools stay.
        assert!(after.contains("acl:1:/vms/1000:alice@pve:PVEVMAdmin:\n"));
    }

    #[test]
    fn removing_drops_the_vmid_from_every_line_that_lists_it() {
        let cfg = "pool:a::5,7::\npool:b::7,9::\n";
        assert_eq!(pool_of(cfg.as_bytes(), 7).as_deref(), Some("a"));
        assert_eq!(
            text(remove_vm_access(cfg.as_bytes(), 7)),
            "pool:a::5::\npool:b::9::\n"
        );
    }

    #[test]
    fn removing_what_is_not_there_changes_nothing() {
        assert!(remove_vm_access(USER_CFG.as_bytes(), 999).is_none());
        assert!(remove_vm_access(b"", 100).is_none());
        // 1000's ACL is not 100's; 10 is no member of `250,100`.
        assert!(remove_vm_access(b"acl:1:/vms/1000:a@pve:R:\npool:p::250,100::\n", 10).is_none());
    }

    #[test]
    fn lines_that_are_not_utf8_are_kept_as_bytes() {
        let mut cfg = b"user:j\xf6rg@pve:1:0:::::\n".to_vec();
        cfg.extend_from_slice(b"pool:dev::::\n");
        let after = add_vm(&cfg, "dev", 100).unwrap();
        assert_eq!(after, b"user:j\xf6rg@pve:1:0:::::\npool:dev::100::\n");
    }
}
