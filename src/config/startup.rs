//! The `startup` value: `[[order=]N][,up=N][,down=N]`.

use std::fmt;

use super::PropertyError;

/// The `startup` property: the order of `startall`/`stopall` and the delays after each.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Startup {
    /// `order=`: lower starts first and stops last.
    pub order: Option<u64>,
    /// `up=`: seconds to wait after starting it.
    pub up: Option<u64>,
    /// `down=`: seconds to wait for it to stop.
    pub down: Option<u64>,
}

impl Startup {
    /// Parse a `startup` value (`order=1,up=30`).
    pub fn parse(value: &str) -> Result<Startup, PropertyError> {
        let invalid = || PropertyError("unable to parse startup options".into());
        let number = |text: &str| -> Result<u64, PropertyError> {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            text.parse().map_err(|_| invalid())
        };
        // pct tests the value's Perl truth first: "" and "0" are false, and refused.
        if value.is_empty() || value == "0" {
            return Err(invalid());
        }
        let mut startup = Startup::default();
        for part in value.split(',') {
            // pct skips blank parts, and a key given again replaces the earlier value.
            if part.trim().is_empty() {
                continue;
            }
            let (key, text) = part.split_once('=').unwrap_or(("order", part));
            let slot = match key {
                "order" => &mut startup.order,
                "up" => &mut startup.up,
                "down" => &mut startup.down,
                _ => return Err(invalid()),
            };
            *slot = Some(number(text)?);
        }
        Ok(startup)
    }
}

impl fmt::Display for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [("order", self.order), ("up", self.up), ("down", self.down)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_order() {
        assert_eq!(
            Startup::parse("1,up=30,down=60").unwrap(),
            Startup {
                order: Some(1),
                up: Some(30),
                down: Some(60)
            }
        );
        assert_eq!(Startup::parse("order=2").unwrap().to_string(), "order=2");
        assert_eq!(
            Startup::parse("up=5").unwrap(),
            Startup {
                order: None,
                up: Some(5),
                down: None
            }
        );
        // Blank parts are skipped, a repeated key keeps its last value, and `00` is a
        // number where `0` alone is Perl's false.
        assert_eq!(
            Startup::parse("1,, ,up=2,order=3").unwrap(),
            Startup {
                order: Some(3),
                up: Some(2),
                down: None
            }
        );
        assert_eq!(Startup::parse("00").unwrap().order, Some(0));
        assert_eq!(Startup::parse("order=0").unwrap().order, Some(0));
        assert_eq!(Startup::parse(",").unwrap(), Startup::default());
        // pct's `\d+`: no sign, not even a plus, and no spaces.
        for bad in [
            "", "0", "x", "order", "up=-1", "up=+1", "+2", "later=3", "1, 2", "up=",
        ] {
            assert_eq!(
                Startup::parse(bad).unwrap_err().0,
                "unable to parse startup options",
                "{bad}"
            );
        }
    }
}
