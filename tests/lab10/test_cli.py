"""The CLI: progress bars, argument errors before any work, and rank gating under a launcher."""

import io
import json

import pytest

from labs.lab10_finetune import __main__ as cli


def test_bars_follow_the_steps_of_each_stage():
    out = io.StringIO()
    bars = cli.Bars(file=out)
    sft = bars("sft")
    for step in (1, 2, 5):
        sft(step, 5, {"loss": 1.0 / step})
    assert bars.bar.n == 5 and bars.bar.total == 5
    dpo = bars("dpo")
    dpo(1, 3, {"loss": 0.69})
    assert bars.bar.desc == "dpo" and bars.bar.n == 1
    bars.close()
    text = out.getvalue()
    assert "sft: 100%" in text and "5/5" in text and "dpo" in text and "loss=0.69" in text


def test_only_rank_zero_draws_and_prints(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert not cli._main_process() and cli.Bars(enabled=cli._main_process())("sft") is None
    monkeypatch.setenv("RANK", "0")
    assert cli._main_process()


@pytest.mark.parametrize("argv", [["sft", "--rank", "0"], ["sft", "--epochs", "0"], ["train"], []])
def test_bad_arguments_exit_2_before_any_work(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert not (tmp_path / "lab10" / "cli" / "tiny-llama").exists()


def test_generate_through_the_cli_builds_the_base_and_prints_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BASE_MODEL", raising=False)
    assert cli.main(["generate", "next 7:", "2+3="]) == 0
    got = json.loads(capsys.readouterr().out)
    assert list(got) == ["next 7:", "2+3="] and got["next 7:"] == "8"
