//! User/group id maps: `lxc.idmap` entries (`u 0 100000 65536`), the unprivileged default, and
//! mapping a container id to the host id it is stored as.

use std::fmt;

/// Which id space an entry maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IdKind {
    /// User ids (`u`).
    User,
    /// Group ids (`g`).
    Group,
}

impl IdKind {
    /// The letter `lxc.idmap` uses: `u` or `g`.
    pub fn letter(self) -> char {
        match self {
            IdKind::User => 'u',
            IdKind::Group => 'g',
        }
    }
}

/// One range of an id map: `count` ids from `inside` in the container are `outside` on the
/// host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdMapEntry {
    /// User or group ids.
    pub kind: IdKind,
    /// First id inside the container.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    /// How many consecutive ids the entry maps.
    pub count: u32,
}

impl IdMapEntry {
    /// The host id `inside` is stored as, when this entry covers it.
    fn map(&self, kind: IdKind, inside: u32) -> Option<u32> {
        if kind != self.kind || inside < self.inside {
            return None;
        }
        let offset = inside - self.inside;
        // Parsing guarantees inside+count and outside+count fit in u32 arithmetic as u64.
        (offset < self.count).then(|| self.outside + offset)
    }
}

/// `u 0 100000 65536`: the form `lxc.idmap` values and pct's messages use.
impl fmt::Display for IdMapEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.kind.letter(),
            self.inside,
            self.outside,
            self.count
        )
    }
}

/// A user namespace's id maps: the `lxc.idmap` entries, or pct's default for unprivileged
/// containers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdMap {
    /// The ranges, users and groups, in config order.
    pub entries: Vec<IdMapEntry>,
}

/// A bad `lxc.idmap` value or map; the text is pct's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdMapError(pub String);

/// The host range pct gives unprivileged containers when the config has no `lxc.idmap`.
const DEFAULT_HOST_BASE: u32 = 100_000;
const DEFAULT_COUNT: u32 = 65_536;

impl IdMap {
    /// `u 0 100000 65536` and `g 0 100000 65536`.
    pub fn default_unprivileged() -> IdMap {
        let entry = |kind| IdMapEntry {
            kind,
            inside: 0,
            outside: DEFAULT_HOST_BASE,
            count: DEFAULT_COUNT,
        };
        IdMap {
            entries: vec![entry(IdKind::User), entry(IdKind::Group)],
        }
    }

