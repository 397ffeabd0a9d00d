"""Shared pieces of the command line: the workspace option, output as table or JSON, errors."""
from __future__ import annotations

import json
import shlex
import sys
from typing import Any, Iterable, Sequence

import typer
from rich.console import Console
from rich.table import Table

from xiaobao.workspace import Workspace

console = Console()
err_console = Console(stderr=True)


class lazy_module:
    """A module imported on first attribute access, so ``xiaobao --help`` does not pay for it.

    For CLI modules whose library modules pull heavy imports (rule-engine builds its parser
    at import, ~0.35 s): ``routing = lazy_module("xiaobao.complaints_engine.routing")``.
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        import importlib

        return getattr(importlib.import_module(self._name), attr)


def command_line() -> str:
    """The command as typed, for the audit log."""
    return "xiaobao " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def workspace_from(ctx: typer.Context) -> Workspace:
    """The workspace named by ``--home`` / ``$XIAOBAO_HOME`` (default ``./.xiaobao``), opened once per run."""
    root = ctx.find_root()
    root.ensure_object(dict)
    obj = root.obj
    if obj.get("workspace") is None:
        obj["workspace"] = Workspace(obj.get("home"), command=command_line(), vector_store=obj.get("vector_store"))
    return obj["workspace"]


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def print_json(data: Any) -> None:
    """Machine output: JSON on stdout, UTF-8 kept readable."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_jsonable))


def emit(rows: Sequence[dict] | Iterable[dict], json_out: bool, columns: Sequence[str] | None = None,
         title: str | None = None) -> None:
    """A listing: JSON for machines (``--json``), a rich table for people."""
    rows = [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in rows]
    if json_out:
        print_json(rows)
        return
    if not rows:
        console.print(f"[dim]{title + ': ' if title else ''}nothing to show[/dim]")
        return
    columns = list(columns or rows[0].keys())
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[_cell(r.get(c)) for c in columns])
    console.print(table)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


#: Exit status of a batch in which some items failed and ``--strict`` was given.
PARTIAL_EXIT = 1


def finish_batch(total: int, failures: Sequence[str], what: str, *, strict: bool = False,
                 failed_count: int | None = None) -> None:
    """End a batch command with the right exit status after its output is printed.

    A batch keeps going past bad items, so the rule is: nothing could be done (every item
    failed) -> the first failure as one line and exit 2; some failed -> a summary on stderr and
    exit 0, or exit 1 with ``--strict`` (for pipelines that must stop on any bad input);
    none failed -> exit 0. ``failures`` are one-line descriptions (file or row and reason).
    """
    from xiaobao.errors import UserError

    n_bad = len(failures) if failed_count is None else failed_count
    if not n_bad:
        return
    if total and n_bad >= total:
        more = f" (and {n_bad - 1} more; every {what.rstrip('s')} failed)" if n_bad > 1 else ""
        raise UserError(f"{failures[0]}{more}")
    err_console.print(f"{n_bad} of {total} {what} failed and were skipped; the rest were done",
                      markup=False, highlight=False)
    if strict:
        raise typer.Exit(PARTIAL_EXIT)
