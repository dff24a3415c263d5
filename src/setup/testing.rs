//! Fixture roots for the setup tests: a temporary directory with `etc/` and the given files.

use std::fs;

/// A guest root holding `files` (paths with or without a leading slash).
pub(crate) fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    for (path, content) in files {
        let full = dir.path().join(path.trim_start_matches('/'));
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, content).unwrap();
    }
    dir
}

/// The message of a step that must have failed, as pct prints it.
#[track_caller]
pub(crate) fn error_text<T>(result: Result<T, super::SetupError>) -> String {
    match result {
        Ok(_) => panic!("the step succeeded"),
        Err(error) => error.to_string(),
    }
}
