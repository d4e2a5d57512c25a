#!/usr/bin/env bash
# Conformance: run the official Python SDK (azure-batch) against the simulator, in two
# pinned versions: the current one (15.1.0, api-version 2025-06-01) and an older one
# (14.2.0, the msrest SDK the Azure CLI ships, api-version 2024-02-01.19.0).
# Self-contained and idempotent: builds the binary, creates/reuses a venv per version
# (.venv and .venv-batch14), starts the simulator, runs both checks, stops the
# simulator. Non-zero exit on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${1:-}
if [[ -z "$BIN" ]]; then
  cargo build --quiet --bin pool-resizer
  BIN="$TARGET/debug/pool-resizer"
fi
CURRENT_SDK=15.1.0
OLDER_SDK=14.2.0
# A venv holding exactly azure-batch==$2 (created, or fixed, when it does not).
venv_with() {
  local venv=$1 version=$2
  if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
  fi
  if [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("azure-batch"))' 2>/dev/null)" != "$version" ]]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "azure-batch==$version" "azure-core>=1.30,<2"
  fi
}
VENV=${CONFORMANCE_VENV:-$ROOT/.venv}
VENV14=${CONFORMANCE_VENV14:-$ROOT/.venv-batch14}
venv_with "$VENV" "$CURRENT_SDK"
venv_with "$VENV14" "$OLDER_SDK"
WORK=$(mktemp -d)
SIM_PID=""
cleanup() {
  if [[ -n "$SIM_PID" ]]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
"$BIN" simulator --listen 127.0.0.1:0 --time-scale 600 --ca-file "$WORK/ca.pem" >"$WORK/ready" 2>"$WORK/sim.log" &
SIM_PID=$!
for _ in $(seq 1 100); do
  [[ -s "$WORK/ready" ]] && break
  sleep 0.1
done
if [[ ! -s "$WORK/ready" ]]; then
  echo "simulator did not become ready" >&2; cat "$WORK/sim.log" >&2; exit 1
fi
READY=$(head -n1 "$WORK/ready")
if ! "$VENV/bin/python" "$ROOT/conformance/azure_batch_sdk_check.py" "$READY"; then
  echo "--- simulator log (tail) ---" >&2; tail -n 50 "$WORK/sim.log" >&2; exit 1
fi
if ! "$VENV14/bin/python" "$ROOT/conformance/azure_batch_sdk14_check.py" "$READY"; then
  echo "--- simulator log (tail) ---" >&2; tail -n 50 "$WORK/sim.log" >&2; exit 1
fi
