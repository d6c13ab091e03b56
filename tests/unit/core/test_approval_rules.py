"""The approval rules as pure functions: who may decide, what decides a request, what escalation does when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import DAG, ApprovalTask, Escalate
from orchestrator.core.approval_escalation import escalate, next_due
from orchestrator.core.approvals import (
    ROLES,
    Action,
    ApprovalClosedError,
    ApprovalSpec,
    Cast,
    CommentRequiredError,
    Decider,
    Decision,
    DelegationError,
    NotAnApproverError,
    Outcome,
    SelfApprovalError,
    check_decision,
    failure,
    may_approve,
    outcome_of,
    votes_of,
)
from orchestrator.core.errors import DagDefinitionError
from orchestrator.store.users import Role

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE = Decider("alice", frozenset({"viewer"}))
BOB = Decider("bob", frozenset({"viewer", "operator"}))
ROOT = Decider("root", frozenset(ROLES))


def cast(by: str, decision: Decision, comment: str | None = None, delegate_to: str | None = None, votes: float | None = None) -> Cast:
    return Cast(by, decision, T0, comment, delegate_to, votes)


def counting(min_approvals: int) -> ApprovalSpec:
    return ApprovalSpec(approvers=("alice", "bob", "carol"), min_approvals=min_approvals)


def check(spec: ApprovalSpec, who: Decider, decision: Decision = Decision.APPROVE, *, decisions: list[Cast] | None = None,
          requested_by: str | None = "carol", comment: str | None = None, delegate_to: str | None = None) -> None:
    check_decision(spec, spec.approvers, requested_by, decisions or [], who, decision, comment, delegate_to)


# -- who may decide ----------------------------------------------------------------------------------------
def test_a_user_named_among_the_approvers_may_decide() -> None:
    check(ApprovalSpec(approvers=("alice",)), ALICE)


def test_a_user_not_named_and_without_a_listed_role_may_not_decide() -> None:
    with pytest.raises(NotAnApproverError, match="alice is not one of the approvers"):
        check(ApprovalSpec(approvers=("bob", "role:operator")), ALICE)


def test_a_role_lets_users_of_that_role_and_higher_ones_decide() -> None:
    spec = ApprovalSpec(approvers=("role:operator",))
    check(spec, BOB)
    check(spec, ROOT)


def test_the_approval_roles_are_the_store_s_roles_lowest_first() -> None:
    assert ROLES == tuple(r.value for r in sorted(Role, key=lambda r: r.rank))


def test_each_user_decides_once() -> None:
    with pytest.raises(ApprovalClosedError, match="alice already decided"):
        check(ApprovalSpec(approvers=("alice", "bob"), min_approvals=2), ALICE, decisions=[cast("alice", Decision.APPROVE)])


def test_the_user_who_started_the_run_may_not_approve_it() -> None:
    with pytest.raises(SelfApprovalError, match="alice started this run"):
        check(ApprovalSpec(approvers=("alice",)), ALICE, requested_by="alice")


def test_the_user_who_started_the_run_may_still_reject_it() -> None:
    check(ApprovalSpec(approvers=("alice",)), ALICE, Decision.REJECT, requested_by="alice")


def test_allow_self_approval_lets_the_starter_approve() -> None:
    check(ApprovalSpec(approvers=("alice",), allow_self_approval=True), ALICE, requested_by="alice")


def test_require_comment_refuses_a_decision_without_one() -> None:
    spec = ApprovalSpec(approvers=("alice",), require_comment=True)
    with pytest.raises(CommentRequiredError):
        check(spec, ALICE, comment=None)
    check(spec, ALICE, comment="looks right")


# -- delegation -------------------------------------------------------------------------------------------
def test_a_delegate_may_decide_as_if_listed() -> None:
    check(ApprovalSpec(approvers=("alice",)), BOB, decisions=[cast("alice", Decision.DELEGATE, delegate_to="bob")])


def test_who_delegated_may_not_decide_any_more() -> None:
    with pytest.raises(ApprovalClosedError, match="alice already decided"):
        check(ApprovalSpec(approvers=("role:viewer",)), ALICE, decisions=[cast("alice", Decision.DELEGATE, delegate_to="bob")])


def test_a_delegation_needs_another_user() -> None:
    spec = ApprovalSpec(approvers=("alice",))
    with pytest.raises(DelegationError, match="needs delegate_to"):
        check(spec, ALICE, Decision.DELEGATE)
    with pytest.raises(DelegationError, match="not to yourself"):
        check(spec, ALICE, Decision.DELEGATE, delegate_to="alice")


def test_delegate_to_goes_only_with_a_delegation() -> None:
    with pytest.raises(DelegationError, match="not with approve"):
        check(ApprovalSpec(approvers=("alice",)), ALICE, delegate_to="bob")


def test_the_inbox_holds_what_the_user_may_approve() -> None:
    spec = ApprovalSpec(approvers=("alice", "role:operator"))
    assert may_approve(spec, spec.approvers, "carol", [], ALICE)
    assert not may_approve(spec, spec.approvers, "alice", [], ALICE)  # she started the run
    assert not may_approve(spec, spec.approvers, "carol", [cast("bob", Decision.APPROVE)], BOB)  # he decided


# -- what decides a request ---------------------------------------------------------------------------------
def test_min_approvals_distinct_approvals_approve_the_request() -> None:
    assert outcome_of(counting(2), ("alice", "bob", "carol"), [cast("alice", Decision.APPROVE)]) is None
    assert outcome_of(counting(2), ("alice", "bob", "carol"), [cast("alice", Decision.APPROVE), cast("bob", Decision.APPROVE)]) == (Outcome.APPROVED, "approved by alice, bob")


def test_one_rejection_rejects_the_request_with_its_comment() -> None:
    decisions = [cast("alice", Decision.APPROVE), cast("bob", Decision.REJECT, "too expensive")]
    assert outcome_of(counting(2), ("alice", "bob", "carol"), decisions) == (Outcome.REJECTED, "rejected by bob: too expensive")


def test_a_change_request_sends_the_request_back() -> None:
    assert outcome_of(counting(1), ("alice", "bob", "carol"), [cast("bob", Decision.REQUEST_CHANGES, "add the PO number")]) == (
        Outcome.CHANGES_REQUESTED, "changes requested by bob: add the PO number",
    )


def test_a_delegation_decides_nothing() -> None:
    assert outcome_of(counting(1), ("alice", "bob", "carol"), [cast("alice", Decision.DELEGATE, delegate_to="bob")]) is None


# -- delegation keeps the request reachable ------------------------------------------------------------------
def test_a_delegation_to_a_co_approver_counts_the_delegator_s_vote_through_them() -> None:
    spec = ApprovalSpec(approvers=("alice", "bob"), min_approvals=2)
    delegated = [cast("alice", Decision.DELEGATE, delegate_to="bob", votes=votes_of(spec, spec.approvers, [], ALICE))]
    carried = votes_of(spec, spec.approvers, delegated, BOB)
    assert carried == 2
    assert outcome_of(spec, spec.approvers, [*delegated, cast("bob", Decision.APPROVE, votes=carried)]) == (
        Outcome.APPROVED, "approved by bob (with alice's vote)",
    )


def test_a_delegate_who_is_not_an_approver_carries_only_the_delegated_vote() -> None:
    spec = ApprovalSpec(approvers=("alice", "bob"), min_approvals=2)
    delegated = [cast("alice", Decision.DELEGATE, delegate_to="carol", votes=1)]
    assert votes_of(spec, spec.approvers, delegated, Decider("carol", frozenset({"viewer"}))) == 1


def test_a_delegation_says_the_vote_counts_through_the_delegate() -> None:
    assert cast("alice", Decision.DELEGATE, delegate_to="bob", votes=1).note() == "alice's vote (1) counts through bob: their decision carries it"


def test_a_delegation_to_someone_who_already_decided_is_refused() -> None:
    spec = ApprovalSpec(approvers=("alice", "bob"), min_approvals=2)
    with pytest.raises(DelegationError, match="bob already decided on this request, so your vote could never be cast"):
        check(spec, ALICE, Decision.DELEGATE, decisions=[cast("bob", Decision.APPROVE)], delegate_to="bob")


def test_a_delegation_to_the_run_s_starter_is_refused_without_self_approval() -> None:
    spec = ApprovalSpec(approvers=("alice", "bob"))
    with pytest.raises(DelegationError, match="carol started this run and may not approve it"):
        check(spec, ALICE, Decision.DELEGATE, delegate_to="carol", requested_by="carol")


# -- strategies --------------------------------------------------------------------------------------------
def test_unanimous_waits_for_every_named_approver() -> None:
    spec = ApprovalSpec(approvers=("alice", "bob"), strategy="unanimous")
    assert outcome_of(spec, spec.approvers, [cast("alice", Decision.APPROVE)]) is None
    both = [cast("alice", Decision.APPROVE), cast("bob", Decision.APPROVE)]
    assert outcome_of(spec, spec.approvers, both) == (Outcome.APPROVED, "approved by alice, bob: unanimous")


def test_unanimous_counts_a_delegator_through_their_delegate() -> None:
    spec = ApprovalSpec(approvers=("alice", "bob"), strategy="unanimous")
    decisions = [cast("alice", Decision.DELEGATE, delegate_to="bob", votes=1), cast("bob", Decision.APPROVE, votes=2)]
    assert outcome_of(spec, spec.approvers, decisions) == (Outcome.APPROVED, "approved by bob (with alice's vote): unanimous")


def test_unanimous_refuses_roles_as_approvers() -> None:
    with pytest.raises(ValueError, match="strategy 'unanimous' needs named approvers: 'role:operator'"):
        ApprovalSpec(approvers=("alice", "role:operator"), strategy="unanimous")


def test_weighted_approves_once_the_approving_weights_reach_the_threshold() -> None:
    spec = ApprovalSpec(approvers=("cfo", "role:operator"), strategy="weighted", weights={"cfo": 3}, threshold=3)
    cfo, op = Decider("cfo", frozenset({"viewer"})), BOB
    assert (votes_of(spec, spec.approvers, [], cfo), votes_of(spec, spec.approvers, [], op)) == (3, 1)
    assert outcome_of(spec, spec.approvers, [cast("bob", Decision.APPROVE, votes=1)]) is None
    assert outcome_of(spec, spec.approvers, [cast("bob", Decision.APPROVE, votes=1), cast("cfo", Decision.APPROVE, votes=3)]) == (
        Outcome.APPROVED, "approved by bob, cfo: weight 4 of 3",
    )


def test_weighted_refuses_an_unreachable_threshold() -> None:
    with pytest.raises(ValueError, match="the threshold 5 is unreachable: all approvers together weigh 3"):
        ApprovalSpec(approvers=("alice", "bob"), strategy="weighted", weights={"alice": 2}, threshold=5)


def test_weighted_needs_a_threshold_and_weights_name_approvers() -> None:
    with pytest.raises(ValueError, match="needs a threshold"):
        ApprovalSpec(approvers=("alice",), strategy="weighted")
    with pytest.raises(ValueError, match="weights name 'zed', who is not one of the approvers"):
        ApprovalSpec(approvers=("alice",), strategy="weighted", weights={"zed": 1}, threshold=1)


def test_weights_without_the_weighted_strategy_are_refused() -> None:
    with pytest.raises(ValueError, match="weights and threshold go with strategy 'weighted'"):
        ApprovalSpec(approvers=("alice",), weights={"alice": 2})


def test_a_rejection_fails_the_task_with_its_error_type_unless_fail_on_reject_is_off() -> None:
    assert failure(ApprovalSpec(approvers=("a",)), Outcome.REJECTED) == "ApprovalRejected"
    assert failure(ApprovalSpec(approvers=("a",)), Outcome.CHANGES_REQUESTED) == "ChangesRequested"
    assert failure(ApprovalSpec(approvers=("a",), fail_on_reject=False), Outcome.REJECTED) is None
    assert failure(ApprovalSpec(approvers=("a",), fail_on_reject=False), Outcome.TIMED_OUT) == "ApprovalTimeout"
    assert failure(ApprovalSpec(approvers=("a",)), Outcome.APPROVED) is None


# -- escalation, with the time passed in ----------------------------------------------------------------------
LADDER = ApprovalSpec(
    approvers=("alice",),
    timeout=timedelta(hours=8),
    escalation=(
        Escalate(after=timedelta(hours=1), action="notify"),
        Escalate(after="PT2H", action="reassign", to=["role:admin"]),
        Escalate(after=3 * 3600, action="reject"),
    ),
)


def test_nothing_escalates_before_the_first_step_is_due() -> None:
    done = escalate(LADDER, ("alice",), T0, 0, T0 + timedelta(minutes=59))
    assert (done.steps, done.applied, done.approvers, done.outcome) == ((), 0, ("alice",), None)


def test_steps_apply_in_order_as_they_fall_due() -> None:
    first = escalate(LADDER, ("alice",), T0, 0, T0 + timedelta(hours=1))
    assert ([s.escalate.action for s in first.steps], first.applied) == ([Action.NOTIFY], 1)
    second = escalate(LADDER, first.approvers, T0, first.applied, T0 + timedelta(hours=2))
    assert ([s.number for s in second.steps], second.approvers, second.outcome) == ([2], ("role:admin",), None)


def test_steps_missed_meanwhile_apply_together_and_a_deciding_step_ends_the_request() -> None:
    done = escalate(LADDER, ("alice",), T0, 0, T0 + timedelta(hours=9))
    assert [s.number for s in done.steps] == [1, 2, 3]
    assert done.outcome == (Outcome.REJECTED, "rejected by escalation step 3: no decision within 3:00:00")


def test_the_timeout_ends_a_request_that_no_step_decided() -> None:
    spec = ApprovalSpec(approvers=("alice",), timeout="PT30M")
    assert escalate(spec, ("alice",), T0, 0, T0 + timedelta(minutes=29)).outcome is None
    assert escalate(spec, ("alice",), T0, 0, T0 + timedelta(minutes=30)).outcome == (Outcome.TIMED_OUT, "no decision within 0:30:00 (the timeout)")


def test_next_due_is_the_next_step_then_the_timeout() -> None:
    assert next_due(LADDER, T0, 0) == T0 + timedelta(hours=1)
    assert next_due(LADDER, T0, 3) == T0 + timedelta(hours=8)
    assert next_due(ApprovalSpec(approvers=("a",)), T0, 0) is None


# -- the authoring API ----------------------------------------------------------------------------------------
def test_an_approval_task_keeps_its_rules_in_its_spec_and_has_no_retries() -> None:
    with DAG("approve", default_args={"retries": 3}) as dag:
        ApprovalTask(task_id="ok", approvers=["alice", "role:operator"], min_approvals=2, timeout="P2D", require_comment=True)
    [task] = dag.to_spec().tasks
    assert (task.step_type, task.retries, task.wait.min_approvals, task.wait.timeout) == ("approval", 0, 2, 172800.0)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"approvers": []}, "approvers"),
        ({"approvers": ["role:boss"]}, "'role:boss' names no role"),
        ({"approvers": ["a"], "min_approvals": 0}, "min_approvals"),
        ({"approvers": ["a"], "timeout": "P1M"}, "years and months have no fixed length"),
        ({"approvers": ["a"], "escalation": [Escalate(after=60, action="notify"), Escalate(after=30, action="notify")]}, "in order"),
        ({"approvers": ["a"], "timeout": 60, "escalation": [Escalate(after=120, action="reject")]}, "after the timeout"),
        ({"approvers": ["a"], "retries": 2}, "is not retried"),
    ],
)
def test_a_bad_approval_task_is_a_definition_error_naming_the_problem(kwargs: dict, problem: str) -> None:
    with pytest.raises(DagDefinitionError, match=problem):
        with DAG("bad"):
            ApprovalTask(task_id="ok", **kwargs)


def test_a_reassign_step_needs_the_new_approvers() -> None:
    with pytest.raises(ValueError, match="reassign step needs `to`"):
        Escalate(after=60, action="reassign")


def test_a_notify_step_without_to_addresses_the_approvers_of_its_moment() -> None:
    spec = ApprovalSpec(approvers=("alice",), escalation=(
        Escalate(after=60, action="notify"), Escalate(after=120, action="reassign", to=["bob"]), Escalate(after=180, action="notify"),
    ))
    done = escalate(spec, ("alice",), T0, 0, T0 + timedelta(minutes=3))
    assert [s.describe() for s in done.steps] == [
        "escalation step 1: notify alice", "escalation step 2: reassigned to bob", "escalation step 3: notify bob",
    ]
