#!/usr/bin/env bash
# One command for a machine with a GPU: install the CUDA and bench extras, run the benchmark at GPU size and
# one GPU-size experiment, and write the GPU table (bench_gpu.md / .json) and the experiment's outputs to a
# folder — $OUT when set (the device runner's output folder), else the first argument, else results/gpu.
# Every step has its own time limit (150 + 30 + 200 + 70 s: inside 8 minutes); a step that fails or runs out
# of time is reported and the next one still runs (the bench writes its table after every kernel).
#
#   bash experiments/gpu_check.sh [DIR] [--dry]
#
# --dry: no install, bench at tiny size, the experiment at its CPU size (checks the script on a CPU).
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
DIR="${OUT:-}"
for arg in "$@"; do
  case "$arg" in
    --dry) DRY=1 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) DIR="$arg" ;;
  esac
done
DIR="${DIR:-results/gpu}"
mkdir -p "$DIR"
PY="${PYTHON:-python}"
T0=$(date +%s)
status=0
step() {  # step NAME SECONDS CMD...: run with a time limit, log to $DIR/NAME.log, remember a failure
  local name=$1 limit=$2; shift 2
  local t=$(date +%s)
  echo "== $name (limit ${limit} s): $*"
  timeout "$limit" "$@" > "$DIR/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$DIR/$name.log"
  echo "== $name: exit $rc after $(( $(date +%s) - t )) s"
  [ $rc -eq 0 ] || status=1
}

if [ "$DRY" = 1 ]; then
  SIZE=tiny; EXPERIMENT=("$PY" -m sumjax run harm_vs_dim)  # the experiment at its CPU size
else
  SIZE=gpu; EXPERIMENT=("$PY" experiments/gpu_sweeps.py --only harm_vs_dim --max-minutes 1)  # FULL + GPU sizes, sharded
  step install 150 "$PY" -m pip install -q -e ".[cuda,bench]"
fi
step devices 30 "$PY" -c "import jax; print(jax.__version__, jax.default_backend(), jax.devices())"
# float64, as the CPU table of record; the fresh-process probes are left out to keep inside the budget
step bench 200 env JAX_ENABLE_X64=1 "$PY" -m experiments.bench --size "$SIZE" --skip-memory --skip-first-call \
  --out "$DIR/bench_gpu.json"
step harm_vs_dim 70 "${EXPERIMENT[@]}" --quiet --force --out "$DIR/experiments"
uptime > "$DIR/load.txt" 2>/dev/null || true
echo "total $(( $(date +%s) - T0 )) s; GPU table: $DIR/bench_gpu.md"
[ -f "$DIR/bench_gpu.md" ] && cat "$DIR/bench_gpu.md"
exit $status
