#!/usr/bin/env bash
# The study docs/cost.md cites: every day type, 20 seeds, three learning days (a
# forecast needs a rhythm seen on three days) then two measured days, every strategy
# (8 x 20 x 9 = 1440 replays of five simulated days).
#
#   bench/study.sh           the full matrix: writes docs/simulated-study.json, .md and
#                            one chart per day type, and renders docs/cost.md's tables
#                            again (between its <!-- study:... --> markers)
#   bench/study.sh --quick   5 seeds into target/study-quick, docs untouched: a look
#   bench/study.sh --out DIR the full matrix into DIR, docs untouched
#
# Other flags go to `pool-resizer simulate-study` (e.g. --day-type busy, --jobs 1,
# --price-per-hour 0.043). It builds the binary with the `study` profile (optimized,
# without the release's fat LTO); docs/cost.md says how long a run takes.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=20
out=docs
doc=docs/cost.md
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) seeds=5; out=target/study-quick; doc= ;;
        --out) out="$2"; doc=; shift ;;
        *) extra+=("$1") ;;
    esac
    shift
done

cargo build -q --profile study --bin pool-resizer
bin="${CARGO_TARGET_DIR:-target}/study/pool-resizer"
args=(simulate-study --seeds "$seeds" --out "$out")
if [ -n "$doc" ]; then
    args+=(--update-doc "$doc")
fi
start=$(date +%s)
"$bin" "${args[@]}" ${extra[@]+"${extra[@]}"}
echo "bench/study.sh: $(( $(date +%s) - start )) s for the study on $(nproc) core(s)"
