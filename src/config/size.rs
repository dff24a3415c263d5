//! pct's disk sizes: `\d+(\.\d+)?([KMGT](iB)?)?` in (a bare number is bytes), compact binary
//! units out.

use super::PropertyError;

/// Bytes from a size string; a number without a unit is bytes, as in pct's `disk-size`.
pub fn parse_size(text: &str) -> Result<u64, PropertyError> {
    let invalid = || {
        PropertyError(format!(
            "value does not look like a valid disk size: {text}"
        ))
    };
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let multiplier: u64 = match unit {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        _ => return Err(invalid()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (number.contains('.') && !digits(fraction)) {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as u64)
}

/// The compact form pct prints: `8G`, `512M`, `0T`, or raw bytes if not a multiple of 1K.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    let mut value = bytes;
    let mut unit = None;
    for name in UNITS {
        if !value.is_multiple_of(1024) {
            break;
        }
        value /= 1024;
        unit = Some(name);
    }
    match unit {
        None => bytes.to_string(),
        Some(unit) => format!("{value}{unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pct_sizes() {
        assert_eq!(parse_size("8G").unwrap(), 8 << 30);
        assert_eq!(parse_size("8GiB").unwrap(), 8 << 30);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("0T").unwrap(), 0);
        // Every unit, short and long.
        assert_eq!(parse_size("3K").unwrap(), 3 << 10);
        assert_eq!(parse_size("3KiB").unwrap(), 3 << 10);
        assert_eq!(parse_size("3MiB").unwrap(), 3 << 20);
        assert_eq!(parse_size("3TiB").unwrap(), 3 << 40);
        for bad in ["", "G", "8g", "8 G", "-1G", "1.G", ".5G", "8GB"] {
            assert_eq!(
                parse_size(bad).unwrap_err().0,
                format!("value does not look like a valid disk size: {bad}")
            );
        }
    }

    /// A size is bytes in 64 bits: one that cannot be held is refused, not cut to the most
    /// bytes there are.
    #[test]
    fn sizes_past_64_bits_are_refused() {
        assert_eq!(parse_size("16777215T").unwrap(), 16_777_215 << 40);
        for bad in ["16777216T", "18446744073709551616", &"9".repeat(400)] {
            assert_eq!(
                parse_size(bad).unwrap_err().0,
                format!("value does not look like a valid disk size: {bad}")
            );
        }
    }

    #[test]
    fn formats_like_pct() {
        assert_eq!(format_size(8 << 30), "8G");
        assert_eq!(format_size(512 << 20), "512M");
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(3 << 40), "3T");
        assert_eq!(format_size(0), "0T");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(1024), "1K");
        assert_eq!(format_size(5 << 50), "5120T");
    }

    proptest::proptest! {
        #[test]
        fn printed_sizes_parse_back(bytes in 0u64..(1 << 52)) {
            proptest::prop_assert_eq!(parse_size(&format_size(bytes)).unwrap(), bytes);
        }
    }
}
