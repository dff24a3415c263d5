//! User/group id maps: `lxc.idmap` entries (`u 0 100000 65536`), the unprivileged default, and
//! mapping a container id to the host id it is stored as.

/// Which id space an entry maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum IdKind {
    User,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IdMapEntry {
    pub kind: IdKind,
    /// First id inside the container.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    pub count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IdMap {
    pub entries: Vec<IdMapEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdMapError(pub String);

impl IdMap {
    /// `u 0 100000 65536` and `g 0 100000 65536`.
    pub fn default_unprivileged() -> IdMap {
        todo!()
    }

    /// From the values of `lxc.idmap` lines; an empty list gives the unprivileged default.
    pub fn from_lxc_values<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<IdMap, IdMapError> {
        let _ = values.into_iter();
        todo!()
    }

    /// The host id a container uid/gid is stored as, or `None` when it is not mapped.
    pub fn to_host(&self, kind: IdKind, inside: u32) -> Option<u32> {
        todo!("{kind:?}{inside}")
    }
}
