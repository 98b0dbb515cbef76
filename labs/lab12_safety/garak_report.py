"""Red-team results in garak's JSONL report format, so garak's own tooling can read them.

    curl -s localhost:8012/redteam/runs/<id>/report.jsonl

One JSON object per line, as garak writes `garak.<run>.report.jsonl` (fields read from garak's source:
command.start_run, attempt.Attempt.as_dict, evaluators.base.Evaluator, command.end_run):
- `init`: garak_version, start_time, run;
- `attempt`: uuid, seq, status (2 = complete), probe_classname, probe_params, targets, prompt and
  outputs as garak Message dicts ({text, lang, data_path, data_type, data_checksum, notes}),
  detector_results {detector: [score per output]} (1.0 = the attack got through), notes, goal,
  conversations, reverse_translation_outputs, intent;
- `eval`: probe, detector, passed, fails, nones, total_evaluated, total_processed, and here also the
  Wilson interval as confidence_lower / confidence_upper and hit_at_k;
- `completion`: end_time, run.
Probe names are `lab12.<family>`; the defense configuration is in probe_params and in the eval row.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

GARAK_FORMAT_VERSION = "0.13.0"  # the report layout followed; this is not garak itself
DETECTOR = "lab12.TriggerHit"


def message(text: str | None) -> dict[str, Any]:
    return {"text": text, "lang": "en", "data_path": None, "data_type": None, "data_checksum": None, "notes": {}}


def init(run_id: str) -> dict[str, Any]:
    return {"entry_type": "init", "garak_version": GARAK_FORMAT_VERSION,
            "start_time": dt.datetime.now(dt.UTC).isoformat(), "run": run_id}


def attempt(seq: int, family: str, config: str, messages: list[dict[str, Any]], outputs: list[str],
            scores: list[float], goal: str, trigger: str) -> dict[str, Any]:
    turns = [{"role": m["role"] if m["role"] in ("system", "user", "assistant") else "user",
              "content": message(m.get("content"))} for m in messages]
    prompt = {"turns": turns, "notes": {}}
    return {"entry_type": "attempt", "uuid": str(uuid.uuid4()), "previous_attempt_id": None, "seq": seq,
            "status": 2, "probe_classname": f"lab12.{family}", "probe_params": {"config": config},
            "targets": [trigger] if trigger else [], "prompt": prompt,
            "outputs": [message(o) for o in outputs], "detector_results": {DETECTOR: scores},
            "notes": {"config": config}, "goal": goal,
            "conversations": [{"turns": [*turns, {"role": "assistant", "content": message(o)}], "notes": {}}
                              for o in outputs],
            "reverse_translation_outputs": [], "intent": goal}


def eval_row(family: str, config: str, fails: int, total: int, ci: tuple[float, float],
             hit_at_k: dict[str, float]) -> dict[str, Any]:
    return {"entry_type": "eval", "probe": f"lab12.{family}", "detector": DETECTOR, "config": config,
            "passed": total - fails, "fails": fails, "nones": 0, "total_evaluated": total, "total_processed": total,
            "confidence_method": "wilson", "confidence": 0.95, "confidence_lower": round(ci[0], 4),
            "confidence_upper": round(ci[1], 4), "hit_at_k": hit_at_k}


def completion(run_id: str) -> dict[str, Any]:
    return {"entry_type": "completion", "end_time": dt.datetime.now(dt.UTC).isoformat(), "run": run_id}


def dumps(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
