//! The raw command line: pct accepts `-memory 512` as well as `--memory 512` (clap only the
//! latter), and arguments are bytes, not text. Single-dash long options are rewritten before
//! parsing; values that must be text are checked for UTF-8 with a pct-style message, while
//! paths and the command of `pct exec` stay byte strings.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, Command};

/// Rewrite `-name` (more than one letter) to `--name`; leave short flags, negative numbers,
/// `--` and everything after it alone.
pub fn normalize<I>(args: I) -> Vec<OsString>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        let arg: OsString = arg.into();
        let bytes = arg.as_bytes();
        if passthrough || bytes == b"--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let is_single_dash_long =
            bytes.len() > 2 && bytes[0] == b'-' && bytes[1].is_ascii_alphabetic();
        if is_single_dash_long {
            let mut long = OsString::from("-");
            long.push(&arg);
            out.push(long);
        } else {
            out.push(arg);
        }
    }
    out
}

/// An abbreviation that fits several of pct's option names, as Getopt::Long reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    /// The subcommand, empty before it.
    pub command: String,
    pub option: String,
    pub candidates: Vec<String>,
}

impl std::fmt::Display for Ambiguous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Option {} is ambiguous ({})",
            self.option,
            self.candidates.join(", ")
        )
    }
}

/// The option names a command knows: pct's (its API schema) and corral's own.
pub struct OptionNames {
    pub pct: Vec<String>,
    pub corral: Vec<String>,
}

/// Complete abbreviated long options as pct's Getopt::Long does (case-insensitive, an exact
/// name first, else the one name the abbreviation starts), over pct's names for the command
/// first, so that an abbreviation means in corral what it means in pct; only one that fits
/// none of pct's names is completed over corral's own options. Anything else is left to clap.
pub fn expand_prefixes(
    args: Vec<OsString>,
    names_for: impl Fn(&str) -> OptionNames,
) -> Result<Vec<OsString>, Ambiguous> {
    let mut out = Vec::with_capacity(args.len());
    let mut words = args.into_iter();
    out.extend(words.next());
    let mut command: Option<String> = None;
    let mut names = names_for("");
    while let Some(raw) = words.next() {
        if raw == "--" {
            out.push(raw);
            out.extend(words.by_ref());
            break;
        }
        // Option names are text; a word that is not (a value, a path) passes as it is.
        let Some(word) = raw.to_str() else {
            out.push(raw);
            continue;
        };
        let Some(long) = word.strip_prefix("--").filter(|l| !l.is_empty()) else {
            if command.is_none() && !word.starts_with('-') {
                names = names_for(word);
                command = Some(word.to_string());
            }
            out.push(raw);
            continue;
        };
        let (name, value) = match long.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (long, None),
        };
        let resolved = resolve(name, &names).map_err(|candidates| Ambiguous {
            command: command.clone().unwrap_or_default(),
            option: name.to_lowercase(),
            candidates,
        })?;
        let takes_next = command.is_none() && resolved == "root" && value.is_none();
        out.push(OsString::from(match value {
            Some(value) => format!("--{resolved}={value}"),
            None => format!("--{resolved}"),
        }));
        // `--root DIR` before the subcommand: DIR is no subcommand.
        if takes_next {
            out.extend(words.next());
        }
    }
    Ok(out)
}

/// The full option name `typed` stands for; the candidates when it is ambiguous.
fn resolve(typed: &str, names: &OptionNames) -> Result<String, Vec<String>> {
    let wanted = typed.to_lowercase();
    let all = names.pct.iter().chain(&names.corral);
    if let Some(exact) = all.clone().find(|name| name.to_lowercase() == wanted) {
        return Ok(exact.clone());
    }
    for list in [&names.pct, &names.corral] {
        let mut hits: Vec<&String> = list
            .iter()
            .filter(|name| name.to_lowercase().starts_with(&wanted))
            .collect();
        hits.sort();
        hits.dedup();
        match hits.as_slice() {
            [] => continue,
            [one] => return Ok((*one).clone()),
            many => return Err(many.iter().map(|name| name.to_lowercase()).collect()),
        }
    }
    Ok(typed.to_string())
}

