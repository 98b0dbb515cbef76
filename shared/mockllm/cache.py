"""Prompt caching as providers report it: a repeated prompt prefix of >= 1,024 tokens is billed as cached.

    python -c "from shared.mockllm.cache import PromptCache, openai_boundaries as b; c = PromptCache(); \
ids = list(range(3000)); print(c.use(ids, b(3000)), c.use(ids, b(3000)), c.use(ids[:1100], b(1100)))"
    # CacheUse(read=0, write=2944) CacheUse(read=2944, write=0) CacheUse(read=1024, write=0)

The provider keeps the attention state of prompt prefixes it has just computed. A later request
whose prompt starts with one of those prefixes skips recomputing it, and the provider reports (and
bills) those tokens as cached:

- OpenAI: automatic. Prefixes are cached in blocks, the first at 1,024 tokens and then every 128
  (`boundaries = 1024, 1152, 1280, ...`); `prompt_tokens_details.cached_tokens` is the longest
  boundary already in the cache. Writing costs nothing extra, so it is not reported.
- Anthropic: explicit. The client marks breakpoints with `cache_control`; a prefix up to a
  breakpoint (if >= 1,024 tokens) is read from the cache when present (`cache_read_input_tokens`)
  and written otherwise (`cache_creation_input_tokens`, billed at a premium).

An entry lives `ttl_s` seconds (5 minutes by default) and every hit refreshes it, as both providers
do. A prefix is identified by a chained hash over its token ids, so two prompts share an entry only
when they share every token up to the boundary.
"""

from __future__ import annotations

import hashlib
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MIN_CACHED = 1024  # both providers: shorter prefixes are never cached
BLOCK = 128  # OpenAI: the cached length grows in steps of 128 tokens


@dataclass(frozen=True)
class CacheUse:
    read: int = 0  # tokens served from the cache
    write: int = 0  # tokens newly written to the cache (Anthropic bills these)


def openai_boundaries(n_tokens: int) -> list[int]:
    """Where an automatic cache may cut a prompt of n tokens: 1024, 1152, ... <= n."""
    return list(range(MIN_CACHED, n_tokens + 1, BLOCK))


class PromptCache:
    """Engine-wide, thread-safe map: hash of a token prefix -> expiry time."""

    def __init__(self, ttl_s: float = 300.0, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._expiry: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _prefix_hashes(ids: Sequence[int], boundaries: Sequence[int]) -> dict[int, bytes]:
        """h(boundary_k) = sha256(h(boundary_k-1) || tokens between them): one pass over the prompt."""
        out: dict[int, bytes] = {}
        digest, start = b"", 0
        for end in sorted(boundaries):
            digest = hashlib.sha256(digest + array("I", ids[start:end]).tobytes()).digest()
            out[end] = digest
            start = end
        return out

    def use(self, ids: Sequence[int], boundaries: Sequence[int], ttl_s: float | None = None) -> CacheUse:
        """Look up the longest cached boundary, then store (or refresh) every boundary of this prompt."""
        usable = [b for b in boundaries if MIN_CACHED <= b <= len(ids)]
        if not usable:
            return CacheUse()
        hashes = self._prefix_hashes(ids, usable)
        ttl = self.ttl_s if ttl_s is None else ttl_s
        now = self.clock()
        with self._lock:
            read = max((b for b, h in hashes.items() if self._expiry.get(h, 0.0) > now), default=0)
            for h in hashes.values():
                self._expiry[h] = now + ttl
                self._expiry.move_to_end(h)
            while len(self._expiry) > self.max_entries:
                self._expiry.popitem(last=False)
        return CacheUse(read=read, write=max(usable) - read)

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()
