//! The container's snapshots as pct shows them (`pct listsnapshot`). The steps that take,
//! delete and roll back snapshots are `config::snapshot`'s; the commands that run them over
//! the storages come here.

use super::{Container, Error};
use crate::config::TreeLine;
use crate::config::snapshot::snapshot_tree;

impl Container<'_> {
    /// `pct listsnapshot`: the snapshot tree, `current` included, in the order pct prints it.
    /// Like pct it reads the config without taking the lock.
    pub fn snapshot_tree(&self) -> Result<Vec<TreeLine>, Error> {
        Ok(snapshot_tree(&self.config()?))
    }
}
