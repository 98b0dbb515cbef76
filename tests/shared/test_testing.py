"""The README example runner: what it reads from a README and how it judges a response."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.testing import CurlExample, check_example, parse_curl, readme_examples

README = """# lab-99: a test

| topic | file | see it |
| --- | --- | --- |
| echo | `x.py` | `curl -s localhost:8099/echo -H 'content-type: application/json' -d '{"a": 1}'` |
| a picture | `x.py` | `curl -s 'localhost:8099/plot.png?n=3' -o plot.png`; `python -m x` |

```bash
curl -s localhost:8099/docs/a
```

```text
alpha
(no beta)
```
"""


def test_table_rows_are_examples_in_reading_order(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    examples = readme_examples(readme)
    assert [(e.method, e.path) for e in examples] == [("POST", "/echo"), ("GET", "/plot.png?n=3"), ("GET", "/docs/a")]
    assert examples[0].headers == {"content-type": "application/json"} and examples[0].expect is None
    assert [e.path for e in readme_examples(readme, tables=False)] == ["/docs/a"]


def test_an_option_with_a_value_is_not_taken_for_the_url():
    assert parse_curl("curl -s -o out.png localhost:1/a.png")[1] == "/a.png"
    assert parse_curl("curl -s localhost:1/a.png -o out.png -w '%{http_code}'")[1] == "/a.png"


def test_a_shown_absence_is_checked():
    app = FastAPI()

    @app.get("/docs/{which}")
    def docs(which: str) -> dict:
        return {"ids": ["alpha", "beta"] if which == "both" else ["alpha"]}

    client = TestClient(app)
    shown = "alpha\n(no beta)\n"
    assert check_example(client, CurlExample("R", 1, "GET", "/docs/a", expect_kind="text", expect=shown)) == []
    problems = check_example(client, CurlExample("R", 1, "GET", "/docs/both", expect_kind="text", expect=shown))
    assert problems and "'beta' should be absent" in problems[0]
