"""JSONata transforms of outside events, beside JMESPath: checked when authored, evaluated bounded."""

from __future__ import annotations

import sys

import pytest

from orchestrator import EventTrigger
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.jsonata_transforms import _module, compile_jsonata, evaluate_jsonata
from orchestrator.core.triggers import EventTriggerSpec, evaluate

ORDER = {"type": "order.created", "id": "e1", "payload": {"id": 7, "lines": [{"price": 2}, {"price": 3.5}]}}


def test_a_jsonata_transform_builds_the_run_s_conf() -> None:
    trigger = EventTriggerSpec(type="order.*", transform='{"order": payload.id, "total": $sum(payload.lines.price)}', transform_language="jsonata")
    assert evaluate(trigger, ORDER).conf == {"order": 7, "total": 5.5}  # type: ignore[union-attr]


def test_a_jmespath_transform_still_works_by_default() -> None:
    assert evaluate(EventTriggerSpec(type="order.*", transform="{order: payload.id}"), ORDER).conf == {"order": 7}  # type: ignore[union-attr]


def test_an_invalid_jsonata_transform_is_refused_when_the_dag_is_defined() -> None:
    with pytest.raises(DagDefinitionError, match=r"transform 'payload\.\(' is not valid JSONata"):
        EventTrigger("order.*", transform="payload.(", transform_language="jsonata")


def test_a_runaway_jsonata_expression_stops_at_the_depth_limit() -> None:
    with pytest.raises(Exception, match="Stack overflow"):
        evaluate_jsonata("($f := function($n){ $n <= 0 ? 0 : 1 + $f($n-1)}; $f(100000))", {})


def test_importing_jsonata_leaves_the_recursion_limit_as_it_was() -> None:
    before = sys.getrecursionlimit()
    _module()
    assert sys.getrecursionlimit() == before


def test_without_the_package_a_jsonata_transform_is_refused_naming_jmespath(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jsonata", None)  # the package is not installed
    _module.cache_clear()
    compile_jsonata.cache_clear()
    try:
        with pytest.raises(DagDefinitionError, match=r"need the jsonata-python package .*type: jmespath"):
            EventTrigger("order.*", transform="payload", transform_language="jsonata")
    finally:
        _module.cache_clear()
        compile_jsonata.cache_clear()
