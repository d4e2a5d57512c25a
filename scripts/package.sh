#!/usr/bin/env bash
# Build the Linux binary and write the Function App zip, laid out as the
# Functions host expects: the executable named in host.json at the root,
# host.json, and every function folder (any top-level directory holding a
# function.json, discovered, so new functions need no change here). Nothing
# else: no target/, no local.settings.json, no sources.
#
#   scripts/package.sh                   # musl build, no simulator -> dist/pool-resizer-functionapp.zip;
#                                        # prints the binary's and the zip's sizes
#   scripts/package.sh --binary PATH     # package an already-built binary (tests)
#   scripts/package.sh --out FILE.zip    # write elsewhere
#
# Deploy the zip with `az functionapp deployment source config-zip` (see
# docs/deploy.md). One zip serves both plans the templates offer: on Flex
# Consumption that command is one deploy into the app's deployment
# container; on Linux Consumption it becomes the run-from-package blob.
# Needs: cargo, python3 (writes the zip so the binary keeps its execute bit
# on every OS).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/dist/pool-resizer-functionapp.zip"
binary=""
musl_target="x86_64-unknown-linux-musl"
# The Functions v4 Linux Consumption images are Debian 11 (glibc 2.31) based;
# a glibc build must not need newer symbols than that. The static musl build,
# the normal case, needs no libc from the image, whichever plan runs it.
max_glibc="2.31"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "package.sh: $*" >&2; }

target_dir="${CARGO_TARGET_DIR:-$root/target}"
# The deployed binary: the handler and operator CLI only. `dev`, `simulator` and
# `simulate-day` (feature "simulator", on by default) stay out, and with them the
# simulator's crate, its TLS server and certificate generator, and plotters.
build_args=(--release --locked -p pool-resizer --no-default-features --bin pool-resizer)

build_musl() {
  if command -v rustup >/dev/null; then
    rustup target add "$musl_target" >&2 || return 1
  fi
  # ring compiles a little C. musl-gcc (Debian: musl-tools) is the proper
  # compiler; without it the host gcc works too, because ring's C is
  # freestanding (no libc headers). Linking uses rust-lld (.cargo/config.toml)
  # with Rust's self-contained musl CRT, so no musl linker is needed.
  local cc="${CC_x86_64_unknown_linux_musl:-}"
  if [[ -z "$cc" ]]; then
    if command -v musl-gcc >/dev/null; then cc=musl-gcc; else cc=gcc; fi
  fi
  say "building $musl_target (C compiler: $cc, linker: rust-lld)"
  (cd "$root" && CC_x86_64_unknown_linux_musl="$cc" \
    cargo build "${build_args[@]}" --target "$musl_target" >&2) || return 1
  binary="$target_dir/$musl_target/release/pool-resizer"
}

build_glibc() {
  say "WARNING: the static musl build failed; falling back to a glibc build."
  say "WARNING: it runs in Azure only if it needs glibc <= $max_glibc (checked below)."
  (cd "$root" && cargo build "${build_args[@]}" >&2)
  binary="$target_dir/release/pool-resizer"
  local needed
  needed="$(objdump -T "$binary" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1 || true)"
  if [[ -n "$needed" && "$(printf '%s\n%s\n' "$needed" "$max_glibc" | sort -V | tail -1)" != "$max_glibc" ]]; then
    say "ERROR: this binary needs glibc $needed, newer than the Functions image's $max_glibc."
    say "       Install musl-tools (apt-get install musl-tools) and run again."
    exit 1
  fi
  say "glibc build needs glibc ${needed:-?} (<= $max_glibc): ok"
}

if [[ -z "$binary" ]]; then
  build_musl || build_glibc
fi
[[ -x "$binary" ]] || { say "ERROR: no executable at '$binary'"; exit 1; }

mkdir -p "$(dirname "$out")"
python3 - "$root" "$binary" "$out" <<'PY'
import json, os, sys, zipfile

root, binary, out = sys.argv[1:4]
host = json.load(open(os.path.join(root, "host.json")))
exe = host["customHandler"]["description"]["defaultExecutablePath"]
if os.sep in exe or "/" in exe:
    sys.exit(f"package.sh: host.json defaultExecutablePath '{exe}' must be a plain file name at the app root")

functions = sorted(
    d for d in os.listdir(root)
    if os.path.isfile(os.path.join(root, d, "function.json")) and not d.startswith(".")
)
if not functions:
    sys.exit("package.sh: no function folders (top-level directories with function.json) found")

# Fixed timestamps: the same inputs give the same zip.
STAMP = (2020, 1, 1, 0, 0, 0)

def add(zf, arcname, path, mode):
    info = zipfile.ZipInfo(arcname, STAMP)
    info.external_attr = (0o100000 | mode) << 16  # regular file + permissions
    info.create_system = 3  # Unix, so unzip tools honour the mode
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(path, "rb") as f:
        zf.writestr(info, f.read())

tmp = out + ".tmp"
with zipfile.ZipFile(tmp, "w") as zf:
    add(zf, exe, binary, 0o755)
    add(zf, "host.json", os.path.join(root, "host.json"), 0o644)
    for name in functions:
        folder = os.path.join(root, name)
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for f in sorted(filenames):
                path = os.path.join(dirpath, f)
                add(zf, os.path.relpath(path, root).replace(os.sep, "/"), path, 0o644)
os.replace(tmp, out)
print(f"package.sh: wrote {out}: {exe}, host.json, {', '.join(functions)}", file=sys.stderr)
PY

# Smoke test: the packaged binary starts on this machine.
"$binary" --version >&2
file "$binary" 2>/dev/null | sed 's/^/package.sh: /' >&2 || true
# The sizes the docs quote come from this line, not from memory.
python3 - "$binary" "$out" >&2 <<'PY'
import os, sys
binary, zipped = (os.path.getsize(p) / 2**20 for p in sys.argv[1:3])
print(f"package.sh: binary {binary:.2f} MiB, zip {zipped:.2f} MiB")
PY
echo "$out"
