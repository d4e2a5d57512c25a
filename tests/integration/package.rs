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
    // The sizes it prints are the files' own: what docs may quote.
    let mib = |path: &Path| std::fs::metadata(path).unwrap().len() as f64 / f64::from(1 << 20);
    let sizes = format!(
        "package.sh: binary {:.2} MiB, zip {:.2} MiB",
        mib(Path::new(env!("CARGO_BIN_EXE_pool-resizer"))),
        mib(&zip_path)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.lines().any(|l| l == sizes), "{sizes}\n{stderr}");

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

/// `func azure functionapp publish` packs the repository root minus
/// `.funcignore`: every top-level entry but the app itself must be listed
/// there, or it is uploaded with the app. Entries `.gitignore` keeps out of
/// a checkout (target/, dist/, ...) are left to it.
#[test]
fn funcignore_leaves_out_everything_but_the_app() {
    let root = repo();
    let patterns = |file: &str| -> Vec<String> {
        std::fs::read_to_string(root.join(file))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.trim_start_matches('/').trim_end_matches('/').to_owned())
            .collect()
    };
    let matches =
        |pattern: &str, name: &str| match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
            (Some(suffix), _) => name.ends_with(suffix),
            (_, Some(prefix)) => name.starts_with(prefix),
            _ => name == pattern,
        };
    let ignored = patterns(".funcignore");
    let untracked = patterns(".gitignore");
    let app = function_folders(&root);
    let mut uploaded = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let is_app = name == "host.json" || app.contains(&name);
        let left_out = ignored.iter().any(|p| matches(p, &name));
        let not_in_a_checkout = untracked.iter().any(|p| matches(p, &name));
        if !is_app && !left_out && !not_in_a_checkout {
            uploaded.push(name);
        }
    }
    assert!(
        uploaded.is_empty(),
        ".funcignore does not leave out {uploaded:?}"
    );
}
