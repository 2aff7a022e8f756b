#!/usr/bin/env bash
# Runs the course's CUDA test binaries (built on a CPU machine by course/gpu/build-bundle.sh)
# on a GPU machine without Rust or network, one process per test, and writes a report to $OUT
# (default ./gpu-report): results.txt (one line per test: `binary test status seconds`,
# status pass, fail, timeout, ignored or not-run), summary.txt, failures.txt (each failure's
# panic) and fail/ (each failure's whole output), machine.txt, ldd.txt.
# Usage (from the repository root): target/gpu-bundle/run-on-gpu.sh [per-test limit s] [jobs]
# Env: OUT, TOTAL (an overall limit in seconds), PYTHON (one with the `nvidia` CUDA 13 wheels).
set -uo pipefail
B=$(cd "$(dirname "$0")" && pwd)
REPO=$(pwd)
LIMIT=${1:-120}; JOBS=${2:-8}
OUT=${OUT:-$REPO/gpu-report}; mkdir -p "$OUT/fail"
PY=${PYTHON:-python3}
NVLIBS=$("$PY" - <<'PYEOF'
import os, glob, nvidia
dirs = []
for root in nvidia.__path__:
    for d in sorted(glob.glob(os.path.join(root, "cu13", "lib")) + glob.glob(os.path.join(root, "*", "lib"))):
        if glob.glob(os.path.join(d, "lib*.so*")) and d not in dirs:
            dirs.append(d)
print(":".join(dirs))
PYEOF
)
export LD_LIBRARY_PATH="$NVLIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
. "$B/baked-paths.env"
SP_INC=""
for d in ${NVLIBS//:/ }; do [ -f "$d/../include/cuda_fp16.h" ] && { SP_INC=$(cd "$d/../include" && pwd); break; }; done
link_dir() {  # link_dir TARGET LINK: recreate a path the build baked into the binaries
  if [ "$(readlink -f "$2" 2>/dev/null)" = "$(readlink -f "$1")" ]; then return; fi
  if [ -e "$2" ] && [ ! -L "$2" ]; then echo "keeping existing $2"; return; fi
  mkdir -p "$(dirname "$2")"; ln -sfn "$1" "$2"; echo "$2 -> $1"
}
link_dir "${SP_INC:-$B/nvrtc-include}" "$BAKED_CUDA_INCLUDE_DIR"
link_dir "$B/dfdx-out" "$BAKED_DFDX_OUT_DIR"
link_dir "$REPO" "$BAKED_REPO"   # the tests find datasets and snapshots by their build path
{ nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader || true
  echo "glibc $(getconf GNU_LIBC_VERSION)"; nproc; } | tee "$OUT/machine.txt"
for bin in "$B"/bin/*; do echo "--- ldd $(basename "$bin")"; ldd "$bin" | grep -E 'cuda|nvrtc|cublas|not found'; done | tee "$OUT/ldd.txt"
cd "$BAKED_REPO"
run_one() {  # run_one BIN TEST
  local bin=$1 t=$2 name; name=$(basename "$bin")
  local s e rc log; s=$(date +%s.%N); log=$(mktemp)
  local pkg=${name%%.*} dir=$BAKED_REPO; [ "$pkg" = root ] || dir=$BAKED_REPO/$pkg
  (cd "$dir" && CARGO_MANIFEST_DIR=$dir INSTA_WORKSPACE_ROOT=$BAKED_REPO timeout -k 5 "$LIMIT" "$bin" --exact "$t" --test-threads=1) >"$log" 2>&1; rc=$?
  e=$(date +%s.%N)
  local st=fail
  if [ $rc -eq 0 ] && grep -q '^test result: ok. 1 passed' "$log"; then st=pass
  elif [ $rc -eq 0 ] && grep -q '1 ignored' "$log"; then st=ignored
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then st=timeout; fi
  [ $st = pass ] || cp "$log" "$OUT/fail/$name.${t//::/__}.txt"
  rm -f "$log"
  printf '%s %s %s %.2f\n' "$name" "$t" "$st" "$(awk "BEGIN{print $e - $s}")"
}
export -f run_one; export LIMIT OUT BAKED_REPO
for bin in "$B"/bin/*; do
  "$bin" --list --format terse 2>/dev/null | sed -n 's/: test$//p' | while read -r t; do echo "$bin $t"; done
done > "$OUT/tests.txt"
echo "$(wc -l < "$OUT/tests.txt") tests, $JOBS at a time, limit ${LIMIT}s each"
TOTAL=${TOTAL:-0}  # 0: no overall limit; tests not reached are listed as not-run
timeout "${TOTAL}" xargs -P "$JOBS" -L 1 bash -c 'run_one "$0" "$1"' < "$OUT/tests.txt" | tee "$OUT/results.txt"
awk 'NR==FNR{done[$1" "$2]=1; next} !(($1 " " $2) in done){print $1, $2, "not-run", 0}' "$OUT/results.txt" <(sed "s|^$B/bin/||" "$OUT/tests.txt") >> "$OUT/results.txt"
echo "=== summary"; awk '{print $1, $3}' "$OUT/results.txt" | sort | uniq -c | tee "$OUT/summary.txt"
# one file with every failure's panic (the first lines after `panicked at`)
for f in "$OUT"/fail/*; do [ -e "$f" ] || continue
  echo "== $(basename "$f" .txt)"; grep -m2 -A4 'panicked at' "$f" || tail -5 "$f"; done > "$OUT/failures.txt"
