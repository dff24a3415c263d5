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
