//! Why setting up a container's network failed: pct's message, and the operating-system
//! error underneath when a netlink or sysfs call failed.

use std::fmt;
use std::io;

#[derive(Debug)]
pub struct NetError {
    message: String,
    source: Option<io::Error>,
}

impl NetError {
    /// `context: error`, with `error` as the source.
    pub fn io(context: impl fmt::Display, source: io::Error) -> NetError {
        NetError {
            message: format!("{context}: {source}"),
            source: Some(source),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The operating-system error underneath, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }
}

/// A refusal in words only (a bad MAC address, a missing bridge).
impl From<String> for NetError {
    fn from(message: String) -> NetError {
        NetError {
            message,
            source: None,
        }
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
