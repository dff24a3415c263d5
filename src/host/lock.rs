//! The per-container config lock: an exclusive flock on `run/lock/lxc/pve-config-<vmid>.lock`,
//! the same file pct uses, so corral and pct exclude each other on one host.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Error;
use crate::report::Observer;

/// Held while a config is read, changed and written; released on drop.
pub struct ConfigLock {
    _file: File,
}

impl ConfigLock {
    /// pct waits 10 s for the lock (5 s when creating) and then gives up; that it waits is
    /// told to `observer` once.
    pub fn acquire(
        path: &Path,
        timeout: Duration,
        observer: &Observer,
    ) -> Result<ConfigLock, Error> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| {
                Error::io(
                    format!("can't create lock directory '{}'", dir.display()),
                    e,
                )
            })?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|source| Error::LockFile {
                path: path.to_path_buf(),
                acquire: false,
                source,
            })?;
        let deadline = Instant::now() + timeout;
        let mut announced = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(ConfigLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) => {
                    if !announced {
                        observer.notice("trying to acquire lock...");
                        announced = true;
                    }
                    if Instant::now() >= deadline {
                        return Err(Error::lock_timeout(path));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::Error(source)) => {
                    return Err(Error::LockFile {
                        path: path.to_path_buf(),
                        acquire: true,
                        source,
                    });
                }
            }
        }
    }
}

pub fn lock_path(root: &Path, vmid: u32) -> PathBuf {
    root.join(format!("run/lock/lxc/pve-config-{vmid}.lock"))
}
