"""Token counting with a real tokenizer (tiktoken's o200k_base, read from the copy LiteLLM bundles;
cl100k_base, also bundled, decodes token ids sent to the embeddings API).

    python -c "from shared.mockllm.tokens import count; print(count('hello world'))"   # 2
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import shared.config  # noqa: F401  (points tiktoken at the bundled encodings before it loads)


@lru_cache(maxsize=1)
def encoding():
    import tiktoken

    return tiktoken.get_encoding("o200k_base")


@lru_cache(maxsize=1)
def embedding_encoding():
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def decode(token_ids: list[int]) -> str:
    """Token ids (cl100k_base, as clients send them to the embeddings API) back to text."""
    return embedding_encoding().decode(token_ids)


@lru_cache(maxsize=20000)
def count(text: str) -> int:
    return len(encoding().encode(text or "", disallowed_special=()))


@lru_cache(maxsize=2000)
def ids(text: str) -> tuple[int, ...]:
    return tuple(encoding().encode(text or "", disallowed_special=()))


def split(text: str) -> list[str]:
    """The text cut at token boundaries (a stream's deltas); joining the pieces gives the text back."""
    enc = encoding()
    raw = enc.decode_tokens_bytes(enc.encode(text or "", disallowed_special=()))  # one call, not one per token
    try:
        return [b.decode("utf-8") for b in raw]  # the common case: every token is whole characters
    except UnicodeDecodeError:
        pass
    pieces, buf = [], b""  # a character split across tokens: hold bytes until they decode
    for b in raw:
        buf += b
        try:
            pieces.append(buf.decode("utf-8"))
            buf = b""
        except UnicodeDecodeError:
            continue
    if buf:
        pieces.append(buf.decode("utf-8", errors="replace"))
    return pieces


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                parts.append(str(block.get("text") or block.get("content") or ""))
            else:
                parts.append(str(block))
        content = "\n".join(parts)
    text = str(content or "")
    for call in message.get("tool_calls") or []:
        fn = call.get("function", {})
        text += f"\n{fn.get('name', '')}({fn.get('arguments', '')})"
    return text


def prompt_ids(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
               ) -> tuple[list[int], list[int]]:
    """The prompt as the provider sees it, tools first: (token ids, where each message ends).

    The ends let a front place Anthropic's cache breakpoints: ends[k] is the length of the prefix
    "tools + messages[:k]" (ends[0] covers the tools alone).
    """
    import json

    out: list[int] = list(ids(json.dumps(tools, sort_keys=True))) if tools else []
    ends = [len(out)]
    for message in messages:
        out += ids(f"<|{message.get('role', '')}|>{message_text(message)}")
        ends.append(len(out))
    return out, ends


def count_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """OpenAI's accounting: ~3 tokens of framing per message, 3 to prime the reply, plus tool schemas."""
    import json

    total = 3
    for message in messages:
        total += 3 + count(message_text(message)) + count(str(message.get("role", "")))
        if message.get("name"):
            total += 1 + count(str(message["name"]))
    if tools:
        total += count(json.dumps(tools, sort_keys=True))
    return total
