"""The five structured-output levels against the mock's reliability ladder."""

from __future__ import annotations

import pytest

from labs.lab05_patterns.structured import LEVELS, extract, parse_person, strict_format

TEXT = "Ada Lovelace is 36, works as an engineer and can be reached at ada@example.com"
EXPECTED = {"name": "Ada Lovelace", "age": 36, "role": "engineer", "email": "ada@example.com"}


@pytest.mark.parametrize("level", LEVELS)
def test_every_level_extracts_the_record(level, model):
    out = extract(TEXT, level, model=model)
    assert out.ok and out.value == EXPECTED and out.attempts == 1 and out.errors == []
    assert out.usage["input_tokens"] > 0 and out.cost_usd > 0


@pytest.mark.parametrize("level, option", [("prompt", "fail_rate_prompt"), ("json", "fail_rate_json_mode"),
                                           ("tools", "fail_rate_tools")])
def test_a_failed_first_answer_is_reasked_with_the_error(level, option, model):
    out = extract(TEXT, level, model=model.for_behaviour("fallible"), mock={option: 1.0})
    assert out.ok and out.attempts == 2 and len(out.errors) >= 1 and out.value == EXPECTED


@pytest.mark.parametrize("level, option", [("prompt", "fail_rate_prompt"), ("json", "fail_rate_json_mode")])
def test_without_reasks_a_failure_is_reported_not_raised(level, option, model):
    out = extract(TEXT, level, model=model.for_behaviour("fallible"), mock={option: 1.0}, max_retries=0)
    assert not out.ok and out.value is None and out.errors


def test_strict_schema_sends_strict_true_and_never_fails(model):
    # the mock fails every non-strict json_schema answer here, so only strict: true gets through first time
    out = extract(TEXT, "json_schema", model=model.for_behaviour("fallible"),
                  mock={"fail_rate_json_schema": 1.0, "fail_rate_json_mode": 1.0, "fail_rate_prompt": 1.0})
    assert out.ok and out.attempts == 1 and out.value == EXPECTED


def test_strict_format_is_the_openai_shape():
    fmt = strict_format()
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False


@pytest.mark.parametrize("level", ["json", "tools", "prompt"])
def test_a_provider_failure_is_raised_not_reported_as_a_bad_answer(level, model):
    with pytest.raises(Exception) as info:
        extract(TEXT, level, model=model, mock={"error_status": 429})
    assert getattr(info.value, "status_code", None) == 429


def test_a_failed_instructor_level_reports_clean_errors_and_its_cost(model):
    out = extract(TEXT, "json", model=model.for_behaviour("fallible"), mock={"malformed_rate": 1.0}, max_retries=1)
    assert not out.ok and out.attempts == 2 and len(out.errors) == 2
    assert not out.errors[0].startswith("FailedAttempt") and out.cost_usd > 0


def test_grammar_level_is_valid_even_when_every_draft_is_broken(model):
    for seed in range(6):
        out = extract(TEXT, "grammar", model=model.for_behaviour("fallible"), mock={"fail_rate_json_mode": 1.0, "seed": seed})
        assert out.ok and out.attempts == 1 and set(out.value) == set(EXPECTED)


def test_prompt_parser_takes_the_outer_object_from_prose():
    assert parse_person('Sure! {"name": "A", "age": 3, "role": "analyst", "email": "e"} Hope it helps.').age == 3
    with pytest.raises(ValueError):
        parse_person("no json here")


def test_unknown_level(model):
    with pytest.raises(ValueError):
        extract(TEXT, "yaml", model=model)
