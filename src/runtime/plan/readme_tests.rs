//! The README's Security section lists the masked and read-only paths; these tests keep
//! that list and the plan's the same.

use super::{MASKED_PATHS, READONLY_PATHS};

const README: &str = include_str!("../../../README.md");

/// The "Masked paths" bullet of the Security section, as one line.
fn masked_paths_bullet() -> String {
    let section = README
        .split("\n## Security\n")
        .nth(1)
        .expect("README has a Security section");
    let start = section
        .find("- **Masked paths**")
        .expect("the Security section has a Masked paths bullet");
    let bullet = &section[start..];
    let end = bullet[2..].find("\n- ").map_or(bullet.len(), |i| i + 2);
    bullet[..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The backticked paths of `text`, where a bare name (`keys`) lies in the directory of the
/// full path before it (`/proc/kcore`).
fn paths(text: &str) -> Vec<String> {
    let mut directory = String::new();
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|token| {
            if token.starts_with('/') {
                directory = token[..token.rfind('/').unwrap()].to_string();
                token.to_string()
            } else {
                format!("{directory}/{token}")
            }
        })
        .collect()
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list
}

fn plan_list(list: &[&str]) -> Vec<String> {
    sorted(list.iter().map(|p| p.to_string()).collect())
}

#[test]
fn the_readme_lists_the_masked_paths_of_the_plan() {
    let bullet = masked_paths_bullet();
    // "`/proc/kcore`, `kallsyms`, ... are covered by ...; so are `/sys/firmware`, ... ."
    let (first, rest) = bullet
        .split_once(" are covered by ")
        .expect("the bullet says what covers the masked paths");
    let (_, rest) = rest
        .split_once("so are ")
        .expect("the bullet goes on with 'so are'");
    let second = &rest[..rest.find(". ").expect("the sentence ends")];
    let mut listed = paths(first.split_once(':').map_or(first, |(_, list)| list));
    listed.extend(paths(second));
    assert_eq!(sorted(listed), plan_list(MASKED_PATHS), "README:\n{bullet}");
}

#[test]
fn the_readme_lists_the_read_only_paths_of_the_plan() {
    let bullet = masked_paths_bullet();
    let sentence = bullet
        .split(". ")
        .find(|s| s.contains(" are read-only besides "))
        .expect("the bullet lists the read-only paths");
    let (list, _) = sentence.split_once(" are read-only besides ").unwrap();
    assert_eq!(
        sorted(paths(list)),
        plan_list(READONLY_PATHS),
        "README:\n{bullet}"
    );
}

#[test]
fn paths_take_the_directory_of_the_full_path_before_them() {
    assert_eq!(
        paths("`/proc/kcore`, `keys` and `/sys/firmware`"),
        ["/proc/kcore", "/proc/keys", "/sys/firmware"]
    );
}
