//! Untrusted text in messages. A config line, a template member name or a path from inside a
//! container can hold terminal escape sequences, bytes that are not UTF-8, or megabytes of
//! text; echoed raw, it could rewrite the user's terminal or drown the message. This module
//! owns the one way such text is shown.

/// The most characters of untrusted text a message shows; the rest is cut with `...`.
pub const MESSAGE_LIMIT: usize = 256;

/// `raw` as a message may show it: control characters, backslashes, Unicode direction
/// overrides and bytes that are not UTF-8 escaped (`\n`, `\\`, `\e`-style `\x1b`,
/// `\u{202e}`, `\xe9`), and everything past [`MESSAGE_LIMIT`] characters cut with `...`.
/// Plain printable text comes out unchanged, so pct's messages read as pct prints them.
pub fn for_message(raw: impl AsRef<[u8]>) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for chunk in raw.as_ref().utf8_chunks() {
        for c in chunk.valid().chars() {
            if shown == MESSAGE_LIMIT {
                out.push_str("...");
                return out;
            }
            push_char(&mut out, c);
            shown += 1;
        }
        for byte in chunk.invalid() {
            if shown == MESSAGE_LIMIT {
                out.push_str("...");
                return out;
            }
            out.push_str(&format!("\\x{byte:02x}"));
            shown += 1;
        }
    }
    out
}

/// [`for_message`] without the cut, for a caller that shortens the text its own way (a
/// long path keeps its end).
pub fn escape(raw: impl AsRef<[u8]>) -> String {
    let mut out = String::new();
    for chunk in raw.as_ref().utf8_chunks() {
        chunk.valid().chars().for_each(|c| push_char(&mut out, c));
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() || is_direction_control(c) => {
            out.push_str(&format!("\\u{{{:x}}}", c as u32))
        }
        c => out.push(c),
    }
}

/// Characters that reorder the text around them on a terminal (bidi embeddings, overrides
/// and isolates, and the marks), so a name could show as something else.
fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(for_message("memory: 512"), "memory: 512");
        assert_eq!(for_message("café ünïcode"), "café ünïcode");
        assert_eq!(for_message(""), "");
    }

    #[test]
    fn controls_backslashes_and_bad_bytes_are_escaped() {
        assert_eq!(for_message(b"caf\xe9"), "caf\\xe9");
        assert_eq!(
            for_message("a\x1b[2Jb\nc\td\re\x7f"),
            "a\\x1b[2Jb\\nc\\td\\re\\x7f"
        );
        assert_eq!(for_message("a\\x1b"), "a\\\\x1b");
        assert_eq!(for_message("\u{9b}\u{202e}txt"), "\\u{9b}\\u{202e}txt");
        assert_eq!(for_message(b"\xff\xfe\x00"), "\\xff\\xfe\\x00");
        assert_eq!(escape(b"caf\xe9\x1b"), "caf\\xe9\\x1b");
    }

    #[test]
    fn long_text_is_cut() {
        let long = "x".repeat(10 << 20);
        let shown = for_message(&long);
        assert_eq!(shown, format!("{}...", "x".repeat(MESSAGE_LIMIT)));
        assert_eq!(
            for_message("y".repeat(MESSAGE_LIMIT)),
            "y".repeat(MESSAGE_LIMIT)
        );
        // Escapes count as one character each, and bad bytes too.
        let bytes = vec![0xffu8; 1000];
        let shown = for_message(&bytes);
        assert_eq!(shown, format!("{}...", "\\xff".repeat(MESSAGE_LIMIT)));
    }
}
