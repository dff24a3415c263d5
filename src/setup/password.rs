//! Root's password: SHA-512 crypt (implemented here on the `sha2` crate, after Ulrich
//! Drepper's specification), written into /etc/shadow or /etc/passwd as pct writes it.

use super::error::{FileAction, SetupError};
use sha2::{Digest, Sha512};

use super::context::Setup;

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DEFAULT_ROUNDS: u32 = 5000;

fn is_salt_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '/'
}

/// Whether `text` is already a crypt hash (`$1$`, `$2[axy]$`, `$5$`, `$6$`), which pct
/// stores as given.
pub fn is_crypt_hash(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('$') else {
        return false;
    };
    let Some((id, rest)) = rest.split_once('$') else {
        return false;
    };
    if !matches!(id, "1" | "2" | "2a" | "2x" | "2y" | "5" | "6") {
        return false;
    }
    let Some((salt, hash)) = rest.split_once('$') else {
        return false;
    };
    (1..=16).contains(&salt.len())
        && salt.chars().all(is_salt_char)
        && !hash.is_empty()
        && hash.chars().all(is_salt_char)
}

fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut hasher = Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// `length` bytes of `digest` repeated.
fn repeated(digest: &[u8; 64], length: usize) -> Vec<u8> {
    digest.iter().copied().cycle().take(length).collect()
}

/// SHA-512 crypt of `password` with `salt` (up to 16 characters used), 5000 rounds:
/// `$6$<salt>$<hash>`, as glibc's crypt(3) gives it.
pub fn crypt_sha512(password: &str, salt: &str) -> String {
    let key = password.as_bytes();
    let salt: &[u8] = &salt.as_bytes()[..salt.len().min(16)];
    let alternate = sha512(&[key, salt, key]);
    let mut hasher = Sha512::new();
    hasher.update(key);
    hasher.update(salt);
    let mut remaining = key.len();
    while remaining > 64 {
        hasher.update(alternate);
        remaining -= 64;
    }
    hasher.update(&alternate[..remaining]);
    let mut bits = key.len();
    while bits > 0 {
        if bits & 1 == 1 {
            hasher.update(alternate);
        } else {
            hasher.update(key);
        }
        bits >>= 1;
    }
    let mut digest: [u8; 64] = hasher.finalize().into();
    let key_digest = sha512(&vec![key; key.len()]);
    let p_bytes = repeated(&key_digest, key.len());
    let salt_digest = sha512(&vec![salt; 16 + usize::from(digest[0])]);
    let s_bytes = repeated(&salt_digest, salt.len());
    for round in 0..DEFAULT_ROUNDS {
        let mut hasher = Sha512::new();
        if round % 2 == 1 {
            hasher.update(&p_bytes);
        } else {
            hasher.update(digest);
        }
        if round % 3 != 0 {
            hasher.update(&s_bytes);
        }
        if round % 7 != 0 {
            hasher.update(&p_bytes);
        }
        if round % 2 == 1 {
            hasher.update(digest);
        } else {
            hasher.update(&p_bytes);
        }
        digest = hasher.finalize().into();
    }
    format!("$6${}${}", String::from_utf8_lossy(salt), encode(&digest))
}

/// The specification's base-64 of the final digest, in its byte order.
fn encode(digest: &[u8; 64]) -> String {
    const GROUPS: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    let mut out = String::with_capacity(86);
    let mut push = |b2: u8, b1: u8, b0: u8, count: usize| {
        let mut word = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
        for _ in 0..count {
            out.push(ITOA64[(word & 0x3f) as usize] as char);
            word >>= 6;
        }
    };
    for (a, b, c) in GROUPS {
        push(digest[a], digest[b], digest[c], 4);
    }
    push(0, 0, digest[63], 2);
    out
}

/// Eight salt characters; pct derives them from the time, corral draws them.
fn draw_salt(setup: &mut Setup) -> String {
    (0..8)
        .map(|_| ITOA64[((setup.random.draw() * 64.0) as usize).min(63)] as char)
        .collect()
}

/// pct's substitution on one line: the user's first one (passwd) or two (shadow) fields
/// replaced, the rest kept.
fn replace_entry(line: &str, user: &str, hash: &str, shadow_day: Option<u64>) -> String {
    let Some(rest) = line
        .strip_prefix(user)
        .and_then(|rest| rest.strip_prefix(':'))
    else {
        return line.to_string();
    };
    let fields_to_replace = if shadow_day.is_some() { 2 } else { 1 };
    let mut remainder = rest;
    for _ in 0..fields_to_replace {
        match remainder.split_once(':') {
            Some((_, after)) => remainder = after,
            None => return line.to_string(),
        }
    }
    match shadow_day {
        Some(day) => format!("{user}:{hash}:{day}:{remainder}"),
        None => format!("{user}:{hash}:{remainder}"),
    }
}

/// Rewrite `path` with `user`'s entry changed, keeping owner and mode.
fn replace_password(
    setup: &Setup,
    path: &str,
    user: &str,
    hash: &str,
    shadow_day: Option<u64>,
) -> Result<(), SetupError> {
    let Some((uid, gid, mode)) = setup.root.file_owner_and_mode(path) else {
        return Err(SetupError::missing(FileAction::Inspect, path));
    };
    let text = setup.read(path)?;
    let mut out = String::with_capacity(text.len() + hash.len());
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        out.push_str(&replace_entry(body, user, hash, shadow_day));
        out.push_str(newline);
    }
    setup
        .root
        .write_owned(path, out.as_bytes(), Some(mode), Some((uid, gid)))
        .map_err(|e| SetupError::io(FileAction::Write, path, e))
}

/// Set `user`'s password: a crypt hash as it is, anything else SHA-512-crypted, none at all
/// locks the account (`*`).
pub fn set_user_password(
    setup: &mut Setup,
    user: &str,
    password: Option<&str>,
) -> Result<(), SetupError> {
    if !setup.root.is_file("/etc/passwd") {
        return Ok(());
    }
    let hash = match password {
        Some(given) if is_crypt_hash(given) => given.to_string(),
        Some(plain) => {
            let salt = draw_salt(setup);
            crypt_sha512(plain, &salt)
        }
        None => "*".to_string(),
    };
    if setup.root.is_file("/etc/shadow") {
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or(0);
        replace_password(setup, "/etc/shadow", user, &hash, Some(days))?;
        replace_password(setup, "/etc/passwd", user, "x", None)
    } else {
        replace_password(setup, "/etc/passwd", user, &hash, None)
    }
}

#[cfg(test)]
mod tests;
