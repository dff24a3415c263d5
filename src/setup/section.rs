//! pct's managed sections: the lines between `# --- BEGIN PVE ---` and `# --- END PVE ---`
//! that setup owns inside files the guest also edits. Pure text in, text out; the quirks
//! (where blank lines appear, when a file is removed) are pct's, kept on purpose.

pub const BEGIN: &str = "# --- BEGIN PVE ---";
pub const END: &str = "# --- END PVE ---";

/// Where a new section goes in a file that has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Placement {
    #[default]
    Append,
    Prepend,
    /// The section becomes the whole file.
    Replace,
}

/// What to do with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    Remove,
    /// Write `text`; `with_perms` says whether pct passes its file mode along (it does for
    /// a file written whole, not when it splices into an existing section).
    Write {
        text: String,
        with_perms: bool,
    },
}

fn is_begin(line: &str) -> bool {
    // /^#\s*---\s*BEGIN\s*PVE/
    let Some(rest) = line.strip_prefix('#') else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix("---") else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix("BEGIN") else {
        return false;
    };
    rest.trim_start().starts_with("PVE")
}

fn is_end(line: &str) -> bool {
    // /^#\s*---\s*END\s*PVE/i
    let lower = line.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix('#') else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix("---") else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix("end") else {
        return false;
    };
    rest.trim_start().starts_with("pve")
}

/// Perl's `split(/\n/, $text)`: trailing empty fields are dropped.
pub fn perl_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    while lines.last() == Some(&"") {
        lines.pop();
    }
    lines
}

/// The new state of a file whose current text is `existing` (`None`: no such file) after
/// its section is set to `data`.
pub fn modify_section(
    existing: Option<&str>,
    data: &str,
    placement: Placement,
    delete: bool,
) -> Outcome {
    let mut data = data.to_string();
    if !data.is_empty() && !data.ends_with('\n') {
        data.push('\n');
    }
    let head = format!("{BEGIN}\n");
    let tail = format!("{END}\n");
    let Some(existing) = existing else {
        if data.is_empty() {
            return Outcome::Unchanged;
        }
        return Outcome::Write {
            text: format!("{head}{data}{tail}"),
            with_perms: true,
        };
    };
    let mut lines: Vec<String> = perl_lines(existing).into_iter().map(String::from).collect();
    let begin = lines.iter().position(|line| is_begin(line));
    let end = begin.and_then(|begin| {
        lines[begin..]
            .iter()
            .position(|line| is_end(line))
            .map(|offset| begin + offset)
    });
    if let (Some(begin), Some(end)) = (begin, end) {
        let block = if data.is_empty() {
            if begin == 0 && end == lines.len() - 1 {
                return if delete {
                    Outcome::Remove
                } else {
                    Outcome::Unchanged
                };
            }
            // pct keeps the tail's newline here, leaving a blank line after the section.
            format!("{head}{tail}")
        } else {
            format!("{head}{data}{END}")
        };
        lines.splice(begin..=end, [block]);
        return Outcome::Write {
            text: lines.join("\n") + "\n",
            with_perms: false,
        };
    }
    if data.is_empty() {
        return Outcome::Unchanged;
    }
    let content = lines.join("\n") + "\n";
    let block = format!("{head}{data}{tail}");
    let text = match placement {
        Placement::Replace => block,
        Placement::Prepend => block + &content,
        Placement::Append => content + &block,
    };
    Outcome::Write {
        text,
        with_perms: true,
    }
}

fn starts_with_marker(line: &str, marker: &str) -> bool {
    line.trim_start_matches([' ', '\t']).starts_with(marker)
}

