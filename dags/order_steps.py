"""The functions behind the steps of order_approval.yaml (a declarative workflow beside this file).

A workflow step `taskId: order_steps:validate_order` calls one of these with the step's `input` as
keyword arguments, plus `params` (the run's input) and `data` (the upstream step's result) when the
function names them. This module defines no DAG of its own.
"""

from __future__ import annotations

import logging

log = logging.getLogger("orchestrator.task")

REVIEW_LIMIT = 50_000


def validate_order(params: dict) -> dict:
    """The order as the next steps read it (`data.amount` in the conditions)."""
    if params["amount"] <= 0:
        raise ValueError(f"order {params['order_id']} has no positive amount")
    return {"order_id": params["order_id"], "amount": params["amount"], "customer": params["customer"]}


def manager_review(data: dict) -> dict:
    """A stand-in for a person's decision: orders up to REVIEW_LIMIT are approved."""
    approved = data["amount"] <= REVIEW_LIMIT
    log.info("order %s for %s: %s by the manager", data["order_id"], data["amount"], "approved" if approved else "rejected")
    return {**data, "approved": approved, "by": "manager"}


def auto_approve(data: dict) -> dict:
    return {**data, "approved": True, "by": "rule"}


def charge_payment(params: dict, currency: str = "EUR") -> dict:
    """After the join of both approval paths: the order is read from the run's input."""
    log.info("charging %s %s for order %s", params["amount"], currency, params["order_id"])
    return {"order_id": params["order_id"], "charged": params["amount"], "currency": currency}


def reserve_stock(params: dict) -> dict:
    log.info("reserving stock for order %s", params["order_id"])
    return {"order_id": params["order_id"], "reserved": True}


def reject_order(data: dict) -> str:
    return f"order {data['order_id']} was rejected by the {data['by']}"
