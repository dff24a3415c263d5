//! The `features` value.

use std::fmt;

use super::PropertyError;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Features {
    pub force_rw_sys: Option<bool>,
    pub fuse: Option<bool>,
    pub keyctl: Option<bool>,
    pub mknod: Option<bool>,
    pub nesting: Option<bool>,
    /// `mount=nfs;cifs`
    pub mount: Vec<String>,
}

impl Features {
    pub fn parse(value: &str) -> Result<Features, PropertyError> {
        todo!("{value}")
    }
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
    }
}
