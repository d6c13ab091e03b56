"""The safe expression evaluator of edge conditions: what it reads, what it computes, what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core.expressions import MAX_DEPTH, MAX_LENGTH, EvaluationError, ExpressionError, compile_expression

NAMES = ("data", "params", "input", "steps")


def value(source: str, **scope: Any) -> Any:
    return compile_expression(source, NAMES).evaluate(scope)


def test_a_comparison_reads_a_key_of_the_data_with_a_dot() -> None:
    assert value("data.amount > 1000", data={"amount": 1500}) is True
    assert value("data.amount > 1000", data={"amount": 10}) is False


def test_keys_and_list_items_are_read_with_brackets() -> None:
    assert value('params["region"] == "eu" and data.items[1] == 7', params={"region": "eu"}, data={"items": [5, 7]})


def test_steps_results_nest_by_step_id() -> None:
    assert value("steps.check.result.ok", steps={"check": {"result": {"ok": True}, "state": "success"}}) is True


def test_json_literals_true_false_and_null_are_known() -> None:
    assert value("data.flag == true and data.other == null", data={"flag": True, "other": None}) is True


def test_and_or_stop_at_the_deciding_operand() -> None:
    # the right side would fail on this data: `and` never reaches it
    assert value("data.n > 0 and data.missing", data={"n": 0}) is False
    assert value("data.n == 0 or data.missing", data={"n": 0}) is True


def test_arithmetic_membership_chained_comparisons_and_if_else() -> None:
    assert value("1 < data.n * 2 + 1 <= 21", data={"n": 10}) is True
    assert value('"vip" in data.tags', data={"tags": ["vip"]}) is True
    assert value('"big" if data.n > 5 else "small"', data={"n": 9}) == "big"


def test_the_allowed_functions_are_called_by_name() -> None:
    assert value('len(data.items) == 2 and lower(data.name) == "ada" and startswith(data.name, "A")', data={"items": [1, 2], "name": "Ada"})
    assert value("max(data.a, data.b) + abs(-1) + round(2.6)", data={"a": 3, "b": 5}) == 9


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("__import__('os').system('true')", "calls something other than a known function"),
        ("data.__class__", "names starting with '_'"),
        ("data.items()", "calls something other than a known function"),
        ("len.__self__", "names starting with '_'"),
        ("2 ** 64", "'**'"),
        ("[x for x in data]", "comprehensions"),
        ("lambda: 1", "lambda"),
        ("f'{data}'", "f-strings"),
        ("data[1:2]", "slices"),
        ("data is None", "'is'"),
        ("{1, 2}", "sets"),
        ("len", "unknown name 'len'"),
        ("open('/etc/passwd')", "calls something other than a known function"),
        ("amount > 1", "unknown name 'amount'"),
        ("str(data, encoding='x')", "keyword arguments"),
    ],
)
def test_unsafe_or_unknown_constructs_are_refused_when_compiled(source: str, why: str) -> None:
    with pytest.raises(ExpressionError, match=why.replace("(", r"\(").replace("*", r"\*").replace("[", r"\[")):
        compile_expression(source, NAMES)


def test_a_syntax_error_is_refused_with_the_parser_message() -> None:
    with pytest.raises(ExpressionError, match="not a valid expression"):
        compile_expression("data.amount >", NAMES)


def test_statements_are_not_expressions() -> None:
    with pytest.raises(ExpressionError, match="not a valid expression"):
        compile_expression("import os", NAMES)


def test_an_overlong_expression_is_refused() -> None:
    with pytest.raises(ExpressionError, match=f"at most {MAX_LENGTH}"):
        compile_expression("1 + " * MAX_LENGTH + "1", NAMES)


def test_a_deeply_nested_expression_is_refused() -> None:
    with pytest.raises(ExpressionError, match="nested"):
        compile_expression("not " * (MAX_DEPTH + 5) + "data", NAMES)


def test_dot_reads_keys_never_python_attributes() -> None:
    with pytest.raises(EvaluationError, match="not an object or a list"):
        value("data.name.upper", data={"name": "ada"})


def test_a_missing_key_is_an_evaluation_error_naming_it() -> None:
    with pytest.raises(EvaluationError, match="data has no key 'amount'"):
        value("data.amount > 1", data={})


def test_comparing_a_string_with_a_number_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError, match="TypeError"):
        value("data.amount > 1", data={"amount": "lots"})


def test_repeating_a_string_is_bounded_and_lists_are_never_repeated() -> None:
    assert value('"ab" * 3') == "ababab"
    with pytest.raises(EvaluationError, match="at most"):
        value('"x" * 1000000000')
    with pytest.raises(EvaluationError, match="does not repeat lists"):
        value("[1] * 3")


def test_the_names_an_expression_reads_are_recorded() -> None:
    assert compile_expression("data.a > params.b", NAMES).names == {"data", "params"}
