#!/usr/bin/env python3
"""CPU speed of diffusers/torch on the real SD 1.5 inpainting shapes, random weights.

Gives a baseline for the candle pipeline: how long one UNet step and one VAE
decode take in the reference stack on this machine. The weights are random
(diffusers' default init): speed does not depend on their values, and no
checkpoint is needed.

Measured, in one process, float32, torch.set_num_threads(2), inference mode:
* VAE (SD 1.5 config: blocks 128/256/512/512, 2 layers per block, 4 latent
  channels): decode of latents (1,4,80,64) -> image (1,3,640,512), i.e. a
  512 wide x 640 high picture. Also, as an extra, encode of that image (the
  inpainting pipeline encodes the masked image once).
* UNet (SD 1.5 inpainting config: in 9 / out 4 channels, blocks
  320/640/1280/1280, 2 layers per block, cross_attention_dim 768,
  attention_head_dim 8, 3 x CrossAttnDownBlock2D + DownBlock2D, UpBlock2D +
  3 x CrossAttnUpBlock2D): one step at batch 2 (classifier-free guidance),
  sample (2,9,80,64), context (2,77,768).
Each: one warm-up, then N timed runs (default 2). Peak RSS is
getrusage(RUSAGE_SELF).ru_maxrss, which only grows: the VAE runs first, so the
figure after it is the VAE's peak, and the figure after the UNet is the peak
of the whole process (UNet plus the VAE still in memory, ~330 MB).

On a GPU (`--device cuda`, optionally `--dtype f16`) each timed run ends with
torch.cuda.synchronize(), and the peak is the GPU's (max_memory_allocated);
scripts/gpu-check.sh runs it beside `headshot device check --speed` for the
candle/torch ratio. `--json FILE` also writes the means.

Environment: the venv of models/tools/diffusion_reference.py.
Run: /var/tmp/venv-diffusion/bin/python models/tools/bench_torch_sd.py [runs]
     [--device cpu|cuda] [--dtype f32|f16] [--json FILE]
Note that other work on the machine (e.g. a cargo build) slows the numbers;
the load average is printed before and after.
"""

import argparse
import json
import os
import resource
import time

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

WIDTH, HEIGHT = 512, 640
LAT_H, LAT_W = HEIGHT // 8, WIDTH // 8


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(label, fn, runs):
    t0 = time.perf_counter()
    fn()
    sync()
    warm = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    print(
        f"{label}: warm-up {warm:.2f} s, timed {', '.join(f'{t:.2f}' for t in times)} s, "
        f"mean {sum(times) / len(times):.2f} s; RSS now {rss_mb():.0f} MB, "
        f"peak so far {peak_mb():.0f} MB",
        flush=True,
    )
    return times


def sd15_vae():
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=512,
    ).eval()


def sd15_inpaint_unet():
    return UNet2DConditionModel(
        sample_size=64,
        in_channels=9,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        cross_attention_dim=768,
        attention_head_dim=8,
        norm_num_groups=32,
        use_linear_projection=False,
    ).eval()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="?", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="f32", choices=["f32", "f16"])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--json", help="also write the means (seconds) to this file")
    args = parser.parse_args()
    runs, device = args.runs, torch.device(args.device)
    dtype = torch.float16 if args.dtype == "f16" else torch.float32
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, device {device}, dtype {dtype}, threads {torch.get_num_threads()}, "
        f"cpus {os.cpu_count()}, loadavg {os.getloadavg()}",
        flush=True,
    )
    if device.type == "cuda":
        print(f"GPU {torch.cuda.get_device_name(0)}", flush=True)
    print(f"image {WIDTH}x{HEIGHT} (w x h), latents {LAT_H}x{LAT_W} (h x w)", flush=True)
    means = {}

    def randn(*shape):
        return torch.randn(*shape, device=device, dtype=dtype)

    with torch.inference_mode():
        t0 = time.perf_counter()
        vae = sd15_vae().to(device=device, dtype=dtype)
        n = sum(p.numel() for p in vae.parameters())
        print(f"VAE built in {time.perf_counter() - t0:.1f} s, {n / 1e6:.1f} M params, "
              f"RSS {rss_mb():.0f} MB", flush=True)
        latents = randn(1, 4, LAT_H, LAT_W)
        times = timed("VAE decode (1,4,80,64)", lambda: vae.decode(latents).sample, runs)
        means["VAE decode"] = sum(times) / len(times)
        image = randn(1, 3, HEIGHT, WIDTH).clamp(-1, 1)
        timed("VAE encode (1,3,640,512) [extra]", lambda: vae.encode(image).latent_dist.mean, runs)
        vae_peak = peak_mb()
        del vae

        t0 = time.perf_counter()
        unet = sd15_inpaint_unet().to(device=device, dtype=dtype)
        n = sum(p.numel() for p in unet.parameters())
        print(f"UNet built in {time.perf_counter() - t0:.1f} s, {n / 1e6:.1f} M params, "
              f"RSS {rss_mb():.0f} MB", flush=True)
        sample = randn(2, 9, LAT_H, LAT_W)
        context = randn(2, 77, 768)
        t = torch.tensor([500], device=device)
        times = timed(
            "UNet step batch 2 (2,9,80,64)",
            lambda: unet(sample, t, encoder_hidden_states=context).sample,
            runs,
        )
        means["UNet pass batch 2"] = sum(times) / len(times)

    print(f"peak RSS after VAE section: {vae_peak:.0f} MB", flush=True)
    print(f"peak RSS of the process (after UNet): {peak_mb():.0f} MB", flush=True)
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MB", flush=True)
    print(f"UNet seconds per step (mean of {runs}): {means['UNet pass batch 2']:.3f}")
    print(f"loadavg at end {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "dtype": args.dtype, "means_s": means}, f)


if __name__ == "__main__":
    main()
