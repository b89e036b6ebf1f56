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

Environment: the venv of models/tools/diffusion_reference.py.
Run: /var/tmp/venv-diffusion/bin/python models/tools/bench_torch_sd.py [runs]
Note that other work on the machine (e.g. a cargo build) slows the numbers;
the load average is printed before and after.
"""

import os
import resource
import sys
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


def timed(label, fn, runs):
    t0 = time.perf_counter()
    fn()
    warm = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
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
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.manual_seed(0)
    torch.set_num_threads(2)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"cpus {os.cpu_count()}, loadavg {os.getloadavg()}",
        flush=True,
    )
    print(f"image {WIDTH}x{HEIGHT} (w x h), latents {LAT_H}x{LAT_W} (h x w)", flush=True)

    with torch.inference_mode():
        t0 = time.perf_counter()
        vae = sd15_vae()
        n = sum(p.numel() for p in vae.parameters())
        print(f"VAE built in {time.perf_counter() - t0:.1f} s, {n / 1e6:.1f} M params, "
              f"RSS {rss_mb():.0f} MB", flush=True)
        latents = torch.randn(1, 4, LAT_H, LAT_W)
        timed("VAE decode (1,4,80,64)", lambda: vae.decode(latents).sample, runs)
        image = torch.rand(1, 3, HEIGHT, WIDTH) * 2 - 1
        timed("VAE encode (1,3,640,512) [extra]", lambda: vae.encode(image).latent_dist.mean, runs)
        vae_peak = peak_mb()

        t0 = time.perf_counter()
        unet = sd15_inpaint_unet()
        n = sum(p.numel() for p in unet.parameters())
        print(f"UNet built in {time.perf_counter() - t0:.1f} s, {n / 1e6:.1f} M params, "
              f"RSS {rss_mb():.0f} MB", flush=True)
        sample = torch.randn(2, 9, LAT_H, LAT_W)
        context = torch.randn(2, 77, 768)
        t = torch.tensor([500])
        times = timed(
            "UNet step batch 2 (2,9,80,64)",
            lambda: unet(sample, t, encoder_hidden_states=context).sample,
            runs,
        )

    print(f"peak RSS after VAE section: {vae_peak:.0f} MB", flush=True)
    print(f"peak RSS of the process (after UNet): {peak_mb():.0f} MB", flush=True)
    print(f"UNet seconds per step (mean of {runs}): {sum(times) / len(times):.2f}")
    print(f"loadavg at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
