"""The eval-set lifecycle: versions with changelogs, hashes that move with content, a holdout that is
stable across versions and rotates across periods at the rate the hash rule implies."""

from __future__ import annotations

import pytest

from labs.lab08_eval import candidates, datasets, lifecycle

PERIODS = [f"{y}-Q{q}" for y in (2026, 2027, 2028) for q in (1, 2, 3, 4)]


@pytest.fixture(scope="module")
def versions():
    return lifecycle.build("classification")


def test_each_version_follows_from_its_parent_by_its_changelog(versions):
    for prev, nxt in zip(versions, versions[1:], strict=False):
        log = nxt.changelog
        assert nxt.parent == prev.label
        assert nxt.ids() == (prev.ids() - set(log["removed"])) | set(log["added"])
        assert nxt.version != prev.version
    assert len(versions[1].changelog["changed"]) == 2 and versions[1].changelog["added"]
    assert set(datasets.slice_counts(versions[1].items)) == {"plain", "sarcasm"}


def test_retired_items_are_saturated_and_within_budget(versions):
    retired = versions[2].changelog["removed"]
    assert 0 < len(retired) <= lifecycle.RETIRE_BUDGET
    by_id = {i["id"]: i for i in versions[1].items}
    assert all(candidates.right(by_id[i], "v1") and candidates.right(by_id[i], "v2") for i in retired)


def test_a_content_change_changes_the_hash_and_nothing_else_does(versions):
    v = versions[0]
    assert datasets.version_of(list(reversed(v.items))) == v.version  # order is not content
    edited = [{**v.items[0], "answer": "other"}] + v.items[1:]
    assert datasets.version_of(edited) != v.version


def test_holdout_is_stable_across_versions_and_rotates_across_periods():
    out = lifecycle.describe("qa", PERIODS)
    assert out["holdout_stable_across_versions"]
    shares = [r["share_of_holdout"] for r in out["rotation"]]
    # two periods' holdouts share about 1/m of their items (independent hashes)
    assert 0.1 < sum(shares) / len(shares) < 0.32


def test_evolve_refuses_unknown_removals_and_duplicate_additions(versions):
    with pytest.raises(datasets.DatasetError):
        lifecycle.evolve(versions[0], "bad", "x", remove={"nope"})
    with pytest.raises(datasets.DatasetError):
        lifecycle.evolve(versions[0], "bad", "x", add=[versions[0].items[0]])
