#!/usr/bin/env bash
# Batch load as callers grow (issue 16): N concurrent scale-up waits on one
# pool and pool-status at fixed rates, counted in the simulator's event log.
# Builds the handler exactly as deployed (no simulator inside), the simulator
# and the load generator, as bench/run.sh does, then runs bench/callers.py.
#
#   bash bench/callers.sh            # full run, about 3 minutes
#   bash bench/callers.sh --quick    # small numbers: checks the bench works
#
# Writes the raw numbers to $CARGO_TARGET_DIR/bench-callers.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --quiet --release -p pool-resizer --no-default-features --bin pool-resizer
cargo build --quiet --release -p batch-simulator --bin batch-simulator
cargo build --quiet --release --example loadgen
exec python3 "$ROOT/bench/callers.py" \
  --bin "$TARGET/release/pool-resizer" \
  --sim-bin "$TARGET/release/batch-simulator" \
  --loadgen "$TARGET/release/examples/loadgen" \
  --out "$TARGET/bench-callers.json" "$@"
