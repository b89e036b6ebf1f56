#!/usr/bin/env python3
"""Reference outputs of diffusers/transformers for the Stable Diffusion 1.5
inpainting pipeline, on TINY randomly initialised models.

Purpose: the Rust diffusion code (candle-transformers' stable_diffusion
modules) is checked against these numbers. The real SD 1.5 weights are far
too large for tests, so this script builds models of the same architecture
families but tiny sizes, gives them small random weights (seeded, no
third-party data), saves them in the diffusers directory layout, and stores
the outputs of each component and of a whole 3-step inpainting loop.

Output, under models/tests/fixtures/diffusion/:

* unet/config.json + unet/diffusion_pytorch_model.safetensors:
  UNet2DConditionModel, in_channels 9 (4 latent + 1 mask + 4 masked-image
  latent, as in SD 1.5 inpainting), blocks (32, 64), CrossAttnDownBlock2D +
  DownBlock2D / UpBlock2D + CrossAttnUpBlock2D, one layer per block,
  cross_attention_dim 32, attention_head_dim 8 (in diffusers' legacy naming
  this is the number of HEADS, 8, as in SD 1.5; candle reads it the same way),
  32 norm groups, conv proj_in/proj_out (use_linear_projection False).
* vae/config.json + vae/diffusion_pytorch_model.safetensors: AutoencoderKL,
  blocks (32, 64), one layer per block, 4 latent channels, 32 groups,
  scaling_factor 0.18215 (left at its default; NOT applied to any fixture).
  The VAE's 32x32 image maps to 16x16 latents.
* text_encoder/config.json + text_encoder/model.safetensors: transformers'
  CLIPTextModel (tensor names prefixed `text_model.` as in the SD 1.5
  checkpoints; transformers 5 itself would save them without the prefix), vocab 1000, hidden 32, intermediate 37, 2 layers, 4 heads,
  77 positions, quick_gelu, bos 998, eos/pad 999.
* scheduler/scheduler_config.json: DDIMScheduler with the SD 1.5 settings
  (scaled_linear 0.00085..0.012, clip_sample False, set_alpha_to_one False,
  steps_offset 1, epsilon prediction, 1000 train steps, "leading" spacing).
* fixtures.safetensors, all float32, contiguous:
    text.input_ids   (2,77)  integer ids stored as f32. Row 0 = the
                     conditional prompt: 998, then 5,17,42,100,256,511,7,
                     999 and 999 padding to 77. Row 1 = the unconditional
                     (empty) prompt: 998 then 999 x 76.
    text.hidden      (2,77,32) text_encoder(ids).last_hidden_state (after the
                     final layer norm). Row 0 cond, row 1 uncond.
    unet.sample      (2,9,16,16) random normal
    unet.timestep    (1,) 500.0
    unet.context     (2,77,32) = text.hidden
    unet.out         (2,4,16,16) unet(sample, 500, context).sample
    vae.image        (1,3,32,32) uniform in [-1, 1)
    vae.mean         (1,4,16,16) vae.encode(image).latent_dist.mean
                     (after quant_conv, NOT multiplied by scaling_factor)
    vae.latents      (1,4,16,16) random normal
    vae.decoded      (1,3,32,32) vae.decode(vae.latents).sample (the latents
                     are fed as they are, NOT divided by scaling_factor)
    loop.latents0    (1,4,16,16) initial noise (DDIM init_noise_sigma is 1)
    loop.mask        (1,1,16,16) 1 outside the centred 8x8 square
                     (rows/cols 4..12), 0 inside it
    loop.masked_latents (1,4,16,16) a fixed random normal tensor
    loop.context     (2,77,32) = text.hidden, ORDER [cond, uncond]:
                     batch row 0 is the conditional prompt, row 1 the
                     unconditional one.
    loop.timesteps   (3,) scheduler timesteps after set_timesteps(3):
                     667, 334, 1
    loop.eps0        (1,4,16,16) guided eps of the first step
    loop.latents     (1,4,16,16) latents after the 3 DDIM steps
  The loop, per timestep t (guidance scale 7.5, DDIM eta 0):
      latent_in = cat([latents, latents])                 # (2,4,16,16)
      x = cat([latent_in, cat([mask]*2), cat([masked_latents]*2)], dim=1)
      eps = unet(x, t, encoder_hidden_states=loop.context).sample
      eps_cond, eps_uncond = eps.chunk(2)                 # [cond, uncond]
      eps = eps_uncond + 7.5 * (eps_cond - eps_uncond)
      latents = scheduler.step(eps, t, latents).prev_sample

Random initialisation (so that no output is trivially zero; diffusers
zero-initialises several conv_out / proj_out layers): every GroupNorm /
LayerNorm gets weight 1 + 0.05*N(0,1) and bias 0.02*N(0,1); every other
weight (conv, linear, embedding) gets N(0, 0.05^2), except the UNet's
cross-attention (attn2) to_k / to_v / to_out.0 weights, which get N(0, 0.2^2)
so that the text context moves eps clearly; every other bias 0.02*N(0,1). Seeds: torch.manual_seed(0) at start; each model and each input
draws from its own torch.Generator with a fixed seed (listed in SEEDS), so
the numbers do not depend on how the libraries consume the global RNG.
Everything runs in float32 on CPU under torch.no_grad().

Environment (Python 3.11, a throwaway venv; torch's Linux wheel pulls its
CUDA runtime wheels too, which is fine: everything runs on CPU):
    python3 -m venv /var/tmp/venv-diffusion
    /var/tmp/venv-diffusion/bin/pip install torch==2.15.0 diffusers==0.42.1 \
        transformers==5.23.0 safetensors==0.8.0 numpy==2.4.6
(Generated with exactly those; huggingface_hub 2.4.0, tokenizers 0.23.3 came
along.) No network access is needed at run time.

Run from the repository root:
    /var/tmp/venv-diffusion/bin/python models/tools/diffusion_reference.py
"""