/// `text` without its managed sections, as pct's `remove_pve_sections`: from a line starting
/// with the begin marker to the end of the *last* line starting with the end marker after it.
pub fn remove_sections(text: &str) -> String {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i <= text.len())
        .collect();
    let line_at = |start: usize| -> &str {
        let rest = &text[start..];
        rest.split('\n').next().unwrap_or("")
    };
    let mut out = String::new();
    let mut copied_to = 0;
    let mut index = 0;
    while index < line_starts.len() {
        let start = line_starts[index];
        if start < copied_to || !starts_with_marker(line_at(start), BEGIN) {
            index += 1;
            continue;
        }
        let marker_end = start + line_at(start).find(BEGIN).unwrap() + BEGIN.len();
        let last_end = line_starts
            .iter()
            .enumerate()
            .rev()
            .find(|&(_, &s)| s >= marker_end && starts_with_marker(line_at(s), END))
            .map(|(i, &s)| (i, s));
        let Some((end_index, end_start)) = last_end else {
            index += 1;
            continue;
        };
        out.push_str(&text[copied_to..start]);
        copied_to = end_start + line_at(end_start).len();
        index = end_index + 1;
    }
    out.push_str(&text[copied_to..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(outcome: Outcome) -> String {
        match outcome {
            Outcome::Write { text, .. } => text,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn new_file_gets_a_section() {
        assert_eq!(
            write(modify_section(None, "a", Placement::Append, false)),
            "# --- BEGIN PVE ---\na\n# --- END PVE ---\n"
        );
        assert_eq!(
            modify_section(None, "", Placement::Append, false),
            Outcome::Unchanged
        );
    }

    #[test]
    fn placements_without_a_section() {
        let old = "x\ny\n\n\n";
        assert_eq!(
            write(modify_section(Some(old), "a\n", Placement::Append, false)),
            "x\ny\n# --- BEGIN PVE ---\na\n# --- END PVE ---\n"
        );
        assert_eq!(
            write(modify_section(Some(old), "a\n", Placement::Prepend, false)),
            "# --- BEGIN PVE ---\na\n# --- END PVE ---\nx\ny\n"
        );
        assert_eq!(
            write(modify_section(Some(old), "a\n", Placement::Replace, false)),
            "# --- BEGIN PVE ---\na\n# --- END PVE ---\n"
        );
        assert_eq!(
            write(modify_section(Some(""), "a\n", Placement::Append, false)),
            "\n# --- BEGIN PVE ---\na\n# --- END PVE ---\n"
        );
        assert_eq!(
            modify_section(Some(old), "", Placement::Append, true),
            Outcome::Unchanged
        );
    }

    #[test]
    fn existing_section_is_replaced_in_place() {
        let old = "x\n#---BEGIN PVE---\nold\n# --- end pve ---\ny\n";
        let outcome = modify_section(Some(old), "new\n", Placement::Prepend, false);
        assert_eq!(
            outcome,
            Outcome::Write {
                text: "x\n# --- BEGIN PVE ---\nnew\n# --- END PVE ---\ny\n".into(),
                with_perms: false
            }
        );
        // Emptied: the markers stay, followed by a blank line, as pct leaves them.
        assert_eq!(
            write(modify_section(Some(old), "", Placement::Append, true)),
            "x\n# --- BEGIN PVE ---\n# --- END PVE ---\n\ny\n"
        );
        // A file that was only the section goes away in delete mode, else stays.
        let only = "# --- BEGIN PVE ---\nold\n# --- END PVE ---\n";
        assert_eq!(
            modify_section(Some(only), "", Placement::Prepend, true),
            Outcome::Remove
        );
        assert_eq!(
            modify_section(Some(only), "", Placement::Prepend, false),
            Outcome::Unchanged
        );
        // Running twice changes nothing more.
        let once = write(modify_section(Some(old), "new\n", Placement::Append, false));
        assert_eq!(
            write(modify_section(
                Some(&once),
                "new\n",
                Placement::Append,
                false
            )),
            once
        );
    }

    #[test]
    fn begin_without_end_counts_as_no_section() {
        let old = "# --- BEGIN PVE ---\nstray\n";
        assert_eq!(
            write(modify_section(Some(old), "a\n", Placement::Append, false)),
            "# --- BEGIN PVE ---\nstray\n# --- BEGIN PVE ---\na\n# --- END PVE ---\n"
        );
    }

    #[test]
    fn removing_sections_is_greedy_to_the_last_end() {
        let text = "a\n# --- BEGIN PVE ---\nb\n# --- END PVE ---\nc\n  # --- END PVE --- x\nd\n";
        assert_eq!(remove_sections(text), "a\n\nd\n");
        assert_eq!(
            remove_sections("a\n# --- BEGIN PVE ---\nb\n"),
            "a\n# --- BEGIN PVE ---\nb\n"
        );
        assert_eq!(remove_sections("plain\n"), "plain\n");
    }
}