    /// From the values of `lxc.idmap` lines; an empty list gives the unprivileged default.
    pub fn from_lxc_values<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<IdMap, IdMapError> {
        let entries = values
            .into_iter()
            .map(parse_entry)
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            return Ok(IdMap::default_unprivileged());
        }
        Ok(IdMap { entries })
    }

    /// The host uid and gid of the container's root, which own a fresh volume's root
    /// directory.
    pub fn root_owner(&self) -> Result<(u32, u32), IdMapError> {
        let uid = self
            .to_host(IdKind::User, 0)
            .ok_or_else(|| IdMapError("root user is not mapped".into()))?;
        let gid = self
            .to_host(IdKind::Group, 0)
            .ok_or_else(|| IdMapError("root group is not mapped".into()))?;
        Ok((uid, gid))
    }

    /// The host id a container uid/gid is stored as, or `None` when it is not mapped.
    pub fn to_host(&self, kind: IdKind, inside: u32) -> Option<u32> {
        self.entries
            .iter()
            .find_map(|entry| entry.map(kind, inside))
    }

    /// Rejects maps whose ranges overlap on either side, which the kernel refuses when the map
    /// is written; the message is pct's (`validate_id_maps`).
    pub fn validate(&self) -> Result<(), IdMapError> {
        for kind in [IdKind::User, IdKind::Group] {
            let of_kind = || self.entries.iter().filter(move |entry| entry.kind == kind);
            for (side, start) in [
                (
                    "container",
                    (|entry: &IdMapEntry| entry.inside) as fn(&IdMapEntry) -> u32,
                ),
                ("host", |entry: &IdMapEntry| entry.outside),
            ] {
                let mut sorted: Vec<&IdMapEntry> = of_kind().collect();
                sorted.sort_by_key(|entry| start(entry));
                for pair in sorted.windows(2) {
                    let (previous, current) = (pair[0], pair[1]);
                    if u64::from(start(previous)) + u64::from(previous.count)
                        > u64::from(start(current))
                    {
                        return Err(IdMapError(format!(
                            "invalid map entry '{current}': {side} {}id {} is also mapped by entry '{previous}'",
                            kind.letter(),
                            start(current),
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The `lxc.idmap` values, one per entry.
    pub fn to_lxc_values(&self) -> Vec<String> {
        self.entries.iter().map(ToString::to_string).collect()
    }
}

/// One `lxc.idmap` value. pct accepts `^([ug])\s+(\d+)\s+(\d+)\s+(\d+)\s*$` and otherwise says
/// "failed to parse idmap: <value>"; ids must also fit the kernel's 32-bit id space.
fn parse_entry(value: &str) -> Result<IdMapEntry, IdMapError> {
    let unparsable = || IdMapError(format!("failed to parse idmap: {value}"));
    if value.starts_with(char::is_whitespace) {
        return Err(unparsable());
    }
    let fields: Vec<&str> = value.split_whitespace().collect();
    let [kind, inside, outside, count] = fields[..] else {
        return Err(unparsable());
    };
    let kind = match kind {
        "u" => IdKind::User,
        "g" => IdKind::Group,
        _ => return Err(unparsable()),
    };
    let number = |field: &str| -> Result<u64, IdMapError> {
        if field.is_empty() || !field.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(unparsable());
        }
        // Only an absurdly long digit string fails here; it is out of range either way.
        field.parse::<u64>().map_err(|_| out_of_range(value))
    };
    let (inside, outside, count) = (number(inside)?, number(outside)?, number(count)?);
    if count == 0 {
        return Err(IdMapError(format!(
            "invalid idmap '{value}': the range must map at least one id"
        )));
    }
    // The highest mappable id is 2^32 - 2: (uid_t)-1 means "no id" to the kernel.
    const ID_LIMIT: u64 = u32::MAX as u64;
    if inside + count > ID_LIMIT || outside + count > ID_LIMIT {
        return Err(out_of_range(value));
    }
    Ok(IdMapEntry {
        kind,
        inside: inside as u32,
        outside: outside as u32,
        count: count as u32,
    })
}

fn out_of_range(value: &str) -> IdMapError {
    IdMapError(format!(
        "invalid idmap '{value}': ids must stay below {}",
        u32::MAX
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: IdKind, inside: u32, outside: u32, count: u32) -> IdMapEntry {
        IdMapEntry {
            kind,
            inside,
            outside,
            count,
        }
    }

    #[test]
    fn default_maps_root_and_the_top_of_the_range() {
        let map = IdMap::default_unprivileged();
        assert_eq!(
            map.to_lxc_values(),
            ["u 0 100000 65536", "g 0 100000 65536"]
        );
        assert_eq!(map.to_host(IdKind::User, 0), Some(100_000));
        assert_eq!(map.to_host(IdKind::Group, 1000), Some(101_000));
        assert_eq!(map.to_host(IdKind::User, 65_535), Some(165_535));
        assert_eq!(map.to_host(IdKind::User, 65_536), None);
        assert_eq!(map.to_host(IdKind::Group, u32::MAX), None);
    }

    #[test]
    fn empty_value_list_gives_the_default() {
        assert_eq!(
            IdMap::from_lxc_values([]).unwrap(),
            IdMap::default_unprivileged()
        );
    }

    #[test]
    fn parses_a_split_map_and_maps_each_range() {
        let map = IdMap::from_lxc_values([
            "u 0 100000 1000",
            "g 0 100000 1000",
            "u 1000 1000 1",
            "g\t1000 1000 1  ",
            "u 1001 101001 64535",
            "g 1001 101001 64535",
        ])
        .unwrap();
        assert_eq!(map.entries[3], entry(IdKind::Group, 1000, 1000, 1));
        assert_eq!(map.to_host(IdKind::User, 999), Some(100_999));
        assert_eq!(map.to_host(IdKind::User, 1000), Some(1000));
        assert_eq!(map.to_host(IdKind::Group, 1000), Some(1000));
        assert_eq!(map.to_host(IdKind::User, 1001), Some(101_001));
        assert_eq!(map.to_host(IdKind::User, 65_535), Some(165_535));
        assert!(map.validate().is_ok());
    }

    #[test]
    fn kinds_do_not_leak_into_each_other() {
        let map = IdMap::from_lxc_values(["u 0 200000 10"]).unwrap();
        assert_eq!(map.to_host(IdKind::User, 9), Some(200_009));
        assert_eq!(map.to_host(IdKind::Group, 9), None);
    }

    #[test]
    fn rejects_malformed_values_with_pcts_message() {
        for bad in [
            "",
            "x 0 100000 65536",
            "u 0 100000",
            "u 0 100000 65536 7",
            "u -1 100000 65536",
            "u +1 100000 65536",
            " u 0 100000 65536",
            "u 0x10 100000 65536",
            "U 0 100000 65536",
        ] {
            let error = IdMap::from_lxc_values([bad]).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("failed to parse idmap: {bad}"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_empty_and_overflowing_ranges() {
        let error = IdMap::from_lxc_values(["u 0 100000 0"]).unwrap_err();
        assert!(error.0.contains("at least one id"), "{error}");
        for bad in [
            "u 0 4294967295 1",
            "g 4294967290 0 10",
            "u 99999999999999999999999 0 1",
        ] {
            let error = IdMap::from_lxc_values([bad]).unwrap_err();
            assert!(
                error.0.starts_with(&format!("invalid idmap '{bad}'")),
                "{error}"
            );
        }
        // The very last mappable id is accepted, on either side; the one after is not.
        let map = IdMap::from_lxc_values(["u 0 4294967294 1"]).unwrap();
        assert_eq!(map.to_host(IdKind::User, 0), Some(4_294_967_294));
        let map = IdMap::from_lxc_values(["u 4294967294 0 1"]).unwrap();
        assert_eq!(map.to_host(IdKind::User, 4_294_967_294), Some(0));
        assert_eq!(
            IdMap::from_lxc_values(["u 4294967295 0 1"]).unwrap_err().0,
            "invalid idmap 'u 4294967295 0 1': ids must stay below 4294967295"
        );
    }

    #[test]
    fn validate_reports_overlaps_like_pct() {
        let map = IdMap::from_lxc_values(["u 0 100000 65536", "u 1000 1000 1"]).unwrap();
        assert_eq!(
            map.validate().unwrap_err().0,
            "invalid map entry 'u 1000 1000 1': container uid 1000 is also mapped by entry 'u 0 100000 65536'"
        );
        let map = IdMap::from_lxc_values(["g 0 100000 10", "g 10 100005 10"]).unwrap();
        assert_eq!(
            map.validate().unwrap_err().0,
            "invalid map entry 'g 10 100005 10': host gid 100005 is also mapped by entry 'g 0 100000 10'"
        );
        // Adjacent ranges do not overlap.
        let map = IdMap::from_lxc_values(["u 0 100000 10", "u 10 100010 10"]).unwrap();
        assert!(map.validate().is_ok());
    }

    #[test]
    fn first_matching_entry_wins_like_pct() {
        // pct's map_ct_id_to_host walks the list in order.
        let map = IdMap {
            entries: vec![
                entry(IdKind::User, 0, 100, 10),
                entry(IdKind::User, 5, 500, 10),
            ],
        };
        assert_eq!(map.to_host(IdKind::User, 5), Some(105));
        assert_eq!(map.to_host(IdKind::User, 12), Some(507));
    }
}
