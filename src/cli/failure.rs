//! What `pct` reports when a command fails: an error of the library, or a refusal of the
//! command line's own (a prompt, a file an option names, a command name), in pct's words.
//! These stay here: an embedder never meets them, so the library's `Error` has no variant
//! for them.

use std::fmt;

use crate::host::Error;

#[derive(Debug)]
pub(super) enum Failure {
    /// The library's error, printed as it is.
    Library(Error),
    /// The two passwords typed at `--password`'s prompts differ.
    PasswordsDiffer,
    /// The terminal could not be read for a password: why.
    PasswordUnreadable(String),
    /// `--ssh-public-keys FILE` cannot be read: the file, shown, and why.
    KeysFile {
        shown: String,
        source: std::io::Error,
    },
    /// `pct config --snapshot NAME` of a snapshot the config lacks.
    NoSnapshot(String),
    /// `pct exec` with nothing after `--`.
    MissingCommand,
    /// A subcommand the command tree has and nothing handles.
    UnknownCommand(String),
    /// `pct help NAME` of a command pct does not have.
    NoSuchCommand(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Library(error)
    }
}

impl Failure {
    /// Whether pct follows the message with the usage line: parameter errors, from here or
    /// from the config layer.
    pub(super) fn wants_usage(&self, text: &str) -> bool {
        matches!(self, Failure::Library(Error::Parameters(_))) || text.starts_with("400 ")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Library(error) => error.fmt(f),
            Failure::PasswordsDiffer => f.write_str("passwords do not match"),
            Failure::PasswordUnreadable(why) => write!(f, "unable to read password - {why}"),
            Failure::KeysFile { shown, source } => {
                write!(f, "unable to open file '{shown}' - {source}")
            }
            Failure::NoSnapshot(name) => write!(f, "snapshot '{name}' does not exist"),
            Failure::MissingCommand => f.write_str("missing command"),
            Failure::UnknownCommand(name) => write!(f, "unknown command 'pct {name}'"),
            Failure::NoSuchCommand(name) => write!(f, "no such command '{name}'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_reads_as_pct_words_it() {
        let cases = [
            (Failure::PasswordsDiffer, "passwords do not match"),
            (
                Failure::PasswordUnreadable("No such device or address".into()),
                "unable to read password - No such device or address",
            ),
            (
                Failure::KeysFile {
                    shown: "/k.pub".into(),
                    source: std::io::Error::from_raw_os_error(libc::ENOENT),
                },
                "unable to open file '/k.pub' - No such file or directory (os error 2)",
            ),
            (
                Failure::NoSnapshot("nope".into()),
                "snapshot 'nope' does not exist",
            ),
            (Failure::MissingCommand, "missing command"),
            (
                Failure::UnknownCommand("frob".into()),
                "unknown command 'pct frob'",
            ),
            (
                Failure::NoSuchCommand("frob".into()),
                "no such command 'frob'",
            ),
        ];
        for (failure, words) in cases {
            assert_eq!(failure.to_string(), words);
            assert!(!failure.wants_usage(words));
        }
        let params = Failure::from(Error::param("memory", "bad"));
        assert!(params.wants_usage(&params.to_string()));
    }
}