/// The arguments that are byte strings: the host root, files to read, the template (a path
/// or a volume id) and the command `pct exec` runs. Every other value must be text.
pub fn accept_byte_strings(command: Command) -> Command {
    command
        .mut_arg("root", |arg| arg.value_parser(clap::value_parser!(PathBuf)))
        .mut_subcommands(|sub| {
            let sub = sub.mut_args(require_text);
            match sub.get_name() {
                "exec" => sub.mut_arg("extra-args", |arg| {
                    arg.value_parser(clap::value_parser!(OsString))
                }),
                "create" => sub
                    .mut_arg("ostemplate", |arg| {
                        arg.value_parser(clap::value_parser!(OsString))
                    })
                    .mut_arg("ssh-public-keys", |arg| {
                        arg.value_parser(clap::value_parser!(PathBuf))
                    }),
                _ => sub,
            }
        })
}

/// Give an argument that takes free text (clap's default parser) the UTF-8 check of
/// [`Text`]; arguments with their own parser or a list of choices keep it.
fn require_text(arg: Arg) -> Arg {
    let default_parser = arg.get_value_parser().type_id()
        == clap::builder::ValueParser::string().type_id()
        && arg.get_possible_values().is_empty();
    if default_parser {
        arg.value_parser(Text)
    } else {
        arg
    }
}

/// A value that must be text. Not UTF-8 is a parameter error naming the argument, as pct
/// reports a value its schema refuses: `vmid: value is not valid UTF-8 - got 'caf\xe9'`.
#[derive(Clone, Copy)]
struct Text;

impl TypedValueParser for Text {
    type Value = String;

    fn parse_ref(
        &self,
        _command: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        match value.to_str() {
            Some(text) => Ok(text.to_string()),
            None => {
                let name = arg.map(|a| a.get_id().as_str()).unwrap_or("value");
                Err(clap::Error::raw(
                    ErrorKind::ValueValidation,
                    format!(
                        "{name}: value is not valid UTF-8 - got '{}'\n",
                        crate::text::for_message(value.as_bytes())
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<OsString> {
        normalize(args.iter().copied())
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

    #[test]
    fn bytes_that_are_not_utf8_pass_unchanged() {
        let odd = OsStr::from_bytes(b"caf\xe9");
        let dashed = OsStr::from_bytes(b"-caf\xe9");
        assert_eq!(
            normalize([OsStr::new("pct"), odd, dashed, OsStr::new("--"), dashed]),
            [
                OsStr::new("pct"),
                odd,
                OsStr::from_bytes(b"--caf\xe9"),
                OsStr::new("--"),
                dashed
            ]
        );
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;

    fn names(command: &str) -> OptionNames {
        let (pct, corral): (&[&str], &[&str]) = match command {
            "start" => (
                &["vmid", "skiplock", "debug"],
                &[
                    "root",
                    "help",
                    "skiplock",
                    "debug",
                    "dry-run",
                    "strict-limits",
                ],
            ),
            "shutdown" => (&["vmid", "timeout", "forceStop"], &["root", "help"]),
            _ => (&[], &["root", "help", "version"]),
        };
        OptionNames {
            pct: pct.iter().map(|s| s.to_string()).collect(),
            corral: corral.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn expand(args: &[&str]) -> Result<Vec<OsString>, Ambiguous> {
        expand_prefixes(args.iter().map(OsString::from).collect(), names)
    }

    #[test]
    fn pct_names_win_over_corral_extensions() {
        // `--d` is debug in pct; corral's --dry-run must not make it ambiguous or take it.
        assert_eq!(
            expand(&["pct", "start", "100", "--d", "--s=1"]).unwrap(),
            ["pct", "start", "100", "--debug", "--skiplock=1"]
        );
        assert_eq!(
            expand(&["pct", "start", "100", "--dr", "--str"]).unwrap(),
            ["pct", "start", "100", "--dry-run", "--strict-limits"]
        );
        assert_eq!(
            expand(&["pct", "shutdown", "100", "--FORCESTOP", "--t", "5"]).unwrap(),
            ["pct", "shutdown", "100", "--forceStop", "--timeout", "5"]
        );
    }

    #[test]
    fn ambiguity_and_unknowns() {
        let err = expand(&["pct", "start", "100", "--x", "--s"]);
        assert_eq!(err.unwrap(), ["pct", "start", "100", "--x", "--skiplock"]);
        let names = |_: &str| OptionNames {
            pct: vec!["verbose".into(), "vmid".into()],
            corral: vec![],
        };
        let err = expand_prefixes(
            ["pct", "status", "100", "--v"].map(OsString::from).to_vec(),
            names,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "Option v is ambiguous (verbose, vmid)");
    }

    #[test]
    fn global_root_and_passthrough() {
        assert_eq!(
            expand(&["pct", "--ro", "/x", "start", "100", "--", "--d"]).unwrap(),
            ["pct", "--root", "/x", "start", "100", "--", "--d"]
        );
    }
}
