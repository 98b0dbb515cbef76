"""Helpers for tests: run a lab README's curl examples against the app in-process and check the output.

A README example is a ```bash block holding one `curl` command, followed by a ```json (or ```text)
block with what it shows. JSON is matched as a subset: every key shown must be there with an equal
value; "..." stands for any value; a list shows its first items. A shown body with a top-level
"error" key means a 4xx/5xx is expected; otherwise the status must be below 400. A text block is
matched line by line: each shown line (except "...") must appear in the response body, and a shown line
"(no X)" says X must not appear (for examples whose point is what is absent, e.g. another tenant's
document).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


@dataclass
class CurlExample:
    source: str
    line: int
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    expect_kind: str | None = None  # json | text | None
    expect: str | None = None


_VALUED = {"-o", "--output", "-w", "--write-out", "-m", "--max-time", "--connect-timeout", "-u", "--user",
           "-A", "--user-agent", "-e", "--referer", "-b", "--cookie", "-c", "--cookie-jar", "-x", "--proxy"}


def parse_curl(command: str) -> tuple[str, str, dict[str, str], str | None]:
    command = command.replace("\\\n", " ")
    argv = shlex.split(command)
    if not argv or argv[0] != "curl":
        raise ValueError(f"not a curl command: {command[:60]}")
    method, url, headers, body = None, None, {}, None
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-X", "--request"):
            method = argv[i + 1].upper()
            i += 2
        elif arg in ("-H", "--header"):
            name, _, value = argv[i + 1].partition(":")
            headers[name.strip().lower()] = value.strip()
            i += 2
        elif arg in ("-d", "--data", "--data-raw", "--data-binary"):
            body = argv[i + 1]
            i += 2
        elif arg in _VALUED:  # an option with its own argument (-o file, -w format ...): not the URL
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            url = arg
            i += 1
    if url is None:
        raise ValueError(f"no URL in: {command[:60]}")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return method or ("POST" if body is not None else "GET"), path, headers, body


_TABLE_CURL = re.compile(r"`(curl [^`]+)`")
_ABSENT = re.compile(r"^\(no (.+)\)$")


def table_examples(text: str, source: str) -> list[CurlExample]:
    """The curl commands in a README's table rows (`| topic | file | `curl ...` |`): shown with no output,
    each must still work as written (status below 400)."""
    out = []
    for number, row in enumerate(text.splitlines(), start=1):
        if not row.lstrip().startswith("|"):
            continue
        for match in _TABLE_CURL.finditer(row):
            method, path, headers, body = parse_curl(match.group(1).replace("\\|", "|"))
            out.append(CurlExample(source, number, method, path, headers, body))
    return out


def readme_examples(readme: Path, tables: bool = True) -> list[CurlExample]:
    """Every curl a README shows, in reading order: code blocks (with their shown output) and, unless
    `tables=False`, the commands in its table rows."""
    text = readme.read_text()
    blocks = [(m.group(1), m.group(2), text[: m.start()].count("\n") + 1) for m in _BLOCK.finditer(text)]
    out = []
    for i, (lang, content, line) in enumerate(blocks):
        stripped = content.strip()
        if lang not in ("bash", "sh", "shell") or not stripped.startswith("curl "):
            continue
        if stripped.count("\ncurl ") or "|" in stripped.replace("||", ""):
            continue  # one command per block, no pipes: the runner checks a single response
        method, path, headers, body = parse_curl(stripped)
        expect_kind = expect = None
        if i + 1 < len(blocks) and blocks[i + 1][0] in ("json", "text"):
            expect_kind, expect = blocks[i + 1][0], blocks[i + 1][1]
        out.append(CurlExample(str(readme), line, method, path, headers, body, expect_kind, expect))
    if tables:
        out = sorted(out + table_examples(text, str(readme)), key=lambda e: e.line)
    return out


def json_subset(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Differences between a shown JSON and the actual one (empty list: it matches)."""
    if expected == "...":
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {type(actual).__name__}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += json_subset(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {type(actual).__name__}"]
        if len(actual) < len([e for e in expected if e != "..."]):
            return [f"{where}: expected at least {len(expected)} items, got {len(actual)}"]
        problems = []
        for i, item in enumerate(e for e in expected if e != "..."):
            problems += json_subset(item, actual[i], f"{where}[{i}]")
        return problems
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(actual, int | float) and isinstance(expected, int | float):
            return [] if abs(expected - actual) <= 1e-6 * max(1.0, abs(expected)) else [
                f"{where}: expected {expected}, got {actual}"]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def check_example(client: Any, example: CurlExample, rewrite: Callable[[str], str] | None = None) -> list[str]:
    """Run one example through a Starlette TestClient; return the problems found.

    `rewrite` is applied to the response text before it is compared (e.g. the mock over HTTP is
    addressed as `openai/mock/x` where the README, run in-process, shows `mock/x`).
    """
    response = client.request(example.method, example.path, headers=example.headers,
                              content=example.body.encode() if example.body is not None else None)
    text = rewrite(response.text) if rewrite else response.text
    where = f"{example.source}:{example.line} {example.method} {example.path}"
    if example.expect_kind == "json":
        expected = json.loads(example.expect)
        wants_error = isinstance(expected, dict) and "error" in expected
        if wants_error != (response.status_code >= 400):
            return [f"{where}: status {response.status_code} with body {response.text[:300]}"]
        try:
            actual = json.loads(text)
        except ValueError:
            return [f"{where}: response is not JSON: {response.text[:200]}"]
        return [f"{where}: {p}" for p in json_subset(expected, actual)]
    if response.status_code >= 400:
        return [f"{where}: status {response.status_code} with body {response.text[:300]}"]
    if example.expect_kind == "text":
        lines = [ln.strip() for ln in example.expect.splitlines() if ln.strip() and ln.strip() != "..."]
        absent = [m.group(1) for ln in lines if (m := _ABSENT.match(ln))]
        present = [ln for ln in lines if not _ABSENT.match(ln)]
        return ([f"{where}: missing line {ln!r}" for ln in present if ln not in text]
                + [f"{where}: {x!r} should be absent" for x in absent if x in text])
    return []
