"""The touchpoint check as the service runs it: the prevention package's own check, nothing more.

The compiled policies live in :func:`xiaobao.prevention.policies.policy_cache` (reloaded when
the file changes, the last good version kept when an edit stops validating), and
:func:`xiaobao.prevention.check.run_check` writes the ``checks`` row and its audit event in one
transaction, so the service answers exactly as ``xiaobao check`` and ``xiaobao.check`` do.
The names below are kept for the benchmark and older callers.
"""
from __future__ import annotations

from xiaobao.prevention.check import run_check
from xiaobao.prevention.facts import ensure_tables  # noqa: F401 re-exported
from xiaobao.prevention.policies import PolicyCache, policy_cache  # noqa: F401 re-exported


def logged_check(ws, policies: dict, customer_id: str, touchpoint: str, context: dict | None = None, *,
                 asked_by: str) -> dict:
    """Level, actions and reasons for ``customer_id`` at ``touchpoint``, logged durably; adds ``check_id``."""
    return run_check(ws, customer_id, touchpoint, context, policies=policies, asked_by=asked_by)
