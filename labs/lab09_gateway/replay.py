"""Replay: re-issue a stored request (content capture on) and diff the new answer against the old.

    curl -s -X POST localhost:8009/replay/<request_id> -H 'content-type: application/json' -d '{"prompt_version": "v2"}'

The typical use: a prompt version changed and a quality SLI dropped; replay yesterday's requests
under the new version and read the diffs. similarity = difflib's ratio 2*M/T (M matching
characters, T total characters of both texts), 1.0 for identical answers.
"""

from __future__ import annotations

import difflib


def diff(old: str, new: str) -> dict:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "stored", "replayed", lineterm=""))
    return {"same": old == new, "similarity": round(difflib.SequenceMatcher(None, old, new).ratio(), 4),
            "diff": lines}
