"""Prompt vs RAG vs fine-tune, as a decision matrix computed from the task's numbers:
`curl -s localhost:8010/calc/decide -H 'content-type: application/json' -d '{"knowledge_changes": "daily"}'`.

Each option gets a fit f ∈ [0, 1] per criterion, derived from the inputs (not looked up), and a score
S = Σ_c w_c·f_c / Σ_c w_c. Latency and cost are estimated per query from the tokens each option puts
in the prompt: latency = tokens / prefill rate + retrieval time; cost per month = queries · tokens · price
(+ a fine-tune's training tokens spread over the months it serves). Latency's fit is 1 within the
budget and budget / latency over it; cost's is cheapest / this (the cheapest option scores 1). The
combination rag+finetune is scored the same way: RAG supplies the facts, the fine-tune the format.
"""

from __future__ import annotations

from typing import Any, Literal

INSTRUCTION_TOKENS = 400     # the system prompt and the question, every option pays it
RAG_TOKENS = 2_000           # top-k chunks a RAG prompt carries (5 chunks of 400 tokens)
FEW_SHOT_TOKENS = {"none": 0, "loose": 300, "strict": 1_500}  # examples a prompt carries to hold a format
RETRIEVAL_MS = 120           # embedding the query and a vector search
PREFILL_TOKENS_PER_S = 8_000  # a hosted mid-size model's prompt processing rate
TRAIN_TOKENS_PER_EXAMPLE = 300
TRAIN_EPOCHS = 3
AMORTISE_MONTHS = 6          # a fine-tune is redone about twice a year
EXAMPLES_WANTED = 1_000      # labelled examples for a LoRA SFT to learn a format reliably
FRESHNESS = {"never": 1.0, "yearly": 0.6, "monthly": 0.3, "daily": 0.0}  # how well baked-in facts age
OPTIONS = ("prompt", "rag", "finetune", "rag+finetune")
CRITERIA = ("freshness", "knowledge_size", "citations", "format", "data", "latency", "cost", "effort")
# what each option takes to build and keep running: an index to chunk, embed and evaluate; a training
# pipeline with its eval matrix, redone when the base model changes; both for the combination
EFFORT = {"prompt": (1.0, "a prompt to write"), "rag": (0.6, "an index to build, refresh and evaluate"),
          "finetune": (0.5, "a training pipeline, evals, retraining"), "rag+finetune": (0.3, "both")}

Changes = Literal["never", "yearly", "monthly", "daily"]
FormatNeed = Literal["none", "loose", "strict"]


def prompt_tokens(option: str, knowledge_tokens: int, format_need: FormatNeed = "none") -> int:
    """Tokens each query sends: the prompt option pastes the knowledge in, RAG the top chunks, and an
    option without a fine-tune carries few-shot examples of the format (a fine-tune has learnt it)."""
    shots = 0 if "finetune" in option else FEW_SHOT_TOKENS[format_need]
    if option == "prompt":
        return INSTRUCTION_TOKENS + shots + knowledge_tokens
    return INSTRUCTION_TOKENS + shots + (RAG_TOKENS if "rag" in option and knowledge_tokens else 0)


