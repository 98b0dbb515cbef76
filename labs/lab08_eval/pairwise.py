"""Multi-turn pairwise evaluation (MT-Bench style): two candidates' conversations judged turn by turn,
each turn in both orders, with the win rate, its CI and the judge's position-swap consistency.

    curl -s localhost:8008/tasks/pairwise -H 'content-type: application/json' -d '{}'
    python -m labs.lab08_eval.pairwise          # an unbiased and a position-biased judge on the fixture

For each conversation c and turn t the judge sees the user's turns so far (the second question only
makes sense after the first), the turn's reference answer, and the two candidates' replies to that turn.
It is asked twice, once with a's reply shown first and once with b's; the second verdict is mapped back
to a/b. Then

    verdict(c, t)  = the two verdicts if they agree, else a tie (a preference that follows the position
                     is not a preference)
    consistency    = share of (c, t) whose two verdicts agree
    s(c, t)        = 1 if a wins, ½ for a tie, 0 if b wins;  win rate of a = mean over (c, t) of s
    CI             = percentile bootstrap over conversations of the per-conversation mean of s: the
                     turns of one conversation share their first turn, so they are resampled together

Every conversation has the same number of turns, so the mean of the per-conversation means is the
win rate itself. The same is reported per turn (the second turn is where candidates that lose the
thread fall behind) and for the first order alone, which is what a judge without swapping would say.
"""

from __future__ import annotations

import asyncio
from typing import Any

from labs.lab08_eval import judge, stats
from labs.lab08_eval.datasets import FIXTURES, read_jsonl

SCORE = {"a": 1.0, "tie": 0.5, "b": 0.0}


def load() -> list[dict]:
    return read_jsonl(FIXTURES / "conversations.jsonl")


def context(turns: list[dict], t: int) -> str:
    """The user's side of the conversation up to turn t (0-based), the last one being the question to judge."""
    asked = [f"Turn {i + 1} (user): {turn['question']}" for i, turn in enumerate(turns[:t + 1])]
    return "\n".join(asked)


def combine(first: str, second_flipped: str) -> str:
    """The verdict of both orders: theirs where they agree, otherwise a tie."""
    return first if first == second_flipped else "tie"


async def judge_turn(call: judge.Call, conv: dict, t: int, mock: dict[str, Any]) -> dict[str, Any]:
    """One turn judged with a's reply first, then with b's first (the same seed: only the order changes)."""
    turn, a, b = conv["turns"][t], conv["candidates"]["a"][t], conv["candidates"]["b"][t]
    question = context(conv["turns"], t)
    ab = judge.parse_reply(await call(judge.pairwise_prompt(question, a, b, turn["reference"]), mock))["winner"]
    ba = judge.parse_reply(await call(judge.pairwise_prompt(question, b, a, turn["reference"]), mock))["winner"]
    first = {"A": "a", "B": "b"}.get(ab, "tie")
    second = {"A": "b", "B": "a"}.get(ba, "tie")  # in the swapped order "A" is candidate b
    return {"id": conv["id"], "turn": t + 1, "a_first": first, "b_first": second,
            "consistent": first == second, "verdict": combine(first, second)}


def win_rate(rows: list[dict], key: str, B: int = 2000, seed: int = 0) -> dict[str, Any]:
    """a's win rate (ties count ½) with a bootstrap CI over conversations."""
    per_conv: dict[str, list[float]] = {}
    for r in rows:
        per_conv.setdefault(r["id"], []).append(SCORE[r[key]])
    means = [sum(v) / len(v) for v in per_conv.values()]
    est, low, high = stats.bootstrap_ci(means, B=B, seed=seed)
    counts = {k: sum(r[key] == k for r in rows) for k in ("a", "b", "tie")}
    return {"win_rate_a": round(est, 4), "low": round(low, 4), "high": round(high, 4),
            "wins_a": counts["a"], "wins_b": counts["b"], "ties": counts["tie"], "n": len(rows),
            "conversations": len(means)}


async def evaluate(call: judge.Call, mock: dict[str, Any] | None = None, limit: int | None = None,
                   B: int = 2000, concurrency: int = 16) -> dict[str, Any]:
    """Every turn of every fixture conversation judged in both orders; win rates, CIs and consistency."""
    mock = mock or {}
    sem = asyncio.Semaphore(concurrency)
    convs = load()[:limit]

    async def one(n: int, conv: dict, t: int) -> dict[str, Any]:
        async with sem:
            return await judge_turn(call, conv, t, {**mock, "seed": int(mock.get("seed", 0)) + 100 * n + t})

    rows = list(await asyncio.gather(*(one(n, c, t) for n, c in enumerate(convs) for t in range(len(c["turns"])))))
    turns = sorted({r["turn"] for r in rows})
    return {"candidates": {"a": "keeps the first turn's context", "b": "often loses the thread on turn 2"},
            "judge_options": mock, "n_conversations": len(convs), "n_judgements": len(rows),
            "position_consistency": round(sum(r["consistent"] for r in rows) / len(rows), 4),
            "swapped": win_rate(rows, "verdict", B), "a_first_only": win_rate(rows, "a_first", B),
            "by_turn": {str(t): win_rate([r for r in rows if r["turn"] == t], "verdict", B)
                        | {"position_consistency": round(sum(r["consistent"] for r in rows if r["turn"] == t)
                                                         / sum(r["turn"] == t for r in rows), 4)}
                        for t in turns},
            "rows": rows}


def main() -> None:
    for options in ({}, {"position_bias": 0.9}):
        out = asyncio.run(evaluate(judge.llm_call(), options))
        s, f = out["swapped"], out["a_first_only"]
        print(f"judge options {options or '(unbiased)'}: {out['n_judgements']} turn judgements, "
              f"position consistency {out['position_consistency']:.2f}")
        print(f"  both orders:  a's win rate {s['win_rate_a']:.3f} (95% CI {s['low']:.3f}–{s['high']:.3f}); "
              f"a {s['wins_a']}, b {s['wins_b']}, ties {s['ties']}")
        print(f"  a first only: a's win rate {f['win_rate_a']:.3f} (95% CI {f['low']:.3f}–{f['high']:.3f}); "
              f"a {f['wins_a']}, b {f['wins_b']}, ties {f['ties']}")
        for t, w in out["by_turn"].items():
            print(f"  turn {t}: a's win rate {w['win_rate_a']:.3f} ({w['low']:.3f}–{w['high']:.3f}), "
                  f"consistency {w['position_consistency']:.2f}")


if __name__ == "__main__":
    main()
