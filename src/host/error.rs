//! The library's error type. `Display` gives pct's message for each case.

use std::fmt;

use crate::config::{ConfigError, IdMapError, VmidError};
use crate::mount::MountError;
use crate::storage::{StorageError, TemplateError};

/// A parameter pct would reject with `400 Parameter verification failed.`: the option and why.
/// `message` is pct's text as it is: the ones pct raises with `die` (format checks, property
/// strings) end with a newline, which pct prints as an empty line before the usage text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The option the message is about (`memory`, `mp0`).
    pub key: String,
    /// pct's message for it.
    pub message: String,
}

/// Every error of the library; `Display` is pct's message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments; printed as pct's parameter-verification block.
    #[error("{}", ParamErrors(.0))]
    Parameters(Vec<ParamError>),
    /// A config file that cannot be read or parsed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A storage or volume error.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A volume that cannot be mounted or unmounted.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// A template that cannot be read or extracted.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A bad id map.
    #[error(transparent)]
    IdMap(#[from] IdMapError),
    /// A text that is not a container id.
    #[error(transparent)]
    Vmid(#[from] VmidError),
    /// A system call that failed, with what it was doing.
    #[error("{context}: {source}")]
    Io {
        /// What failed, in pct's words.
        context: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The caller cancelled the operation (e.g. `pct create` got SIGINT); what it had done is
    /// undone.
    #[error("{}", crate::cancel::INTERRUPTED)]
    Interrupted,
    /// Any other failure, worded as pct words it.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// A parameter error about one option.
    pub fn param(key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Parameters(vec![ParamError {
            key: key.into(),
            message: message.into(),
        }])
    }

    /// An [`Error::Io`] with its context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Prefix the message as pct does for a failed task (`unable to create CT 100 - ...`).
    pub fn context(self, prefix: &str) -> Error {
        match self {
            Error::Parameters(_) => self,
            other => Error::Failed(format!("{prefix} {other}")),
        }
    }
}

struct ParamErrors<'a>(&'a [ParamError]);

impl fmt::Display for ParamErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "400 Parameter verification failed.")?;
        for error in self.0 {
            write!(f, "\n{}: {}", error.key, error.message)?;
        }
        Ok(())
    }
}
