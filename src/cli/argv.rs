//! pct accepts `-memory 512` as well as `--memory 512`; clap only the latter. Rewrite
//! single-dash long options before parsing.

/// Rewrite `-name` (more than one letter) to `--name`; leave short flags, negative numbers,
/// `--` and everything after it alone.
pub fn normalize(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        if passthrough || arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let is_single_dash_long = arg.starts_with('-')
            && !arg.starts_with("--")
            && arg.len() > 2
            && arg[1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic());
        if is_single_dash_long {
            out.push(format!("-{arg}"));
        } else {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn single_dash_long_options_become_double_dash() {
        assert_eq!(
            norm(&["pct", "set", "100", "-memory", "512"]),
            ["pct", "set", "100", "--memory", "512"]
        );
        assert_eq!(norm(&["-delete=swap"]), ["--delete=swap"]);
    }

    #[test]
    fn short_flags_numbers_and_passthrough_stay() {
        assert_eq!(norm(&["-v", "--memory", "-1"]), ["-v", "--memory", "-1"]);
        assert_eq!(norm(&["--", "-memory"]), ["--", "-memory"]);
    }
}
