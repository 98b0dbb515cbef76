import pytest

from labs.lab10_finetune import train as T


@pytest.mark.parametrize("kind,rows,needle", [
    ("sft", [], "empty"),
    ("sft", [{"prompt": "1+1="}], "lacks column"),
    ("dpo", [{"prompt": "1+1=", "chosen": "2"}], "rejected"),
    ("reward", [{"prompt": "1+1=", "chosen": "2", "rejected": ""}], "non-empty"),
    ("grpo", ["1+1=2"], "not an object"),
])
def test_check_rows_names_what_is_wrong(kind, rows, needle):
    with pytest.raises(ValueError, match=needle):
        T.check_rows(kind, rows)


def test_check_rows_accepts_extra_columns():
    T.check_rows("sft", [{"prompt": "1+1=", "completion": "2", "source": "hand"}])


def test_sum_reward_rule():
    got = T.sum_reward(["5", " 5", "6", "five", ""], ["5", "5", "5", "5", "5"])
    assert got == [1.0, 1.0, 0.1, 0.0, 0.0]


def test_every_kind_has_defaults_and_columns():
    assert set(T.DEFAULTS) == set(T.COLUMNS) == {"sft", "dpo", "reward", "grpo"}
    assert all(T.DEFAULTS[k]["rank"] >= 1 for k in ("sft", "dpo", "grpo"))
