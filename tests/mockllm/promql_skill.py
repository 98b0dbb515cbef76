"""A lab-style skill for the tests: natural language -> PromQL, registered on the mock `assistant`.

The tests load it in-process (install()) and into a separate server (`--load tests.mockllm.promql_skill:install`).
"""

from __future__ import annotations

import re

from shared.mockllm import MockRequest, Reply, register_skill, unregister_skill

NAME = "test-promql"
WINDOW = re.compile(r"(?:over|in) the last (\d+) ?(second|minute|hour|s|m|h)", re.I)


def translate(req: MockRequest) -> Reply | None:
    """Claim only requests whose system prompt asks for PromQL; None lets the assistant answer the rest."""
    if "promql" not in req.system().lower():
        return None
    question = req.last_user()
    service = re.search(r"\bservice (\w+)", question)
    window = WINDOW.search(question)
    span = f"{window.group(1)}{window.group(2)[0].lower()}" if window else "5m"
    selector = f'service="{service.group(1)}"' if service else ""
    if "error rate" in question.lower():
        errors = ", ".join(x for x in (selector, 'code=~"5.."') if x)
        return Reply(content=f"sum(rate(http_requests_total{{{errors}}}[{span}])) / "
                             f"sum(rate(http_requests_total{{{selector}}}[{span}]))")
    return Reply(content=f"sum(rate(http_requests_total{{{selector}}}[{span}]))")


def install() -> None:
    register_skill(NAME, translate)


def uninstall() -> None:
    unregister_skill(NAME)
