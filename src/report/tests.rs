use super::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[test]
fn an_observer_hears_every_event_in_order_and_none_hears_nothing() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let observer = Observer::new(move |event| sink.lock().unwrap().push(event.clone()));
    observer.info("extracting archive 'x'");
    observer.warning("WARN: w");
    observer.emit(Event::Progress { done: 1, total: 2 });
    assert_eq!(
        *heard.lock().unwrap(),
        [
            Event::Info("extracting archive 'x'".into()),
            Event::Warning("WARN: w".into()),
            Event::Progress { done: 1, total: 2 },
        ]
    );
    assert!(observer.is_listening());
    let silent = Observer::none();
    silent.info("nobody hears this");
    assert!(!silent.is_listening());
}

/// The print macros the library must not use: it reports through an [`Observer`] instead.
const PRINT_MACROS: [&str; 5] = ["println!", "print!", "eprintln!", "eprint!", "dbg!"];

/// The print macros called in `text`, by line number. Comments are not code; the first
/// character before a macro name must not continue an identifier (`writeln!` is fine).
fn print_calls(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for name in PRINT_MACROS {
            for (at, _) in code.match_indices(name) {
                let before = code[..at].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    found.push((number + 1, line.trim().to_string()));
                }
            }
        }
    }
    found
}

/// `text` with its `#[cfg(test)]` items written inline (`mod tests { ... }`, test-only
/// functions) blanked out, found by counting braces from the item after the attribute; and
/// the files of the test modules it declares (`#[cfg(test)] mod tests;`), relative to
/// `dir`, the directory its child modules live in.
fn without_test_code(text: &str, dir: &Path) -> (String, Vec<PathBuf>) {
    let mut kept = String::new();
    let mut test_files = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            kept.push_str(line);
            kept.push('\n');
            continue;
        }
        // Blank lines in place of test code keep the line numbers right.
        kept.push('\n');
        // The item the attribute is on: through its closing brace, or a `mod name;`.
        let mut depth = 0i64;
        let mut opened = false;
        for item_line in lines.by_ref() {
            kept.push('\n');
            let trimmed = item_line.trim();
            if !opened
                && let Some(name) = trimmed
                    .trim_start_matches("pub(crate) ")
                    .strip_prefix("mod ")
                    .and_then(|rest| rest.strip_suffix(';'))
            {
                test_files.push(dir.join(format!("{name}.rs")));
                test_files.push(dir.join(name));
                break;
            }
            for c in item_line.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (opened && depth <= 0) || (!opened && trimmed.ends_with(';')) {
                break;
            }
        }
    }
    (kept, test_files)
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// Every print macro outside the CLI, `main.rs` and test code, as `file:line: code`.
fn library_print_calls(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut test_only: Vec<PathBuf> = Vec::new();
    let mut code = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.file_stem().unwrap();
        let dir = if name == "mod" || name == "lib" || name == "main" {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        let (kept, tests) = without_test_code(&text, &dir);
        test_only.extend(tests);
        code.push((file, kept));
    }
    let mut found = Vec::new();
    for (file, kept) in code {
        let relative = file.strip_prefix(src).unwrap();
        if relative.starts_with("cli")
            || relative == Path::new("main.rs")
            || test_only.iter().any(|t| file.starts_with(t))
        {
            continue;
        }
        for (line, text) in print_calls(&kept) {
            found.push(format!("src/{}:{line}: {text}", relative.display()));
        }
    }
    found
}

#[test]
fn the_library_has_no_print_macro_outside_test_code() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = library_print_calls(&src);
    assert!(
        found.is_empty(),
        "the library prints; report through an Observer instead:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_print_check_finds_prints_and_skips_comments_and_test_code() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("cli")).unwrap();
    std::fs::create_dir_all(src.join("host")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "//! println!(\"doc\")\nmod host;\n#[cfg(test)]\nmod skip;\nfn f() {\n    eprint!(\"x\");\n}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("skip.rs"),
        "fn g() { eprintln!(\"test only\"); }\n",
    )
    .unwrap();
    std::fs::write(src.join("main.rs"), "fn main() { println!(\"ok\"); }\n").unwrap();
    std::fs::write(src.join("cli/mod.rs"), "fn h() { println!(\"ok\"); }\n").unwrap();
    std::fs::write(
        src.join("host/mod.rs"),
        "fn a() { writeln!(out, \"ok\"); }\n\
         #[cfg(test)]\nmod tests {\n    fn t() { println!(\"{}\", 1); }\n}\n\
         fn b() { println!(\"late\"); }\n",
    )
    .unwrap();
    assert_eq!(
        library_print_calls(src),
        [
            "src/host/mod.rs:6: fn b() { println!(\"late\"); }",
            "src/lib.rs:6: eprint!(\"x\");",
        ]
    );
}