def fits(option: str, *, knowledge_changes: Changes, knowledge_tokens: int, needs_citations: bool,
         format_need: FormatNeed, labeled_examples: int, latency_ms: dict[str, float], cost: dict[str, float],
         latency_budget_ms: float, context_window: int) -> dict[str, tuple[float, str]]:
    """(fit, why) per criterion for one option."""
    rag, tuned = "rag" in option, "finetune" in option
    out: dict[str, tuple[float, str]] = {}
    if not knowledge_tokens:
        out["freshness"] = (1.0, "no outside knowledge needed")
        out["knowledge_size"] = (1.0, "no outside knowledge needed")
    elif rag or option == "prompt":
        out["freshness"] = (1.0, "facts are read at query time")
        n = prompt_tokens(option, knowledge_tokens, format_need)
        size = 1.0 if rag or n <= context_window // 4 else 0.5 if n <= context_window else 0.0
        out["knowledge_size"] = (size, f"{n:,} prompt tokens of a {context_window:,} window" if not rag
                                 else "an index holds any amount")
    else:
        out["freshness"] = (FRESHNESS[knowledge_changes], f"weights go stale when facts change {knowledge_changes}")
        out["knowledge_size"] = (0.3, "fine-tuning teaches behaviour; facts in weights are unreliable")
    if needs_citations:
        c = 1.0 if rag else 0.7 if option == "prompt" else 0.0
        out["citations"] = (c, "sources retrieved per answer" if rag else "the pasted text can be quoted"
                            if option == "prompt" else "weights cannot point at a source")
    else:
        out["citations"] = (1.0, "not needed")
    f = {"none": 1.0, "loose": 0.8, "strict": 0.5}[format_need]
    out["format"] = (1.0, "trained on the format") if tuned else (f, f"instructions alone, format need {format_need}")
    d = min(1.0, labeled_examples / EXAMPLES_WANTED) if tuned else 1.0
    out["data"] = (d, f"{labeled_examples:,} of ~{EXAMPLES_WANTED:,} labelled examples" if tuned else "a few examples suffice")
    lat = latency_ms[option]
    out["latency"] = (min(1.0, latency_budget_ms / lat),
                      f"{lat:.0f} ms of prompt work vs a {latency_budget_ms:.0f} ms budget")
    out["cost"] = (min(cost.values()) / cost[option] if cost[option] else 1.0, f"${cost[option]:,.2f} a month")
    out["effort"] = EFFORT[option]
    return out


def decide(*, knowledge_changes: Changes = "monthly", knowledge_tokens: int = 50_000, needs_citations: bool = False,
           format_need: FormatNeed = "loose", latency_budget_ms: float = 1_000, labeled_examples: int = 0,
           queries_per_month: int = 100_000, price_per_mtok: float = 1.0, train_price_per_mtok: float = 3.0,
           context_window: int = 128_000, weights: dict[str, float] | None = None) -> dict[str, Any]:
    """The matrix (fit and reason per option and criterion), each option's score, the ranking."""
    w = {c: 1.0 for c in CRITERIA} | (weights or {})
    if set(w) - set(CRITERIA):
        raise ValueError(f"unknown criteria {sorted(set(w) - set(CRITERIA))}; choose from {list(CRITERIA)}")
    if sum(w.values()) <= 0:
        raise ValueError("the weights must not all be zero")
    tokens = {o: prompt_tokens(o, knowledge_tokens, format_need) for o in OPTIONS}
    latency = {o: 1000 * tokens[o] / PREFILL_TOKENS_PER_S + (RETRIEVAL_MS if "rag" in o and knowledge_tokens else 0)
               for o in OPTIONS}
    training = labeled_examples * TRAIN_TOKENS_PER_EXAMPLE * TRAIN_EPOCHS * train_price_per_mtok / 1e6 / AMORTISE_MONTHS
    cost = {o: queries_per_month * tokens[o] * price_per_mtok / 1e6 + (training if "finetune" in o else 0.0)
            for o in OPTIONS}
    matrix = {o: fits(o, knowledge_changes=knowledge_changes, knowledge_tokens=knowledge_tokens,
                      needs_citations=needs_citations, format_need=format_need, labeled_examples=labeled_examples,
                      latency_ms=latency, cost=cost, latency_budget_ms=latency_budget_ms,
                      context_window=context_window) for o in OPTIONS}
    score = {o: sum(w[c] * matrix[o][c][0] for c in CRITERIA) / sum(w.values()) for o in OPTIONS}
    ranking = sorted(OPTIONS, key=lambda o: -score[o])
    return {"recommendation": ranking[0], "ranking": [[o, round(score[o], 4)] for o in ranking], "weights": w,
            "estimates": {o: {"prompt_tokens": tokens[o], "latency_ms": round(latency[o], 1),
                              "cost_per_month": round(cost[o], 2)} for o in OPTIONS},
            "matrix": {o: {c: {"fit": round(matrix[o][c][0], 4), "why": matrix[o][c][1]} for c in CRITERIA}
                       for o in OPTIONS}}
