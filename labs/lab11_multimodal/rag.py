"""Multimodal RAG: retrieve images by text with the trained CLIP, and a 200-page PDF design as data.

    curl -s localhost:8011/clip/search -d '{"text": "a thick handwritten seven", "k": 5}'
    python -m labs.lab11_multimodal.exercises     # the PDF RAG design, costed

    precision@k = |relevant in top k| / k        recall@k = |relevant in top k| / |relevant|
    hit@k       = 1 if any of the top k is relevant

A query asks for a digit (and sometimes an ink attribute); the relevant set is every held-out image
of that digit (with that attribute). The index is the CLIP image embedding of the 360 test images.
"""

from __future__ import annotations

import numpy as np
import torch

from labs.lab11_multimodal import cost, data
from labs.lab11_multimodal.clip import CLIP


def queries() -> list[tuple[str, int, int | None]]:
    """(text, digit, ink or None): one plain and two attribute queries per digit."""
    out = []
    for digit, word in enumerate(data.WORDS):
        out.append((f"a handwritten {word}", digit, None))
        out += [(f"a {ink} handwritten {word}", digit, i) for i, ink in ((1, "thick"), (0, "thin"))]
    return out


@torch.no_grad()
def retrieval_metrics(model: CLIP, ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    d = data.digits()
    index = model.encode_images(d.images[d.test])
    texts = queries()
    sims = (model.encode_texts([t for t, _, _ in texts]) @ index.T).numpy()
    out: dict = {"queries": len(texts), "index_size": len(d.test)}
    for k in ks:
        p, r, h, p_attr = [], [], [], []
        for row, (_, digit, ink) in zip(sims, texts, strict=True):
            top = d.test[np.argsort(-row, kind="stable")[:k]]
            relevant = (d.labels[d.test] == digit) & ((d.ink[d.test] == ink) if ink is not None else True)
            hits = (d.labels[top] == digit) & ((d.ink[top] == ink) if ink is not None else True)
            p.append(hits.mean())
            r.append(hits.sum() / relevant.sum())
            h.append(float(hits.any()))
            p_attr.append((d.labels[top] == digit).mean())
        out[f"precision@{k}"] = round(float(np.mean(p)), 4)
        out[f"recall@{k}"] = round(float(np.mean(r)), 4)
        out[f"hit@{k}"] = round(float(np.mean(h)), 4)
        out[f"digit_precision@{k}"] = round(float(np.mean(p_attr)), 4)
    return out


def pdf_rag_design(pages: int = 200, dpi: int = 150, page_in: tuple[float, float] = (8.5, 11.0),
                   queries_per_day: int = 1000, pages_per_answer: int = 3, scheme: str = "openai_high") -> dict:
    """Two designs for asking questions of a scanned PDF, with their index sizes and running costs.

    text-first: OCR/extract text -> ~500-token chunks -> one 384-d text vector each; answers read text.
    page-image: each page image -> a multi-vector embedding (ColPali-style, one 128-d vector per patch)
                -> late-interaction search; answers send the retrieved page images to a VLM.
    """
    w, h = round(page_in[0] * dpi), round(page_in[1] * dpi)
    text_tokens_per_page = 600                     # a dense page of prose; tables and figures carry less
    chunks = pages * text_tokens_per_page // 500 + pages // 10
    page_patches = (448 // 14) ** 2 + 6             # ColPali at 448 px with patch 14, plus a few text tokens
    img_tokens = cost.tokens(scheme, w, h)["tokens"]
    price = cost.schemes()[scheme]["usd_per_mtok"]
    answer_text = pages_per_answer * 500 + 200
    answer_image = pages_per_answer * img_tokens + 200
    return {
        "pages": pages, "page_pixels": [w, h], "vlm_scheme": scheme,
        "steps": ["render pages (pdf -> images at dpi)", "extract/OCR text", "chunk + embed text",
                  "embed page images (multi-vector)", "index both", "retrieve top pages", "answer with citations"],
        "text_first": {"chunks": chunks, "vectors": chunks, "index_bytes": chunks * 384 * 4,
                       "prompt_tokens_per_answer": answer_text,
                       "usd_per_day": round(queries_per_day * answer_text * price / 1e6, 2),
                       "misses": "charts, tables as images, layout, handwriting"},
        "page_image": {"vectors": pages * page_patches, "index_bytes": pages * page_patches * 128 * 4,
                       "tokens_per_page_image": img_tokens, "prompt_tokens_per_answer": answer_image,
                       "indexing_tokens_if_captioned": pages * img_tokens,
                       "usd_per_day": round(queries_per_day * answer_image * price / 1e6, 2),
                       "misses": "exact strings (IDs, numbers) that lexical search finds"},
        "recommendation": "hybrid: text chunks for lexical/exact matches, page images for visual pages; "
                          "send images only for the pages retrieval marks as visual",
    }
