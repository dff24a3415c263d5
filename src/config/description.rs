//! Description comments: pct stores the description as `#` lines, percent-escaped.

/// pct's `encode_text`: percent-escape everything but printable ASCII other than `%` and `:`.
pub fn encode_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if matches!(byte, 0x20..=0x24 | 0x26..=0x39 | 0x3b..=0x7e) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// pct's `decode_text`: `%XX` unescaped, then read as UTF-8 (invalid bytes replaced).
pub fn decode_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `#` lines for a description (Perl's split: trailing empty lines are dropped).
pub fn comment_lines(description: &str) -> Vec<String> {
    let mut lines: Vec<&str> = description.split('\n').collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| format!("#{}", encode_text(line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_pct() {
        assert_eq!(encode_text("Hello: 5%"), "Hello%3A 5%25");
        assert_eq!(encode_text("tab\there"), "tab%09here");
        assert_eq!(encode_text("ü"), "%C3%BC");
        assert_eq!(decode_text("Hello%3A 5%25"), "Hello: 5%");
        assert_eq!(decode_text("%C3%BC%"), "ü%");
        assert_eq!(decode_text("%zz"), "%zz");
    }

    #[test]
    fn comment_lines_drop_trailing_empties() {
        assert_eq!(comment_lines("a\n\nb\n\n"), ["#a", "#", "#b"]);
        assert!(comment_lines("").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn encoding_round_trips(text in "\\PC*") {
            proptest::prop_assert_eq!(decode_text(&encode_text(&text)), text);
        }
    }
}
