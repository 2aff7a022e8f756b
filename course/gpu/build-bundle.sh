#!/usr/bin/env bash
# Builds the course's CUDA test binaries on this (GPU-less) machine and packs them, with
# what they need at run time, into target/gpu-bundle: carry that folder to a GPU machine
# (no Rust, no network needed there) and run `target/gpu-bundle/run-on-gpu.sh` from the
# repository root. The recipe is ../shared/gpu-crossbuild (CUDA 13.0 wheels from PyPI as a
# CUDA_ROOT, a fake nvidia-smi for dfdx's build script, a link-only libcuda stub).
#
# Builds: the hidden grading tests on the solutions (dlcv, `--features reference,cuda`),
# the visible tests on the solutions and courselib's tests, all with `Dev = Cuda`.
# Needs: cargo, gcc, python3 + pip, unzip, network to PyPI (first run only).
# Env: XBUILD (default target/course/cuda-xbuild), COMPUTE_CAP (default 9.0, an H200).
set -euo pipefail
REPO=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
XBUILD=${XBUILD:-$REPO/target/course/cuda-xbuild}
COMPUTE_CAP=${COMPUTE_CAP:-9.0}
BUNDLE=$REPO/target/gpu-bundle
mkdir -p "$XBUILD"; cd "$XBUILD"
log() { printf '\n=== %s\n' "$*"; }

if [ ! -f cuda/.complete ]; then
  log "CUDA 13.0 compiler and libraries from PyPI wheels"
  pip download --no-deps -q -d wheels nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 \
    nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96 \
    nvidia-cuda-nvrtc==13.0.88 nvidia-cublas==13.0.2.14
  rm -rf sp cuda && mkdir sp && for w in wheels/*.whl; do unzip -q -o "$w" -d sp; done
  CU=$XBUILD/sp/nvidia/cu13
  test -x "$CU/bin/nvcc" && test -x "$CU/nvvm/bin/cicc" && test -f "$CU/include/cuda.h"
  mkdir -p cuda/lib64 && ln -s "$CU/include" cuda/include && ln -s "$CU/bin" cuda/bin && ln -s "$CU/nvvm" cuda/nvvm
  for l in "$CU"/lib/*.so.*; do ln -s "$l" "cuda/lib64/$(basename "$l")"; done
  for n in cublas cublasLt nvrtc cudart; do ln -sf "lib$n.so.13" "cuda/lib64/lib$n.so"; done
  # dfdx's build script asks nvidia-smi for the compute capability
  mkdir -p fakebin && printf '#!/bin/sh\necho compute_cap\necho %s\n' "$COMPUTE_CAP" > fakebin/nvidia-smi
  chmod +x fakebin/nvidia-smi
  # a link-only libcuda (no wheel ships the driver): every cu* returns CUDA_ERROR_NO_DEVICE
  CUDARC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.9.* | sort -V | tail -1)
  mkdir -p stub
  { echo 'int cuGetErrorString(int e, const char **s){ if(s) *s = "stub libcuda: no CUDA device (link stub, not the driver)"; return 0; }'
    echo 'int cuGetErrorName(int e, const char **s){ if(s) *s = "CUDA_ERROR_NO_DEVICE"; return 0; }'
    grep -oE 'pub fn cu[A-Za-z0-9_]+' "$CUDARC/src/driver/sys.rs" | awk '{print $3}' | sort -u \
      | grep -vE '^cuGetError(String|Name)$' | sed 's/.*/int &(void){ return 100; }/'
  } > stub/libcuda_stub.c
  gcc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o stub/libcuda.so.1 stub/libcuda_stub.c
  ln -sf libcuda.so.1 stub/libcuda.so && ln -sf "$XBUILD/stub/libcuda.so" cuda/lib64/libcuda.so
  touch cuda/.complete
fi

log "cargo test --no-run with --features cuda (own target dir: the features differ)"
export CUDA_ROOT=$XBUILD/cuda CUDA_PATH=$XBUILD/cuda LIBRARY_PATH=$XBUILD/cuda/lib64
export PATH=$XBUILD/fakebin:$XBUILD/cuda/bin:$PATH
export CARGO_TARGET_DIR=$XBUILD/target CARGO_PROFILE_DEV_DEBUG=0
unset CUDA_COMPUTE_CAP || true
(cd "$REPO" && cargo test --no-run --locked -p dlcv -p courselib -p solutions \
  --features dlcv/reference,dlcv/cuda,courselib/cuda --message-format=json-render-diagnostics) > build.json

log "bundle: $BUNDLE"
rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/bin" "$BUNDLE/nvrtc-include" "$BUNDLE/dfdx-out"
# each test executable that links libcuda, named <package dir>.<target> (root: the repository)
python3 - build.json "$BUNDLE/bin" "$REPO" <<'PY'
import json, os, shutil, subprocess, sys
build, dest, repo = sys.argv[1:]
for line in open(build):
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") != "compiler-artifact" or not m.get("executable") or not m["profile"]["test"]: continue
    if b"libcuda" not in subprocess.run(["readelf", "-d", m["executable"]], capture_output=True).stdout: continue
    d = os.path.relpath(os.path.dirname(m["manifest_path"]), repo)
    name = f'{"root" if d == "." else d}.{m["target"]["name"]}'
    shutil.copy(m["executable"], os.path.join(dest, name)); print(name)
PY
strip "$BUNDLE"/bin/*
OUTDIR=$(for d in "$XBUILD"/target/debug/build/dfdx-*/out; do [ -f "$d/cuda_utils.cuh" ] && readlink -f "$d"; done | head -1)
cp "$XBUILD"/cuda/include/cuda_fp16.h "$XBUILD"/cuda/include/cuda_fp16.hpp "$BUNDLE/nvrtc-include/"
cp "$OUTDIR"/*.cuh "$BUNDLE/dfdx-out/"
# the absolute paths the binaries carry: NVRTC's headers, dfdx's OUT_DIR, the repository
cat > "$BUNDLE/baked-paths.env" <<EOT
BAKED_CUDA_INCLUDE_DIR=$XBUILD/cuda/include
BAKED_DFDX_OUT_DIR=$OUTDIR
BAKED_REPO=$REPO
EOT
cp "$REPO/course/gpu/run-on-gpu.sh" "$BUNDLE/"

log "checks"
echo "PTX targets of dfdx's kernels:"; grep -h '^\.target' "$OUTDIR"/*.ptx | sort | uniq -c
for f in "$BUNDLE"/bin/*; do echo "$(basename "$f"): $(readelf -d "$f" | grep -oE 'lib(cuda|nvrtc|cublas)[^]]*' | tr '\n' ' ')"; done
# here the stub makes every device call fail cleanly: the binaries load and start
T=$(ls "$BUNDLE"/bin/* | head -1)
LD_LIBRARY_PATH=$XBUILD/sp/nvidia/cu13/lib:$XBUILD/stub "$T" --list | tail -1
du -sh "$BUNDLE"
echo "carry target/gpu-bundle; on the GPU machine, from the repository root: target/gpu-bundle/run-on-gpu.sh"