import json
import os
import shutil

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel

OUT = os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "diffusion")
)

GUIDANCE = 7.5
STEPS = 3
UNET_T = 500
SEEDS = {
    "unet": 1,
    "vae": 2,
    "text_encoder": 3,
    "unet.sample": 10,
    "vae.image": 11,
    "vae.latents": 12,
    "loop.latents0": 13,
    "loop.masked_latents": 14,
}
COND_IDS = [5, 17, 42, 100, 256, 511, 7]
BOS, EOS = 998, 999
MAX_LEN = 77


def gen(name):
    return torch.Generator().manual_seed(SEEDS[name])


def randomize(model, seed_name, weight_std=lambda name: 0.05):
    """Small random weights everywhere, including the zero-initialised layers."""
    g = gen(seed_name)
    names = {id(p): n for n, p in model.named_parameters()}
    norms = (torch.nn.GroupNorm, torch.nn.LayerNorm)
    done = set()
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            if id(p) in done:
                continue
            done.add(id(p))
            noise = torch.randn(p.shape, generator=g, dtype=p.dtype)
            if isinstance(module, norms) and pname == "weight":
                p.data.copy_(1.0 + 0.05 * noise)
            elif pname == "bias" or pname.endswith("bias"):
                p.data.copy_(0.02 * noise)
            else:
                p.data.copy_(weight_std(names[id(p)]) * noise)
    missed = [n for n, p in model.named_parameters() if id(p) not in done]
    assert not missed, missed
    zero = [n for n, p in model.named_parameters() if p.abs().max() == 0]
    assert not zero, zero


def unet_weight_std(name):
    # Stronger cross-attention (to_k, to_v, to_out of attn2) so that the text
    # context visibly moves eps: cond - uncond is then ~0.05 rms instead of
    # ~0.003, and a swapped [cond, uncond] order fails loudly.
    if ".attn2." in name and any(k in name for k in ("to_k.", "to_v.", "to_out.")):
        return 0.2
    return 0.05


def build_unet():
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=9,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
        use_linear_projection=False,
        mid_block_type="UNetMidBlock2DCrossAttn",
    )
    randomize(unet, "unet", unet_weight_std)
    return unet.eval()


def build_vae():
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=32,
    )
    assert abs(vae.config.scaling_factor - 0.18215) < 1e-9
    randomize(vae, "vae")
    return vae.eval()


def build_text_encoder():
    config = CLIPTextConfig(
        vocab_size=1000,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_LEN,
        hidden_act="quick_gelu",
        projection_dim=32,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=EOS,
    )
    # Plain matmul-softmax attention: the textbook reference.
    config._attn_implementation = "eager"
    model = CLIPTextModel(config)
    randomize(model, "text_encoder")
    return model.eval()


def build_scheduler():
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
        num_train_timesteps=1000,
    )


def input_ids():
    cond = [BOS] + COND_IDS + [EOS]
    cond += [EOS] * (MAX_LEN - len(cond))
    uncond = [BOS] + [EOS] * (MAX_LEN - 1)
    return torch.tensor([cond, uncond], dtype=torch.long)


def centre_hole_mask(size=16, hole=8):
    mask = torch.ones(1, 1, size, size)
    lo = (size - hole) // 2
    mask[:, :, lo : lo + hole, lo : lo + hole] = 0.0
    return mask


