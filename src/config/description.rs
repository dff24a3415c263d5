//! Description comments: pct stores the description as `#` lines, percent-escaped. A
//! description is bytes: pct reads the file as bytes, and a description that is not UTF-8
//! (`description: caf\xe9` written by hand) is kept exactly and written back as `#caf%E9`.

/// pct's `encode_text`: percent-escape everything but printable ASCII other than `%` and `:`.
pub fn encode_text(text: &str) -> String {
    encode_bytes(text.as_bytes())
}

/// [`encode_text`] of any bytes.
pub fn encode_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
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
    String::from_utf8_lossy(&decode_bytes(text.as_bytes())).into_owned()
}

/// `%XX` unescaped, the bytes kept as they are.
pub fn decode_bytes(bytes: &[u8]) -> Vec<u8> {
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
    out
}

/// The `#` lines for a description (Perl's split: trailing empty lines are dropped).
pub fn comment_lines(description: &[u8]) -> Vec<String> {
    let mut lines: Vec<&[u8]> = description.split(|&b| b == b'\n').collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| format!("#{}", encode_bytes(line)))
        .collect()
}

/// A description in JSON output: as text, bytes that are not UTF-8 replaced.
pub(crate) fn serialize_lossy<S: serde::Serializer>(
    description: &[u8],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(description))
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

    /// Every byte against pct's rule, `[^\x20-\x7e]|[%:]` escaped: control characters and DEL
    /// would otherwise land raw in the config file.
    #[test]
    fn exactly_printable_ascii_but_percent_and_colon_stays_as_it_is() {
        for byte in 0..=255u8 {
            let kept = (0x20..=0x7e).contains(&byte) && byte != b'%' && byte != b':';
            let expected = if kept {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            };
            assert_eq!(encode_bytes(&[byte]), expected, "byte {byte:#04x}");
        }
        assert_eq!(encode_text("del\u{7f}"), "del%7F");
    }

    #[test]
    fn an_escape_cut_short_at_the_end_stays_as_it_is() {
        assert_eq!(decode_bytes(b"%4"), b"%4");
        assert_eq!(decode_bytes(b"a%41"), b"aA");
        assert_eq!(decode_bytes(b"%"), b"%");
    }

    #[test]
    fn comment_lines_drop_trailing_empties() {
        assert_eq!(comment_lines(b"a\n\nb\n\n"), ["#a", "#", "#b"]);
        assert!(comment_lines(b"").is_empty());
    }

    #[test]
    fn bytes_that_are_not_utf8_survive() {
        assert_eq!(decode_bytes(b"caf\xe9"), b"caf\xe9");
        assert_eq!(decode_bytes(b"caf%E9"), b"caf\xe9");
        assert_eq!(comment_lines(b"caf\xe9\n\xff"), ["#caf%E9", "#%FF"]);
        assert_eq!(
            decode_bytes(encode_bytes(b"\xe9%:\x00").as_bytes()),
            b"\xe9%:\x00"
        );
    }

    proptest::proptest! {
        #[test]
        fn encoding_round_trips(text in "\\PC*") {
            proptest::prop_assert_eq!(decode_text(&encode_text(&text)), text);
        }

        #[test]
        fn byte_encoding_round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(decode_bytes(encode_bytes(&bytes).as_bytes()), bytes);
        }
    }
}
