#!/usr/bin/env bash
# Conformance: run the official Python SDK (azure-batch) against the simulator.
# Self-contained and idempotent: builds the binary, creates/reuses a venv in .venv,
# starts the simulator, runs the check, stops the simulator. Non-zero exit on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${1:-}
if [[ -z "$BIN" ]]; then
  cargo build --quiet --bin pool-resizer
  BIN="$TARGET/debug/pool-resizer"
fi
VENV=${CONFORMANCE_VENV:-$ROOT/.venv}
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import azure.batch, azure.core" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "azure-batch==15.1.0" "azure-core>=1.30,<2"
fi
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
