"""A TINY SDXL inpainting directory in the diffusers layout, for the load test.

SDXL differs from SD 1.5 in what the loader must handle: two text encoders
(`text_encoder`: CLIPTextModel; `text_encoder_2`: CLIPTextModelWithProjection,
whose `text_projection` gives the pooled embedding), their hidden states
concatenated as the UNet's cross-attention context (so cross_attention_dim is
the sum of both widths), linear attention projections, several transformer
layers per block, and the `text_time` additional embedding (`add_embedding.*`,
the size/crop conditioning candle's UNet does not have). This script builds
exactly that structure at a tiny size with seeded default initialisation and
writes it to models/tests/fixtures/sdxl/ (unet and vae as the fp16 variant
files, text_encoder, text_encoder_2, scheduler). Nothing is compared numerically: the Rust test
checks that every file parses and every tensor the networks need is found.

The text encoders use quick_gelu here (SDXL's second encoder uses gelu, which
the loader takes through candle's SDXL preset when the dimensions are the real
ones). Tensor names carry the `text_model.` prefix, as in the published
checkpoints (transformers 5 drops it when saving, so they are written by hand).

Environment: the venv of models/tools/diffusion_reference.py. Run from the
repository root:
    /var/tmp/venv-diffusion/bin/python models/tools/sdxl_layout.py
"""

import os
import shutil

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

OUT = os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "sdxl")
)
WIDTH = 32


def text_config(projection):
    return CLIPTextConfig(
        vocab_size=1000,
        hidden_size=WIDTH,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        projection_dim=projection,
        bos_token_id=998,
        eos_token_id=999,
        pad_token_id=999,
    )


def save_text(model, sub, architecture):
    path = os.path.join(OUT, sub)
    os.makedirs(path)
    model.config.architectures = [architecture]
    model.config.save_pretrained(path)
    tensors = {}
    for k, v in model.state_dict().items():
        keep = k.startswith(("text_projection", "text_model."))
        name = k if keep else "text_model." + k
        tensors[name] = v.detach().contiguous().clone()
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})


def main():
    torch.manual_seed(0)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=9,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        transformer_layers_per_block=(1, 2),
        cross_attention_dim=2 * WIDTH,
        attention_head_dim=(2, 4),
        norm_num_groups=32,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + WIDTH,
        mid_block_type="UNetMidBlock2DCrossAttn",
    )
    # Half precision, as the published fp16 variant files (and half the fixture size).
    unet.half().save_pretrained(os.path.join(OUT, "unet"), safe_serialization=True, variant="fp16")
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
        scaling_factor=0.13025,
    )
    vae.half().save_pretrained(os.path.join(OUT, "vae"), safe_serialization=True, variant="fp16")
    save_text(CLIPTextModel(text_config(WIDTH)), "text_encoder", "CLIPTextModel")
    save_text(
        CLIPTextModelWithProjection(text_config(WIDTH)),
        "text_encoder_2",
        "CLIPTextModelWithProjection",
    )
    DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
        num_train_timesteps=1000,
    ).save_pretrained(os.path.join(OUT, "scheduler"))
    for root, _, files in sorted(os.walk(OUT)):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(os.path.relpath(p, OUT), os.path.getsize(p))


if __name__ == "__main__":
    main()
