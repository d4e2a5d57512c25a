//! Where `dev` keeps the CA its simulator's certificate is signed with.
//!
//! The `export ...` line `dev` prints names a CA file (`BATCH_CA_FILE`) and
//! the simulator's endpoint. A second terminal holds that line while `dev` is
//! restarted (docs/schedules.md restarts it with other settings), so both
//! must survive a restart: the CA lives in the user's cache directory,
//! `$XDG_CACHE_HOME/pool-resizer/dev-ca/` or `~/.cache/pool-resizer/dev-ca/`,
//! made once and reused, and the simulator takes the same port each time
//! when it is free (`super::DEFAULT_SIMULATOR_PORT`).
//!
//! What it holds cannot do harm elsewhere: the directory and the key are
//! readable by their owner only, and the CA may vouch for the loopback names
//! only (the simulator's name constraints), so even its key, read off the
//! disk, cannot impersonate another host. Without a home directory (no
//! `HOME`, no `XDG_CACHE_HOME`) the CA is made for this run only, in the
//! temp directory, and removed at exit.

use batch_simulator::CaPair;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CA certificate, what `BATCH_CA_FILE` names.
const CERT: &str = "ca.pem";
/// Its private key, owner-readable only.
const KEY: &str = "ca-key.pem";

/// The CA of this `dev` run and the file clients trust it from.
pub(crate) struct DevCa {
    pub(crate) pair: CaPair,
    /// The CA certificate's file: what the export line's `BATCH_CA_FILE` says.
    pub(crate) file: PathBuf,
    /// Kept for the next run; `false`: this run's own, removed at exit.
    pub(crate) kept: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("dev's CA in {dir}: {problem}")]
/// The CA could not be kept where it belongs.
pub struct CaError {
    dir: PathBuf,
    problem: String,
}

impl DevCa {
    /// The user's kept CA (made on first use), or one for this run only
    /// when there is no home directory to keep it in.
    pub(crate) fn for_user(env: impl Fn(&str) -> Option<String>) -> Result<Self, CaError> {
        match kept_dir(env) {
            Some(dir) => Ok(DevCa {
                pair: load_or_create(&dir)?,
                file: dir.join(CERT),
                kept: true,
            }),
            None => {
                let file = std::env::temp_dir()
                    .join(format!("pool-resizer-dev-ca-{}.pem", std::process::id()));
                let fail = |problem: String| CaError {
                    dir: std::env::temp_dir(),
                    problem,
                };
                let pair = CaPair::generate().map_err(|e| fail(e.to_string()))?;
                std::fs::write(&file, &pair.cert_pem)
                    .map_err(|e| fail(format!("writing {}: {e}", file.display())))?;
                Ok(DevCa {
                    pair,
                    file,
                    kept: false,
                })
            }
        }
    }

    /// At exit: a CA made for this run only goes; a kept one stays for the
    /// next run (and the export lines that name it).
    pub(crate) fn release(self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

/// `$XDG_CACHE_HOME/pool-resizer/dev-ca`, else `$HOME/.cache/pool-resizer/dev-ca`.
pub(crate) fn kept_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
    };
    let cache = set("XDG_CACHE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|home| home.join(".cache")))?;
    Some(cache.join("pool-resizer").join("dev-ca"))
}

/// The CA kept in `dir`, or a new one written there. Two `dev`s starting at
/// once agree: a new CA is written whole into a directory of its own, then
/// renamed into place, and the loser of that rename takes the winner's.
pub(crate) fn load_or_create(dir: &Path) -> Result<CaPair, CaError> {
    let fail = |problem: String| CaError {
        dir: dir.to_owned(),
        problem,
    };
    if let Some(pair) = load(dir) {
        return Ok(pair);
    }
    // Left broken (a disk full, a hand edit): start again. A directory that
    // was missing is not removed: another dev may have placed one since.
    if dir.exists() {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(format!("cannot replace it: {e}"))),
        }
    }
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|e| fail(format!("cannot create it: {e}")))?;
    let partial = parent.join(format!(
        "dev-ca.{}-{:08x}.partial",
        std::process::id(),
        rand::random::<u32>()
    ));
    let pair = CaPair::generate().map_err(|e| fail(e.to_string()))?;
    let written = write_private_dir(&partial, &pair);
    let placed = written.and_then(|()| std::fs::rename(&partial, dir));
    if let Err(e) = placed {
        let _ = std::fs::remove_dir_all(&partial);
        // Another dev placed its CA first: use that one.
        return load(dir).ok_or_else(|| fail(format!("cannot write it: {e}")));
    }
    Ok(pair)
}

fn load(dir: &Path) -> Option<CaPair> {
    let cert = std::fs::read_to_string(dir.join(CERT)).ok()?;
    let key = std::fs::read_to_string(dir.join(KEY)).ok()?;
    CaPair::from_pem(cert, key).ok()
}

/// `dir` (owner only) with the certificate and the key (owner-readable only).
fn write_private_dir(dir: &Path, pair: &CaPair) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        builder.mode(0o700);
        options.mode(0o600);
    }
    builder.create(dir)?;
    options
        .open(dir.join(KEY))?
        .write_all(pair.key_pem.as_bytes())?;
    std::fs::write(dir.join(CERT), &pair.cert_pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pool-resizer-dev-ca-test-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_ca_is_kept_in_the_users_cache_directory() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            kept_dir(env(&[("HOME", "/home/ann")])),
            Some(PathBuf::from("/home/ann/.cache/pool-resizer/dev-ca"))
        );
        assert_eq!(
            kept_dir(env(&[
                ("HOME", "/home/ann"),
                ("XDG_CACHE_HOME", "/var/cache/ann")
            ])),
            Some(PathBuf::from("/var/cache/ann/pool-resizer/dev-ca"))
        );
        // The XDG spec: a relative path is to be ignored.
        assert_eq!(
            kept_dir(env(&[("HOME", "/home/ann"), ("XDG_CACHE_HOME", "cache")])),
            Some(PathBuf::from("/home/ann/.cache/pool-resizer/dev-ca"))
        );
        assert_eq!(kept_dir(env(&[])), None);
    }

    #[test]
    fn a_restart_finds_the_same_ca_and_a_broken_one_is_replaced() {
        let root = scratch("restart");
        let dir = root.join("pool-resizer").join("dev-ca");
        let first = load_or_create(&dir).unwrap();
        let again = load_or_create(&dir).unwrap();
        assert_eq!(first.cert_pem, again.cert_pem);
        assert_eq!(first.key_pem, again.key_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join(KEY)), 0o600);
        }
        std::fs::write(dir.join(KEY), "not a key").unwrap();
        let replaced = load_or_create(&dir).unwrap();
        assert_ne!(replaced.cert_pem, first.cert_pem);
        assert_eq!(load(&dir).unwrap().cert_pem, replaced.cert_pem);
        let leftovers: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["dev-ca"], "no partial directory left behind");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn devs_starting_at_once_share_one_ca() {
        let root = scratch("race");
        let dir = root.join("dev-ca");
        let pairs: Vec<CaPair> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| load_or_create(&dir).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let kept = load(&dir).unwrap();
        assert!(pairs.iter().all(|p| p.cert_pem == kept.cert_pem));
        let _ = std::fs::remove_dir_all(&root);
    }
}
