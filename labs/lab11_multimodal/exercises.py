"""The chapter's worked exercises, computed: python -m labs.lab11_multimodal.exercises [--json]

    python -m labs.lab11_multimodal.exercises          # readable
    python -m labs.lab11_multimodal.exercises --json   # {exercise: {inputs..., answer...}}
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

from labs.lab11_multimodal import cost, diffusion, rag, vit
from labs.lab11_multimodal import eval as mm_eval
from labs.lab11_multimodal.clip import clip_loss


def patch_counting() -> dict:
    cases = [(224, 224, 16), (224, 224, 14), (336, 336, 14), (384, 384, 16), (1024, 1024, 16)]
    rows = [{k: vit.patch_count(h, w, p)[k] for k in ("height", "width", "patch", "tokens", "values_per_patch")}
            for h, w, p in cases]
    photos = [{"photo": r["photo"], "native_tokens": r["native"]["tokens"], "native_grid": r["native"]["grid"],
               "at_224_tokens": r["preprocessed"]["tokens"]} for r in vit.photo_patches()]
    return {"inputs": {"cases": cases, "photos": "sklearn sample images, 427x640, patch 16"},
            "answer": {"cases": rows, "photos": photos,
                       "attention_cost_ratio_1024_vs_224": round(
                           vit.attention_flops(4097, 768) / vit.attention_flops(197, 768), 1)}}


def clip_loss_on_a_batch() -> dict:
    torch.manual_seed(0)
    u, v = torch.randn(4, 8), torch.randn(4, 8)
    v_matched = u + 0.3 * torch.randn(4, 8)            # captions that do describe their images
    t = torch.tensor(float(np.log(1 / 0.07)))

    def reference(a, b):
        logits = t.exp() * F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
        return float((F.cross_entropy(logits, torch.arange(4)) + F.cross_entropy(logits.T, torch.arange(4))) / 2)

    return {"inputs": {"batch": 4, "dim": 8, "temperature": 0.07, "seed": 0},
            "answer": {"random_pairs": round(float(clip_loss(u, v, t)), 4),
                       "matched_pairs": round(float(clip_loss(u, v_matched, t)), 4),
                       "reference_random_pairs": round(reference(u, v), 4),
                       "chance_level_log_N": round(float(np.log(4)), 4)}}


def diffusion_walk() -> dict:
    x0, beta = [1.0, -0.5], [0.1, 0.2, 0.3]
    eps = [[0.5, -1.0], [1.0, 0.5], [-0.5, 0.2]]
    eps_hat = [[0.4, -0.9], [1.1, 0.3], [-0.5, 0.4]]
    return {"inputs": {"x0": x0, "beta": beta, "eps": eps, "eps_hat": eps_hat},
            "answer": diffusion.walk(x0, beta, eps, eps_hat)}


def pdf_rag_design() -> dict:
    return {"inputs": {"pages": 200, "dpi": 150, "queries_per_day": 1000, "pages_per_answer": 3},
            "answer": rag.pdf_rag_design()}


def image_cost_comparison() -> dict:
    sizes = {"phone photo 4032x3024": (4032, 3024), "screenshot 1920x1080": (1920, 1080),
             "PDF page at 150 dpi 1275x1650": (1275, 1650), "thumbnail 256x256": (256, 256)}
    return {"inputs": {"images": 1000, "sizes": sizes, "schemes": sorted(cost.schemes())},
            "answer": {name: {r["scheme"]: {"tokens": r["tokens"], "usd": r["usd"]} for r in cost.cost(w, h, 1000)}
                       for name, (w, h) in sizes.items()}}


def hallucination_root_causes() -> dict:
    """Turn each root cause off in the mock answerer and measure adversarial POPE."""
    base = mm_eval.MockVLM()
    variants = {"as shipped": base, "no language prior": mm_eval.MockVLM(prior=0.0),
                "no yes-bias": mm_eval.MockVLM(yes_bias=0.0), "better grounding (0.99)": mm_eval.MockVLM(grounding=0.99),
                "weak grounding (0.6)": mm_eval.MockVLM(grounding=0.6)}
    return {"inputs": {"benchmark": "POPE, 200 synthetic scenes, 3 yes + 3 no probes each",
                       "mock": {"grounding": base.grounding, "prior": base.prior, "yes_bias": base.yes_bias}},
            "answer": {"by_sampling": {s: mm_eval.pope(base, s) for s in ("random", "popular", "adversarial")},
                       "adversarial_by_cause": {k: mm_eval.pope(v, "adversarial") for k, v in variants.items()},
                       "root_causes": ["language prior / co-occurrence (adversarial negatives expose it)",
                                       "agreement (yes) bias from instruction data",
                                       "weak visual grounding (low resolution, small objects)"]}}


EXERCISES = {"patch counting": patch_counting, "a ~25-line CLIP loss": clip_loss_on_a_batch,
             "T=3 diffusion walk": diffusion_walk, "200-page PDF RAG design": pdf_rag_design,
             "image-cost comparison": image_cost_comparison, "hallucination root causes": hallucination_root_causes}


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    results = {name: fn() for name, fn in EXERCISES.items()}
    if "--json" in argv:
        print(json.dumps(results))
        return
    for name, res in results.items():
        print(f"== {name}")
        print(f"   inputs: {json.dumps(res['inputs'])}")
        for key, value in res["answer"].items():
            print(f"   {key}: {json.dumps(value)}")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
