"""Golden sets: size, required fields, content-hash versions, the rotating holdout, stratified samples."""

from __future__ import annotations

import json

import pytest

from labs.lab08_eval import datasets


def test_at_least_200_items_across_four_tasks_with_ids_slices_provenance():
    total = 0
    for name in datasets.DATASETS:
        ds = datasets.load(name)
        total += len(ds.items)
        for item in ds.items:
            assert item["id"] and item["slices"] and item["provenance"]["source"]
    assert total >= 200


def test_version_is_a_content_hash(tmp_path):
    items = datasets.load("qa").items
    changed = [dict(i) for i in items]
    changed[3]["reference"] += " (revised)"
    assert datasets.version_of(items) == datasets.version_of(list(reversed(items)))
    assert datasets.version_of(items) != datasets.version_of(changed)


def test_holdout_rotates_by_period_and_is_about_a_fifth():
    items = datasets.load("qa").items + datasets.load("classification").items
    dev, q4 = datasets.holdout(items, "2026-Q4")
    _, q1 = datasets.holdout(items, "2027-Q1")
    assert len(dev) + len(q4) == len(items)
    assert 0.1 < len(q4) / len(items) < 0.3
    assert {i["id"] for i in q4} != {i["id"] for i in q1}
    assert datasets.holdout(items, "2026-Q4")[1] == q4


def test_stratified_sample_keeps_every_slice_in_proportion():
    items = datasets.load("classification").items  # 60 plain, 8 sarcasm
    sample = datasets.stratified_sample(items, 17, seed=3)
    slices = [i["slices"][0] for i in sample]
    assert slices.count("sarcasm") == 2 and slices.count("plain") == 15


def test_bad_files_are_rejected(tmp_path):
    (tmp_path / "qa.jsonl").write_text(json.dumps({"id": "x"}) + "\n")
    with pytest.raises(datasets.DatasetError):
        datasets.load("qa", folder=tmp_path)
    with pytest.raises(datasets.DatasetError):
        datasets.load("trivia")


def test_a_jsonl_item_holding_raw_line_separators_reads_as_one_item(tmp_path):
    """JSON Lines ends a line at \\n only; a UTF-8 writer leaves U+2028 and U+0085 raw inside strings."""
    items = [{"id": f"q{i}", "task": "qa", "slices": ["s"], "input": f"line\u2028sep\x85{i}", "reference": "r",
              "provenance": {"source": "test"}}
             for i in range(3)]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n", encoding="utf-8")
    assert datasets.read_jsonl(path) == items
