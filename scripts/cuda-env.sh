#!/usr/bin/env bash
# The CUDA toolkit for building headshot with `--features cuda`, from NVIDIA's PyPI wheels, on any
# x86_64 Linux machine with Python 3 and pip: no system CUDA install, no GPU, no root.
#
#   bash scripts/cuda-env.sh cargo build --release -p headshot-bots --features cuda
#   . scripts/cuda-env.sh        # or source it, then run cargo yourself
#
# What it does, once per toolkit version (later runs only export):
# - installs the pinned wheels below with pip into a cache directory outside the repository
#   (HEADSHOT_CUDA_CACHE, default /var/tmp/headshot-cuda): nvcc, cicc/NVVM, the runtime and its
#   headers, NVRTC, cuBLAS, cuRAND and cuDNN 9, all CUDA 13.0 (the cu12 nvcc wheels carry no
#   nvcc, only ptxas);
# - makes the wheels' tree look like a toolkit: cuDNN's headers and libraries beside CUDA's, the
#   unversioned library names the linker asks for (libcublas.so -> libcublas.so.13), and a link
#   stub of the driver library (lib/stubs/libcuda.so, soname libcuda.so.1) built from the
#   driver API names in cuda.h, as the toolkit's own stubs are; the real libcuda.so.1 comes with
#   the NVIDIA driver of the machine that runs the binary;
# - exports CUDA_HOME/CUDA_PATH, PATH (nvcc), LIBRARY_PATH, LD_LIBRARY_PATH (never the stubs) and
#   CUDA_COMPUTE_CAP (default 90, Hopper; 80 for A100, 86 for RTX 30xx, 89 for L4/L40/RTX 40xx).
#   candle compiles its kernels to PTX for that capability; the driver JIT-compiles PTX for newer
#   GPUs, not older ones.
#
# Running the binary needs an NVIDIA driver for CUDA 13 (R580 or newer) and, on the GPU machine,
# the same libraries (this cache's lib directory, a CUDA 13 toolkit, or torch's nvidia wheels) on
# LD_LIBRARY_PATH: see scripts/gpu-check.sh.

_headshot_cuda_main() {
  export PIP_ROOT_USER_ACTION=ignore
  local cache="${HEADSHOT_CUDA_CACHE:-/var/tmp/headshot-cuda}"
  local version="13.0.88"
  local pins=(
    "nvidia-cuda-nvcc==13.0.88"
    "nvidia-cuda-crt==13.0.88"
    "nvidia-nvvm==13.0.88"
    "nvidia-cuda-runtime==13.0.96"
    "nvidia-cuda-cccl==13.0.85"
    "nvidia-cuda-nvrtc==13.0.88"
    "nvidia-cublas==13.1.0.3"
    "nvidia-curand==10.4.0.35"
    "nvidia-cudnn-cu13==9.13.1.26"
  )
  local dir="$cache/cuda-$version"
  local toolkit="$dir/nvidia/cu13"
  # Bump the layout number when _headshot_cuda_assemble changes, so caches are rebuilt.
  local stamp="layout 3: ${pins[*]}"

  if [ ! -f "$dir/.complete" ] || [ "$(cat "$dir/.complete")" != "$stamp" ]; then
    local python
    python="$(command -v python3 || command -v python || true)"
    if [ -z "$python" ]; then
      echo "cuda-env: python3 with pip is needed to install the CUDA wheels" >&2
      return 1
    fi
    echo "cuda-env: installing CUDA $version wheels into $dir" >&2
    rm -rf "$dir" "$dir.partial"
    mkdir -p "$cache"
    "$python" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
      --target "$dir.partial" "${pins[@]}" >&2 || {
      echo "cuda-env: pip could not install the CUDA wheels" >&2
      return 1
    }
    _headshot_cuda_assemble "$dir.partial/nvidia/cu13" "$dir.partial/nvidia/cudnn" || return 1
    mv "$dir.partial" "$dir"
    echo "$stamp" >"$dir/.complete"
  fi

  export CUDA_HOME="$toolkit"
  export CUDA_PATH="$toolkit"
  export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
  case ":$PATH:" in *":$toolkit/bin:"*) ;; *) export PATH="$toolkit/bin:$PATH" ;; esac
  export LIBRARY_PATH="$toolkit/lib:$toolkit/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$toolkit/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "cuda-env: CUDA $version at $toolkit, compute capability $CUDA_COMPUTE_CAP" >&2
}

# Turns the installed wheels into a toolkit tree candle's and cudarc's build scripts accept.
_headshot_cuda_assemble() {
  local toolkit="$1" cudnn="$2" # nvidia/cu13 and nvidia/cudnn, side by side
  local f name
  [ -x "$toolkit/bin/nvcc" ] || {
    echo "cuda-env: the wheels gave no nvcc at $toolkit/bin" >&2
    return 1
  }
  # Relative links: the tree is assembled in a scratch directory, then renamed.
  for f in "$cudnn"/include/*.h; do
    ln -sf "../../cudnn/include/$(basename "$f")" "$toolkit/include/$(basename "$f")"
  done
  for f in "$cudnn"/lib/lib*.so.*; do
    ln -sf "../../cudnn/lib/$(basename "$f")" "$toolkit/lib/$(basename "$f")"
  done
  # libfoo.so.13 -> libfoo.so, the name `-lfoo` looks for.
  for f in "$toolkit"/lib/lib*.so.*; do
    name="$(basename "$f")"
    name="${name%%.so.*}.so"
    [ -e "$toolkit/lib/$name" ] || ln -s "$(basename "$f")" "$toolkit/lib/$name"
  done
  for f in "$toolkit"/lib/*.so "$toolkit"/include/cudnn.h; do
    [ -e "$f" ] || {
      echo "cuda-env: $f does not resolve" >&2
      return 1
    }
  done
  ln -sfn lib "$toolkit/lib64"
  # The driver's link stub: every driver API entry point named in cuda.h (cuInit,
  # cuMemAlloc_v2, ...), so the linker records libcuda.so.1 as needed. Like NVIDIA's own stub,
  # each returns CUDA_ERROR_STUB_LIBRARY (34), so a binary that loads it by mistake sees no GPU.
  mkdir -p "$toolkit/lib/stubs"
  grep -ohE '\bcu[A-Z][A-Za-z0-9_]*\b' "$toolkit/include/cuda.h" "$toolkit/include/cudaGL.h" \
    "$toolkit/include/cudaEGL.h" "$toolkit/include/cudaVDPAU.h" 2>/dev/null |
    sort -u | sed 's/.*/int &(void) { return 34; }/' >"$toolkit/lib/stubs/cuda_stub.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$toolkit/lib/stubs/libcuda.so" \
    "$toolkit/lib/stubs/cuda_stub.c" || {
    echo "cuda-env: could not build the libcuda link stub (is a C compiler installed?)" >&2
    return 1
  }
  # Only for running a CUDA build on a machine without a driver (the CPU fallback, as when a
  # driver finds no GPU): LD_LIBRARY_PATH=$CUDA_HOME/lib/stubs. Never on a GPU machine.
  ln -sf libcuda.so "$toolkit/lib/stubs/libcuda.so.1"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # Sourced: export into the caller's shell.
  _headshot_cuda_main
else
  set -euo pipefail
  _headshot_cuda_main
  if [ "$#" -gt 0 ]; then
    exec "$@"
  fi
fi
