"""Reference outputs of the Stable Diffusion safety checker on a TINY random model.

diffusers' `StableDiffusionSafetyChecker` is a CLIP vision tower (transformers'
`CLIPVisionModel`), a bias-free projection to the concept space, 17 concept
embeddings and 3 "special care" embeddings, each with a threshold. An image is
flagged when the cosine similarity of its embedding to any concept exceeds that
concept's threshold (raised by 0.01 after a special-care hit). This script builds
the same structure at a tiny size, fills it with seeded random weights, and writes:

  models/tests/fixtures/diffusion/safety_checker/{config.json, model.safetensors}
      thresholds 1.5: nothing can be flagged (the engine and serve tests use it)
  models/tests/fixtures/diffusion/feature_extractor/preprocessor_config.json
      CLIP's preprocessing at the tiny size (shortest edge and crop 32)
  models/tests/fixtures/diffusion/safety_parity/{config.json, model.safetensors}
      the same weights; special-care concept 0 is hit by exactly one image and
      concepts 0-2 each flag the image most similar to them (thresholds halfway
      between the two highest similarities, more than 0.002 from every score);
      the other concepts never flag
  models/tests/fixtures/diffusion/safety_fixtures.safetensors
      pixels      (6, 3, 32, 32)  preprocessed inputs (seed 21)
      embeds      (6, 16)         projected image embeddings
      cos         (6, 17)         cosine similarity to each concept
      special_cos (6, 3)          cosine similarity to each special-care concept
      flagged     (6,)            1.0 where diffusers flags the image (parity model)
      special     (6,)            1.0 where a special-care concept was hit

Tiny vision config: hidden 32, intermediate 37, 2 layers, 4 heads, image 32,
patch 8 (17 tokens), projection 16, quick_gelu. Weights: LayerNorm weight
1 + 0.05 N(0,1), every bias 0.02 N(0,1), every other weight N(0, 0.3^2)
(large enough that different images get clearly different embeddings);
the class embedding N(0,1); concept embeddings N(0,1). Seeds: model 20,
inputs 21, concepts 22.

Environment: the venv of models/tools/diffusion_reference.py. Run from the
repository root:
    /var/tmp/venv-diffusion/bin/python models/tools/safety_reference.py
"""

import json
import os

import torch
from diffusers.pipelines.stable_diffusion.safety_checker import (
    StableDiffusionSafetyChecker,
)
from safetensors.torch import save_file
from transformers import CLIPConfig

OUT = os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "diffusion")
)
SIZE = 32


def build():
    config = CLIPConfig(
        text_config={
            "vocab_size": 1000,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": SIZE,
            "patch_size": 8,
            "hidden_act": "quick_gelu",
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    model = StableDiffusionSafetyChecker(config).eval()
    g = torch.Generator().manual_seed(20)
    for name, p in model.named_parameters():
        noise = torch.randn(p.shape, generator=g)
        if name.endswith("class_embedding"):
            p.data.copy_(noise)
        elif "norm" in name and name.endswith("weight"):
            p.data.copy_(1.0 + 0.05 * noise)
        elif name.endswith("bias"):
            p.data.copy_(0.02 * noise)
        else:
            p.data.copy_(0.3 * noise)
    g = torch.Generator().manual_seed(22)
    model.concept_embeds.data.copy_(torch.randn(model.concept_embeds.shape, generator=g))
    model.special_care_embeds.data.copy_(
        torch.randn(model.special_care_embeds.shape, generator=g)
    )
    return config, model


def cosine(a, b):
    return torch.mm(
        torch.nn.functional.normalize(a), torch.nn.functional.normalize(b).t()
    )


def save_model(model, config, sub, concept_w, special_w):
    model.concept_embeds_weights.data.copy_(concept_w)
    model.special_care_embeds_weights.data.copy_(special_w)
    os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, os.path.join(OUT, sub, "model.safetensors"))
    with open(os.path.join(OUT, sub, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)


def main():
    config, model = build()
    g = torch.Generator().manual_seed(21)
    pixels = torch.randn((6, 3, SIZE, SIZE), generator=g)
    # Two pairs of near-duplicates make the embeddings cluster.
    pixels[3] = pixels[0] + 0.1 * pixels[3]
    pixels[4] = pixels[1] + 0.1 * pixels[4]
    with torch.no_grad():
        pooled = model.vision_model(pixels)[1]
        embeds = model.visual_projection(pooled)
        cos = cosine(embeds, model.concept_embeds)
        special_cos = cosine(embeds, model.special_care_embeds)
        # Thresholds between the images' similarities, none of them within
        # rounding distance (the reference rounds scores to 3 decimals).
        # One special-care concept hit by exactly one image (by a clear margin);
        # that image's concept scores are then raised by 0.01.
        top = special_cos[:, 0].sort().values
        special_w = torch.full((3,), 1.5)
        special_w[0] = (top[-1] + top[-2]) / 2
        adjust = 0.01 * (special_cos - special_w > 0).any(dim=1, keepdim=True).float()
        scored = cos + adjust
        ranked = scored.sort(dim=0).values
        # Three concepts flag only the image most similar to them; the others
        # never flag.
        concept_w = torch.full((cos.shape[1],), 1.5)
        concept_w[:3] = (ranked[-1, :3] + ranked[-2, :3]) / 2
        margin = (cos - concept_w + adjust).abs().min()
        assert margin > 0.002, margin
        # Never-flagging thresholds for the engine's model.
        save_model(model, config, "safety_checker", torch.full((17,), 1.5), torch.full((3,), 1.5))
        save_model(model, config, "safety_parity", concept_w, special_w)
        images = (pixels.permute(0, 2, 3, 1).numpy() * 0).astype("uint8")
        _, flagged = model(clip_input=pixels, images=images)
        _, flagged_onnx = model.forward_onnx(pixels, torch.zeros((6, SIZE, SIZE, 3)))
    # forward and forward_onnx agree here (no score is within rounding distance of 0).
    assert [bool(x) for x in flagged_onnx] == list(flagged), (flagged, flagged_onnx)
    special = (special_cos - special_w > 0).any(dim=1)
    print("flagged", flagged, "special", special.tolist())
    assert any(flagged) and not all(flagged), flagged
    save_file(
        {
            "pixels": pixels.contiguous(),
            "embeds": embeds.contiguous(),
            "cos": cos.contiguous(),
            "special_cos": special_cos.contiguous(),
            "flagged": torch.tensor([float(x) for x in flagged]),
            "special": special.float(),
        },
        os.path.join(OUT, "safety_fixtures.safetensors"),
    )
    os.makedirs(os.path.join(OUT, "feature_extractor"), exist_ok=True)
    with open(os.path.join(OUT, "feature_extractor", "preprocessor_config.json"), "w") as f:
        json.dump(
            {
                "crop_size": {"height": SIZE, "width": SIZE},
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "resample": 3,
                "size": {"shortest_edge": SIZE},
            },
            f,
            indent=2,
        )


if __name__ == "__main__":
    main()
