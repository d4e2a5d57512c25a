//! The Function App zip: built by `scripts/package.sh --binary` from the
//! binary cargo just built (the full musl build runs once in `.ci/run`), then
//! opened with the `zip` crate, a reader independent of the script's Python
//! writer, to check the layout the Functions host expects and that the
//! packaged binary runs.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Top-level folders holding a function.json: what the host loads.
fn function_folders(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("function.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn zip_has_the_functions_layout_and_a_binary_that_runs() {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("package-test");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let zip_path = work.join("app.zip");
    let output = Command::new("bash")
        .arg(repo().join("scripts/package.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_pool-resizer"), "--out"])
        .arg(&zip_path)
        .output()
        .expect("bash runs scripts/package.sh (it needs python3)");
    assert!(
        output.status.success(),
        "package.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        zip_path.to_string_lossy(),
        "stdout is the zip's path, for scripts"
    );

    let host: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("host.json")).unwrap()).unwrap();
    let exe = host["customHandler"]["description"]["defaultExecutablePath"]
        .as_str()
        .unwrap();
    assert_eq!(exe, "pool-resizer");

    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let names: BTreeSet<String> = archive
        .file_names()
        .map(|name| name.expect("entry name").into_owned())
        .collect();
    let folders = function_folders(&repo());
    assert!(folders.len() >= 3, "function folders: {folders:?}");
    let mut expected: BTreeSet<String> = [exe.to_owned(), "host.json".to_owned()].into();
    for folder in &folders {
        for entry in std::fs::read_dir(repo().join(folder)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            expected.insert(format!("{folder}/{name}"));
        }
    }
    assert_eq!(
        names, expected,
        "exactly the app: nothing missing, nothing extra"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("target/")
            || n.contains("local.settings.json")
            || n.ends_with(".rs")),
        "{names:?}"
    );

    let mut binary = archive.by_name(exe).unwrap();
    assert_eq!(
        binary.unix_mode().map(|m| m & 0o777),
        Some(0o755),
        "the host needs the execute bit"
    );
    let mut bytes = Vec::new();
    binary.read_to_end(&mut bytes).unwrap();
    drop(binary);
    let extracted = work.join(exe);
    std::fs::write(&extracted, &bytes).unwrap();
    std::fs::set_permissions(&extracted, std::fs::Permissions::from_mode(0o755)).unwrap();
    let version = Command::new(&extracted).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("pool-resizer {}", env!("CARGO_PKG_VERSION"))
    );

    let mut host_in_zip = String::new();
    archive
        .by_name("host.json")
        .unwrap()
        .read_to_string(&mut host_in_zip)
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&host_in_zip).unwrap(),
        host
    );
}
