"""The CLI: run (resumable, with a progress bar), report, compare."""

from __future__ import annotations

import json

from labs.lab08_eval import __main__ as cli


def test_run_then_resume_then_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["run", "classification", "--limit", "6", "--run-id", "cli"]) == 0
    captured = capsys.readouterr()
    first = json.loads(captured.out)
    assert "6/6" in captured.err and "classification" in captured.err  # the tqdm bar, on stderr
    assert first["run_id"] == "cli" and first["n"] == 6 and first["calls"]["model"] == 6
    assert cli.main(["run", "classification", "--limit", "6", "--run-id", "cli"]) == 0
    assert json.loads(capsys.readouterr().out)["calls"]["model"] == 0  # nothing left to do
    out = tmp_path / "r.html"
    assert cli.main(["report", "cli", "--out", str(out)]) == 0
    assert "Eval run cli" in out.read_text()
    assert cli.main(["report", "missing"]) == 2


def test_bad_run_arguments_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["run", "extraction", "--scorers", "judge"]) == 2
    assert cli.main(["run", "qa", "--model", "nope/x"]) == 2
