"""The touchpoint check: gather a customer's facts, apply the policies, log who asked.

Every check is written to the ``checks`` table and to the audit log (``prevention.check``) in
ONE transaction before its result is returned. The registry runs WAL with ``synchronous=FULL``,
so once the commit returns both rows are on disk: a warning is never given without its log
row, and a later complaint can be traced to the warning the caller received (``check_id``).
The logged row keeps the facts the decision was made on.
"""
from __future__ import annotations

import json

from xiaobao.complaints_engine import store
from xiaobao.errors import UserError
from xiaobao.prevention.facts import customer_facts, ensure_tables, merge_context  # noqa: F401 re-exported
from xiaobao.prevention.policies import cached_policies, evaluate
from xiaobao.workspace import Workspace


def run_check(ws, customer_id: str, touchpoint: str, context: dict | None = None, *, policies: dict,
              asked_by: str = "library") -> dict:
    """Check with already compiled ``policies``: level, actions, reasons, customer_id and check_id."""
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise UserError("customer_id must be a non-empty string")
    if context is not None and not isinstance(context, dict):
        raise UserError("context must be a mapping of fact names to values")
    stored = customer_facts(ws, customer_id, touchpoint)
    facts = merge_context(stored, context)
    result = evaluate(policies, touchpoint, facts)  # an unknown touchpoint is refused before anything is logged
    result["customer_id"] = customer_id
    logged = json.dumps({**result, "facts": facts}, ensure_ascii=False, default=str)
    with ws.transaction():
        check_id = ws.conn.execute(
            "INSERT INTO checks (customer_id, touchpoint, asked_by, asked_at, level, result) VALUES (?, ?, ?, ?, ?, ?)",
            (customer_id, touchpoint, asked_by, store.now_iso(), result["level"], logged)).lastrowid
        ws.log_event("prevention.check", ids=(check_id,), command=asked_by, detail={**result, "facts": facts})
    return {**result, "check_id": check_id}


def check(*args, context: dict | None = None, workspace=None, policies_file=None, asked_by: str = "library") -> dict:
    """What to do before contacting a customer: ``{level, actions, reasons, touchpoint, customer_id, check_id}``.

    ``check(customer_id, touchpoint, context=None, *, workspace=None, policies_file=None, asked_by="library")``

    ``level`` is none, notice, warn or intercept (the highest of the matching rules); ``context``
    adds caller facts (stored facts win, except a larger contact count). With no ``workspace``
    the default one is opened (``$XIAOBAO_HOME``, else ``./.xiaobao``) and closed again.
    ``policies_file`` defaults to the shipped example; it is compiled once per process and
    re-read when it changes. The older form ``check(ws, customer_id, touchpoint, context)``
    still works.
    """
    if args and isinstance(args[0], Workspace):
        if workspace is not None:
            raise TypeError("check(): workspace given twice")
        workspace, args = args[0], args[1:]
    if len(args) == 3 and context is None:
        args, context = args[:2], args[2]
    if len(args) != 2:
        raise TypeError("check() takes customer_id, touchpoint and an optional context")
    customer_id, touchpoint = args
    policies = cached_policies(policies_file)
    if workspace is not None:
        return run_check(workspace, customer_id, touchpoint, context, policies=policies, asked_by=asked_by)
    with Workspace(command=asked_by) as ws:
        return run_check(ws, customer_id, touchpoint, context, policies=policies, asked_by=asked_by)
