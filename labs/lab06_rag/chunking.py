"""Chunking: fixed-size with overlap, semantic, hierarchical parent-child, late chunking, contextual.

    python -c "from labs.lab06_rag.chunking import fixed; print(fixed('one two three four five', 3, 1))"

fixed(size, overlap)   windows of `size` model tokens, each starting size − overlap after the last
semantic(threshold)    sentences, a break wherever cos(sentence_i, sentence_i+1) < threshold
hierarchical           small children are indexed; a hit returns its parent (the whole section)
late chunking          the encoder reads the whole document once; a chunk's vector is the mean of
                       its tokens' contextual embeddings, so "it" in chunk 3 still knows what "it" is
contextual             an LLM writes one sentence situating the chunk in its document; that prefix
                       is indexed with the chunk (both BM25 and dense see it)
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from labs.lab06_rag.dense import minilm_path, normalise, sentence_model
from shared.llm import Model

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


@lru_cache(maxsize=2)
def tokenizer(path: str | None = None):
    from transformers import AutoTokenizer  # heavy: only the chunkers that count model tokens need it

    return AutoTokenizer.from_pretrained(path or minilm_path())


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if s.strip()]


def token_spans(text: str) -> list[tuple[int, int]]:
    """Character span of each model token (no special tokens)."""
    enc = tokenizer()(text, add_special_tokens=False, return_offsets_mapping=True)
    return [tuple(o) for o in enc["offset_mapping"]]


def fixed(text: str, size: int = 128, overlap: int = 32) -> list[str]:
    """Windows of `size` tokens overlapping by `overlap`, cut back to the original text's characters."""
    if not 0 <= overlap < size:
        raise ValueError("need 0 <= overlap < size")
    spans = token_spans(text)
    if len(spans) <= size:
        return [text.strip()] if text.strip() else []
    out, step = [], size - overlap
    for start in range(0, len(spans), step):
        window = spans[start:start + size]
        out.append(text[window[0][0]:window[-1][1]].strip())
        if start + size >= len(spans):
            break
    return out


def semantic(text: str, embed, threshold: float = 0.5) -> list[str]:
    """Sentences grouped until the next one's embedding turns away (cosine below threshold)."""
    sents = sentences(text)
    if len(sents) <= 1:
        return sents
    V = embed(sents)
    sims = (V[:-1] * V[1:]).sum(axis=1)
    chunks, current = [], [sents[0]]
    for sim, sent in zip(sims, sents[1:], strict=True):
        if sim < threshold:
            chunks.append(" ".join(current))
            current = []
        current.append(sent)
    chunks.append(" ".join(current))
    return chunks


def hierarchical(doc: dict, child_size: int = 24) -> list[dict]:
    """Children of ~child_size tokens that carry their parent (the whole document) for answering."""
    return [{"text": c, "parent": doc["text"]} for c in fixed(doc["text"], child_size, child_size // 4)]


def late_chunk_embeddings(text: str, chunks: list[str], model=None) -> np.ndarray:
    """One vector per chunk: mean of the whole document's contextual token embeddings in its span."""
    import torch  # heavy: only late chunking runs the transformer itself

    model = model or sentence_model()
    transformer = model[0].auto_model
    tok = model.tokenizer
    enc = tok(text, return_offsets_mapping=True, truncation=True, max_length=model.max_seq_length,
              return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0].tolist()
    with torch.no_grad():
        H = transformer(**enc).last_hidden_state[0].numpy()
    out, cursor = [], 0
    for chunk in chunks:
        start = text.find(chunk, cursor)
        start = cursor if start < 0 else start
        end = start + len(chunk)
        rows = [i for i, (a, b) in enumerate(offsets) if b > a and a >= start and b <= end]
        out.append(H[rows].mean(axis=0) if rows else H[0])
        cursor = max(cursor, start)
    return normalise(np.stack(out))


CONTEXT_PROMPT = """<document title="{title}">
{document}
</document>
Here is a chunk of that document:
<chunk>
{chunk}
</chunk>
Write one short sentence that situates this chunk within the document, to improve search retrieval
of the chunk. Answer with the sentence only."""


def contextual_prefix(doc: dict, chunk: str, model: Model | None = None) -> str:
    """The LLM-written context sentence for a chunk (the lab's model handle; the mock answers via a lab skill)."""
    prompt = CONTEXT_PROMPT.format(title=doc.get("title", ""), document=doc["text"], chunk=chunk)
    return (model or Model.from_settings()).complete(prompt).text.strip()
