//! The `startup` value: `[[order=]N][,up=N][,down=N]`.

use std::fmt;

use super::PropertyError;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Startup {
    pub order: Option<u64>,
    pub up: Option<u64>,
    pub down: Option<u64>,
}

impl Startup {
    pub fn parse(value: &str) -> Result<Startup, PropertyError> {
        todo!("{value}")
    }
}

impl fmt::Display for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
    }
}
