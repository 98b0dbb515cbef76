"""A prompt canary: route a share of incidents to a candidate prompt version, test sequentially, promote or roll back.

    curl -s localhost:8013/canary -H 'content-type: application/json' -d '{"baseline": "v1", "candidate": "v3", "max_incidents": 60}'
    python -m labs.lab13_sre.canary                   # v1 -> v2 (promoted) and v1 -> v3 (rolled back)

The rollback unit is the prompt version: `PromptRegistry` holds versions and which one is live; a
decision moves the live pointer (promote) or marks the candidate rolled back, and nothing else changes.

Each incident goes to the candidate with probability s (the share), is triaged by that version, and
graded against the truth (correct severity and team = good). Only bad events carry information about
which arm is worse: given a bad event, it came from the candidate with probability

    q0 = s                               if both versions are equally bad          (H0)
    q1 = s r / (s r + 1 - s)             if the candidate's bad rate is r x the baseline's (H1)

Wald's SPRT on that Bernoulli sequence: after each bad event x (1 = candidate)

    LLR += x log(q1 / q0) + (1 - x) log((1 - q1) / (1 - q0))
    roll back when LLR >= A = log((1 - beta) / alpha);  promote when LLR <= B = log(beta / (1 - alpha))

alpha bounds the chance of rolling back a candidate that is no worse, beta the chance of promoting one
that is r times worse. With no decision after `max_incidents`, the baseline stays (inconclusive).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labs.lab13_sre.estate import Estate, generate, load_estate, render
from labs.lab13_sre.triage import PROMPTS, llm
from shared.llm import Model


class PromptRegistry:
    """Prompt versions and the live pointer: the unit a canary promotes or rolls back."""

    def __init__(self, versions: dict[str, str] | None = None, live: str = "v1"):
        self.versions = dict(versions or PROMPTS)
        self.live = live
        self.history: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def add(self, text: str) -> str:
        version = "p-" + hashlib.sha256(text.encode()).hexdigest()[:8]
        with self._lock:
            self.versions.setdefault(version, text)
        return version

    def decide(self, candidate: str, decision: str) -> None:
        with self._lock:
            if decision == "promote":
                self.history.append({"event": "promoted", "from": self.live, "to": candidate})
                self.live = candidate
            elif decision == "rollback":
                self.history.append({"event": "rolled_back", "version": candidate, "live": self.live})

    def snapshot(self) -> dict[str, Any]:
        return {"live": self.live, "versions": {k: v[:120] for k, v in self.versions.items()},
                "history": self.history[-20:]}


@dataclass
class SPRT:
    share: float
    ratio: float = 2.0
    alpha: float = 0.05
    beta: float = 0.2
    llr: float = 0.0
    path: list[float] = field(default_factory=list)

    @property
    def q0(self) -> float:
        return self.share

    @property
    def q1(self) -> float:
        return self.share * self.ratio / (self.share * self.ratio + 1 - self.share)

    @property
    def upper(self) -> float:
        return math.log((1 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        return math.log(self.beta / (1 - self.alpha))

    def update(self, from_candidate: bool) -> str | None:
        q0, q1 = self.q0, self.q1
        self.llr += math.log(q1 / q0) if from_candidate else math.log((1 - q1) / (1 - q0))
        self.path.append(round(self.llr, 4))
        if self.llr >= self.upper:
            return "rollback"
        if self.llr <= self.lower:
            return "promote"
        return None


def run(model: Model, registry: PromptRegistry, baseline: str, candidate: str, *, share: float = 0.5,
        ratio: float = 2.0, alpha: float = 0.05, beta: float = 0.2, max_incidents: int = 120, seed: int = 0,
        estate: Estate | None = None, mock: dict[str, Any] | None = None,
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run the canary over a stream of generated incidents; apply the decision to the registry."""
    estate = estate or load_estate()
    for v in (baseline, candidate):
        if v not in registry.versions:
            raise KeyError(v)
    rng = random.Random(seed)
    test = SPRT(share, ratio, alpha, beta)
    arms = {"baseline": {"n": 0, "bad": 0}, "candidate": {"n": 0, "bad": 0}}
    decision, seen = None, 0
    examples: list[dict[str, Any]] = []
    for spec in generate(max_incidents, seed=1000 + seed, estate=estate):
        inc = render(spec, estate)
        arm = "candidate" if rng.random() < share else "baseline"
        version = candidate if arm == "candidate" else baseline
        out = llm(inc, estate, model, version, mock, system=registry.versions[version])
        good = out["severity"] == inc.truth["severity"] and out["team"] == inc.truth["team"]
        arms[arm]["n"] += 1
        seen += 1
        if not good:
            arms[arm]["bad"] += 1
            if len(examples) < 6:
                examples.append({"incident": inc.id, "arm": arm, "version": version, "said": out,
                                 "truth": {k: inc.truth[k] for k in ("severity", "team")}})
            decision = test.update(arm == "candidate")
        if progress:
            progress(seen, max_incidents)
        if decision:
            break
    final = decision or "inconclusive"
    registry.decide(candidate, final)
    rate = {k: round(v["bad"] / v["n"], 4) if v["n"] else None for k, v in arms.items()}
    return {"baseline": baseline, "candidate": candidate, "decision": final, "live": registry.live,
            "incidents": seen, "arms": arms, "bad_rate": rate,
            "test": {"share": share, "ratio_h1": ratio, "alpha": alpha, "beta": beta,
                     "upper_rollback": round(test.upper, 4), "lower_promote": round(test.lower, 4),
                     "llr": round(test.llr, 4), "llr_path": test.path},
            "evidence": examples}


def operating_characteristics(share: float = 0.5, ratio: float = 2.0, alpha: float = 0.05, beta: float = 0.2,
                              base_bad: float = 0.1, trials: int = 2000, max_events: int = 5000,
                              seed: int = 0) -> dict[str, float]:
    """Simulated error rates: how often an equal candidate is rolled back, an r-times-worse one promoted."""
    rng = random.Random(seed)

    def once(true_ratio: float) -> str:
        t = SPRT(share, ratio, alpha, beta)
        for _ in range(max_events):
            cand = rng.random() < share
            bad = rng.random() < base_bad * (true_ratio if cand else 1.0)
            if bad and (d := t.update(cand)):
                return d
        return "inconclusive"

    equal = [once(1.0) for _ in range(trials)]
    worse = [once(ratio) for _ in range(trials)]
    return {"rollback_when_equal": equal.count("rollback") / trials,
            "promote_when_worse": worse.count("promote") / trials, "alpha": alpha, "beta": beta}


def main() -> None:
    from labs.lab13_sre import mock_plugin  # noqa: F401  (registers sre_triage with the in-process mock)

    model = Model.from_settings().for_behaviour("sre_triage")
    for cand in ("v2", "v3"):
        reg = PromptRegistry()
        res = run(model, reg, "v1", cand, max_incidents=150)
        print(json.dumps({k: res[k] for k in ("baseline", "candidate", "decision", "live", "incidents", "bad_rate")}))
    print(operating_characteristics(trials=500))


if __name__ == "__main__":
    main()


__all__ = ["SPRT", "PromptRegistry", "operating_characteristics", "run"]
