//! The repository stands alone: a clone with nothing beside it builds, tests
//! and documents itself. A test, script or doc that reads a folder next to
//! the repo passes on a machine that happens to have one and fails on every
//! fresh clone, so these checks keep such paths from coming back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Folders the check does not read: build output, packages, VCS data.
const SKIP: &[&str] = &[
    "target",
    "dist",
    ".git",
    ".venv",
    ".venv-batch14",
    "__pycache__",
];

fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !SKIP.contains(&name.as_str()) {
                text_files(&path, out);
            }
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            // Lock files name crates, never paths; binaries fail to read as text.
            if name != "Cargo.lock" && !text.is_empty() {
                out.push(path);
            }
        }
    }
}

#[test]
fn nothing_reads_a_folder_beside_the_repo() {
    // Built at run time so this file does not match itself.
    let parent = format!("..{}", '/');
    let needles = [
        format!("{parent}shared"),
        format!("shared{}fixtures", '/'),
        format!("shared{}design", '/'),
    ];
    let mut files = Vec::new();
    text_files(&repo(), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("README.md")) && files.len() > 20,
        "the walk found the repo's files: {files:?}"
    );
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle.as_str())) {
                let relative = file.strip_prefix(repo()).unwrap().display().to_string();
                found.push(format!("{relative}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "paths outside the repository (copy what is needed into it):\n{}",
        found.join("\n")
    );
}

/// The recorded bodies the tests read live in the repo, and the README that
/// says where each came from covers exactly the files that are there.
#[test]
fn recorded_fixtures_are_in_the_repo_with_their_provenance() {
    let dir = repo().join("tests/fixtures/batch-recorded");
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    assert!(present.len() >= 19, "{present:?}");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    // Rows of the provenance table: "| `file.json` | source | ...".
    let listed: BTreeSet<String> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|name| name.ends_with(".json"))
        .map(str::to_owned)
        .collect();
    assert_eq!(present, listed, "README.md rows vs files present");
    for name in &present {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
    }
}
