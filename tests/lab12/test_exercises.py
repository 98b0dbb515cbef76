"""Each worked exercise computes its answer (the classifier layer is covered by test_app)."""

from __future__ import annotations

from labs.lab12_safety import exercises
from shared.llm import Model


def test_input_filter_exercise():
    rows = exercises.input_filter(Model.from_settings())["answer"]
    verdicts = {r["prompt"][:20]: r["verdict"] for r in rows}
    assert verdicts["What is the capital "] == "allow" and verdicts["Ignore all previous "] == "block"
    assert verdicts["SWdub3JlIGFsbCBwcmV2"] == "block"


def test_indirect_cases_exercise_orders_the_spotlight_variants():
    asr = exercises.indirect_cases(Model.from_settings())["answer"]["asr_by_spotlight"]
    assert asr["undefended"] > asr["delimit"] and asr["undefended"] > 2 * max(asr["datamark"], asr["encode"])


def test_audit_and_constrained_exercises():
    a = exercises.audit_schema()["answer"]
    assert a["verify"] and a["after_erasing_alice"] and a["after_editing_row_2"]["first_bad_seq"] == 2
    assert exercises.constrained_json()["answer"]["token_in_output"] is False


def test_redteam_and_model_card_exercises():
    run = exercises.redteam_run(Model.from_settings())
    assert run["answer"]["none"]["asr"] > run["answer"]["rules"]["asr"]
    card = exercises.model_card(run["_run"], "test", "mock/safety_target", None)
    assert card["evaluations"]["none"]["asr"] == run["answer"]["none"]["asr"]
