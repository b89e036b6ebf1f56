#!/usr/bin/env bash
# The GPU check: proves a CUDA build of headshot on a machine with an NVIDIA GPU and measures it
# beside torch. Fits a 10-minute run (each step has its own time limit).
#
# Two halves, because GPU machines often have no Rust and no network:
#
#   scripts/gpu-check.sh stage     # here, on the build machine: builds the release binary with
#                                  # `cuda` (through scripts/cuda-env.sh) and puts it, stripped
#                                  # and gzipped, in .gpu/headshot.gz, with diffusers' wheels in
#                                  # .gpu/wheels (about 35 MB in all)
#   scripts/gpu-check.sh [run]     # there, from the repository root: the checks below
#
# `run` needs the NVIDIA driver (R580+ for CUDA 13), python3 with torch (CUDA build), and the
# CUDA 13 libraries the binary links (libcudart.so.13, libcublas(Lt).so.13, libcurand.so.10,
# libnvrtc.so.13, libcudnn.so.9): it looks in CUDA_HOME, /usr/local/cuda and torch's nvidia
# wheels, and in HEADSHOT_CUDA_LIBS if set. Steps:
#   1. nvidia-smi and `headshot device show`;
#   2. parity: the tiny diffusion model (models/tests/fixtures/diffusion) on the GPU in f32 and
#      f16 against diffusers' reference outputs (fails the check beyond the tolerance);
#   3. speed: SD 1.5 inpainting's UNet pass (batch 2) and VAE decode at 512x640, random weights,
#      f16 and f32, in candle (`headshot device check --speed`) and in torch
#      (models/tools/bench_torch_sd.py), and the ratio candle/torch.
# Output and JSON go to $OUT (when set, as on the device runner) or .gpu/out.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
stage_dir=".gpu"

stage() {
  local target="${CARGO_TARGET_DIR:-target}"
  bash scripts/cuda-env.sh cargo build --release -p headshot-bots --features cuda
  mkdir -p "$stage_dir"
  # Stripped and gzipped (about 23 MB instead of 78 MB), so the folder travels to a GPU machine
  # in a small upload; `run` unpacks it.
  rm -f "$stage_dir/headshot"
  strip -o "$stage_dir/headshot.tmp" "$target/release/headshot"
  gzip -9 -c "$stage_dir/headshot.tmp" >"$stage_dir/headshot.gz"
  rm "$stage_dir/headshot.tmp"
  # torch is on the GPU machine; diffusers and its small dependencies may not be. numpy and
  # Pillow come with torch installs; leaving them out keeps the staged folder small.
  rm -rf "$stage_dir/wheels" && mkdir -p "$stage_dir/wheels"
  python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --python-version "${GPU_PYTHON_VERSION:-3.11}" --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$stage_dir/wheels" diffusers==0.42.1
  rm -f "$stage_dir"/wheels/numpy-*.whl "$stage_dir"/wheels/pillow-*.whl "$stage_dir"/wheels/hf_xet-*.whl
  du -sh "$stage_dir/headshot.gz" "$stage_dir/wheels"
}

run() {
  local out="${OUT:-$stage_dir/out}"
  local bin="${HEADSHOT_BIN:-$stage_dir/headshot}"
  mkdir -p "$out"
  exec > >(tee "$out/gpu-check.log") 2>&1
  if [ ! -x "$bin" ] && [ -f "$stage_dir/headshot.gz" ]; then
    gunzip -c "$stage_dir/headshot.gz" >"$stage_dir/headshot" && chmod +x "$stage_dir/headshot"
  fi
  [ -x "$bin" ] || { echo "no binary at $bin: run 'scripts/gpu-check.sh stage' first"; exit 1; }
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true

  # The CUDA libraries the binary links.
  local libs="${HEADSHOT_CUDA_LIBS:-}"
  local d
  for d in "${CUDA_HOME:-}/lib64" "${CUDA_HOME:-}/lib" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$d" ] && libs="$libs:$d"
  done
  libs="$libs:$(python3 - <<'EOF' 2>/dev/null || true
import glob, os, site
dirs = []
for root in site.getsitepackages() + [site.getusersitepackages()]:
    dirs += glob.glob(os.path.join(root, "nvidia", "*", "lib"))
print(":".join(sorted(set(dirs))))
EOF
)"
  export LD_LIBRARY_PATH="${libs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if ldd "$bin" | grep "not found"; then
    echo "missing CUDA libraries (set HEADSHOT_CUDA_LIBS to their directory)"
    exit 1
  fi

  # diffusers for the torch side, from the staged wheels when it is not installed.
  if ! python3 -c "import diffusers" 2>/dev/null && [ -d "$stage_dir/wheels" ]; then
    python3 -m pip install --quiet --no-index --no-deps --target "$stage_dir/py" "$stage_dir"/wheels/*.whl
    export PYTHONPATH="$PWD/$stage_dir/py${PYTHONPATH:+:$PYTHONPATH}"
  fi

  echo "== device"
  timeout 60 "$bin" device show
  echo "== parity (tiny model, f32 and f16)"
  local parity=0
  timeout 120 "$bin" device check --parity models/tests/fixtures/diffusion --dtype both || parity=$?
  echo "== speed, candle"
  timeout 240 "$bin" device check --speed --dtype both --runs 5 --json >"$out/candle.json"
  echo "== speed, torch"
  local dt
  for dt in f16 f32; do
    timeout 150 python3 models/tools/bench_torch_sd.py 5 --device cuda --dtype "$dt" \
      --json "$out/torch-$dt.json" || echo "torch $dt failed"
  done
  echo "== candle / torch (mean seconds, 5 runs after a warm-up)"
  python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
candle = json.load(open(os.path.join(out, "candle.json")))
print(f"device: {candle['device']['name']}")
print(f"{'pass':<20}{'dtype':<7}{'candle s':>10}{'torch s':>10}{'ratio':>8}")
for row in candle["speed"]:
    path = os.path.join(out, f"torch-{row['dtype']}.json")
    torch_s = json.load(open(path))["means_s"].get(row["name"]) if os.path.exists(path) else None
    ratio = f"{row['mean_s'] / torch_s:.2f}x" if torch_s else "-"
    torch_txt = f"{torch_s:.4f}" if torch_s else "-"
    print(f"{row['name']:<20}{row['dtype']:<7}{row['mean_s']:>10.4f}{torch_txt:>10}{ratio:>8}")
EOF
  if [ "$parity" -ne 0 ]; then
    echo "GPU check FAILED: parity"
    exit 1
  fi
  echo "GPU check passed"
}

case "$mode" in
  stage) stage ;;
  run) run ;;
  *) echo "usage: scripts/gpu-check.sh [stage|run]" >&2; exit 2 ;;
esac
