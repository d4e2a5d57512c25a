#!/usr/bin/env bash
# Benchmark: pool-resizer beside a Python azure-batch reference, on one simulator.
# Builds the release binary exactly as deployed (profile and features: no
# simulator inside, as scripts/package.sh builds it), the simulator on its own
# (batch-simulator) and the load generator, creates/reuses a venv with
# azure-batch==15.1.0 (as conformance/run.sh does, but in its own directory),
# then runs bench/measure.py, which prints a markdown table.
#
#   bash bench/run.sh            # full run, about 2-3 minutes
#   bash bench/run.sh --quick    # few runs: checks that the bench works
#
# Writes the raw numbers to $CARGO_TARGET_DIR/bench-results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
# Separate invocations on purpose: building an example pulls in dev-dependency
# features (tokio "full"), and the simulator its own (multi-thread runtime);
# neither must leak into the measured binary.
cargo build --quiet --release -p pool-resizer --no-default-features --bin pool-resizer
cargo build --quiet --release -p batch-simulator --bin batch-simulator
cargo build --quiet --release --example loadgen
VENV=${BENCH_VENV:-$TARGET/bench-venv}
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import azure.batch, azure.core" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "azure-batch==15.1.0" "azure-core>=1.30,<2"
fi
exec python3 "$ROOT/bench/measure.py" \
  --bin "$TARGET/release/pool-resizer" \
  --sim-bin "$TARGET/release/batch-simulator" \
  --loadgen "$TARGET/release/examples/loadgen" \
  --python "$VENV/bin/python" \
  --out "$TARGET/bench-results.json" "$@"