def inpaint_loop(unet, scheduler, latents, mask, masked_latents, context):
    """context is [cond, uncond] along the batch."""
    scheduler.set_timesteps(STEPS)
    latents = latents * scheduler.init_noise_sigma
    eps0 = None
    for t in scheduler.timesteps:
        latent_in = torch.cat([latents] * 2)
        latent_in = scheduler.scale_model_input(latent_in, t)
        x = torch.cat(
            [latent_in, torch.cat([mask] * 2), torch.cat([masked_latents] * 2)], dim=1
        )
        eps = unet(x, t, encoder_hidden_states=context).sample
        eps_cond, eps_uncond = eps.chunk(2)
        eps = eps_uncond + GUIDANCE * (eps_cond - eps_uncond)
        if eps0 is None:
            eps0 = eps.clone()
        latents = scheduler.step(eps, t, latents).prev_sample
    return latents, eps0, scheduler.timesteps.clone()


def save_model(model, sub, **kw):
    path = os.path.join(OUT, sub)
    if os.path.isdir(path):
        shutil.rmtree(path)
    model.save_pretrained(path, safe_serialization=True, **kw)


def save_text_encoder(model):
    """transformers 5 saves CLIPTextModel without the `text_model.` prefix;
    the SD 1.5 checkpoints (and candle's ClipTextTransformer, which reads
    vs.pp("text_model")) have it, so the weights are written by hand."""
    path = os.path.join(OUT, "text_encoder")
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    model.config.architectures = ["CLIPTextModel"]
    model.config.save_pretrained(path)
    tensors = {
        "text_model." + k: v.detach().contiguous().clone()
        for k, v in model.state_dict().items()
    }
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})


def main():
    torch.manual_seed(0)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    os.makedirs(OUT, exist_ok=True)

    unet, vae, text_encoder = build_unet(), build_vae(), build_text_encoder()
    scheduler = build_scheduler()
    assert scheduler.init_noise_sigma == 1.0

    fx = {}
    with torch.no_grad():
        ids = input_ids()
        hidden = text_encoder(ids).last_hidden_state
        fx["text.input_ids"] = ids.float()
        fx["text.hidden"] = hidden

        sample = torch.randn(2, 9, 16, 16, generator=gen("unet.sample"))
        fx["unet.sample"] = sample
        fx["unet.timestep"] = torch.tensor([float(UNET_T)])
        fx["unet.context"] = hidden
        fx["unet.out"] = unet(
            sample, torch.tensor([UNET_T]), encoder_hidden_states=hidden
        ).sample

        image = torch.rand(1, 3, 32, 32, generator=gen("vae.image")) * 2.0 - 1.0
        fx["vae.image"] = image
        fx["vae.mean"] = vae.encode(image).latent_dist.mean
        vae_latents = torch.randn(1, 4, 16, 16, generator=gen("vae.latents"))
        fx["vae.latents"] = vae_latents
        fx["vae.decoded"] = vae.decode(vae_latents).sample

        latents0 = torch.randn(1, 4, 16, 16, generator=gen("loop.latents0"))
        mask = centre_hole_mask()
        masked_latents = torch.randn(
            1, 4, 16, 16, generator=gen("loop.masked_latents")
        )
        latents, eps0, timesteps = inpaint_loop(
            unet, scheduler, latents0, mask, masked_latents, hidden
        )
        fx["loop.latents0"] = latents0
        fx["loop.mask"] = mask
        fx["loop.masked_latents"] = masked_latents
        fx["loop.context"] = hidden
        fx["loop.timesteps"] = timesteps.float()
        fx["loop.eps0"] = eps0
        fx["loop.latents"] = latents

    assert fx["loop.timesteps"].tolist() == [667.0, 334.0, 1.0], fx["loop.timesteps"]
    fx = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in fx.items()}
    for k, v in fx.items():
        assert torch.isfinite(v).all(), k
        print(f"{k:22s} {tuple(v.shape)!s:18s} mean {v.mean():+.5f} max|x| {v.abs().max():.5f}")

    save_model(unet, "unet")
    save_model(vae, "vae")
    save_text_encoder(text_encoder)
    sched_dir = os.path.join(OUT, "scheduler")
    if os.path.isdir(sched_dir):
        shutil.rmtree(sched_dir)
    scheduler.save_pretrained(sched_dir)
    save_file(
        fx,
        os.path.join(OUT, "fixtures.safetensors"),
        # One key: safetensors writes metadata from a hash map, so several
        # keys would come out in a different order (other bytes) each run.
        metadata={
            "info": json.dumps(
                {
                    "generator": "models/tools/diffusion_reference.py",
                    "context_order": "cond,uncond",
                    "guidance_scale": GUIDANCE,
                    "torch": torch.__version__,
                    "seeds": SEEDS,
                },
                sort_keys=True,
            )
        },
    )

    total = 0
    for root, _, files in sorted(os.walk(OUT)):
        for name in sorted(files):
            path = os.path.join(root, name)
            size = os.path.getsize(path)
            total += size
            print(f"{size:>10d}  {os.path.relpath(path, OUT)}")
    print(f"{total:>10d}  total")


if __name__ == "__main__":
    main()
