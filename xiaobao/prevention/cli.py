"""Command line for prevention: validate policies, run a touchpoint check."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from xiaobao.cli_support import console, print_json, workspace_from
from xiaobao.prevention.check import check
from xiaobao.prevention.policies import load_policies

DEFAULT_POLICIES = Path(__file__).with_name("policies.yaml")
policies_app = typer.Typer(help="Touchpoint policies.", no_args_is_help=True)


@policies_app.command("check")
def policies_check(file: Path) -> None:
    """Validate a policies file."""
    pol = load_policies(file)
    console.print(f"{file}: ok, {sum(len(r) for r in pol.values())} rules over {len(pol)} touchpoints")


def check_command(ctx: typer.Context, customer: str = typer.Option(..., "--customer"),
                  touchpoint: str = typer.Option(..., "--touchpoint"),
                  policies: Optional[Path] = typer.Option(None, "--policies"),
                  json_out: bool = typer.Option(False, "--json")) -> None:
    """Warning level, actions and reasons for a customer at a touchpoint (logged)."""
    r = check(workspace_from(ctx), customer, touchpoint, policies_file=policies or DEFAULT_POLICIES,
              asked_by="cli")
    if json_out:
        print_json(r)
    else:
        console.print(f"{r['level']}: {', '.join(r['actions']) or '-'}  ({'; '.join(r['reasons']) or '-'})")
