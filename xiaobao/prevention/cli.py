"""Command line for prevention: validate policies, run a touchpoint check, record what was done
with it, show a customer."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from xiaobao.cli_support import console, emit, print_json, workspace_from
from xiaobao.prevention.check import check
from xiaobao.prevention.outcomes import OUTCOMES, record_outcome
from xiaobao.prevention.policies import context_facts, load_policies
from xiaobao.prevention.profile import customer_profile

policies_app = typer.Typer(help="Touchpoint policies.", no_args_is_help=True)
customers_app = typer.Typer(help="Customers: the profile an agent sees before acting.\n\n"
                                "Example: xiaobao customers show CU000123", no_args_is_help=True)
# `xiaobao check --customer ... --touchpoint ...` runs a check; `xiaobao check outcome ID` records its outcome.
check_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)
_LEVEL_STYLE = {"none": "green", "notice": "cyan", "warn": "yellow", "intercept": "bold red"}


@policies_app.command("check")
def policies_check(file: Path) -> None:
    """Validate a policies file. Example: xiaobao policies check my-policies.yaml"""
    pol = load_policies(file)
    console.print(f"{file}: ok, {sum(len(r) for r in pol.values())} rules over {len(pol)} touchpoints "
                  f"({', '.join(pol)})", markup=False)
    for tp, i, names in context_facts(pol):
        console.print(f"note: touchpoint {tp} rule {i} reads {', '.join(names)}, not a stored fact: "
                      f"every check must pass it in context (or fix the spelling)", markup=False)


@check_app.callback()
def check_command(ctx: typer.Context, customer: Optional[str] = typer.Option(None, "--customer"),
                  touchpoint: Optional[str] = typer.Option(None, "--touchpoint"),
                  policies: Optional[Path] = typer.Option(None, "--policies",
                                                          help="Policies YAML (default: the shipped example)."),
                  json_out: bool = typer.Option(False, "--json")) -> None:
    """Warning level, actions and reasons for a customer at a touchpoint (logged).

    Example: xiaobao check --customer CU000123 --touchpoint collection_call
    Then: xiaobao check outcome CHECK_ID --outcome followed
    """
    if ctx.invoked_subcommand is not None:
        if customer or touchpoint or policies or json_out:
            raise typer.BadParameter(f"belongs to the check itself, not to `check {ctx.invoked_subcommand}`",
                                     ctx=ctx, param_hint="--customer/--touchpoint/--policies/--json")
        return
    for value, name in ((customer, "--customer"), (touchpoint, "--touchpoint")):
        if value is None:
            raise typer.BadParameter("missing: a check needs --customer and --touchpoint", ctx=ctx,
                                     param_hint=f"'{name}'")
    r = check(customer, touchpoint, workspace=workspace_from(ctx), policies_file=policies, asked_by="cli")
    if json_out:
        print_json(r)
        return
    style = _LEVEL_STYLE.get(r["level"], "")
    console.print(f"[{style}]{r['level']}[/{style}]: {', '.join(r['actions']) or '-'}")
    for reason in r["reasons"]:
        console.print(f"  because {reason}", markup=False)
    console.print(f"[dim]check {r['check_id']} logged[/dim]")


@check_app.command("outcome")
def check_outcome(ctx: typer.Context, check_id: int = typer.Argument(..., metavar="CHECK_ID"),
                  outcome: str = typer.Option(..., "--outcome", help=" | ".join(OUTCOMES)),
                  note: Optional[str] = typer.Option(None, "--note"),
                  by: str = typer.Option("cli", "--by", help="Who records it (default: cli)."),
                  json_out: bool = typer.Option(False, "--json")) -> None:
    """Record what was done with a check's warning (logged; a later outcome replaces it, history kept).

    followed: the actions were taken; overridden: the agent went ahead anyway; not_contacted:
    the contact was dropped. Example: xiaobao check outcome 812 --outcome overridden --note 'customer insisted'
    """
    r = record_outcome(workspace_from(ctx), check_id, outcome, by=by, note=note)
    if json_out:
        print_json(r)
        return
    replaced = f" (was {r['previous']})" if r["previous"] else ""
    console.print(f"check {r['check_id']} ({r['customer_id']}, {r['level']}): {r['outcome']}{replaced}, "
                  f"recorded by {r['by']}", markup=False, highlight=False)


@customers_app.command("show")
def customers_show(ctx: typer.Context, customer_id: str = typer.Argument(..., metavar="ID"),
                   json_out: bool = typer.Option(False, "--json")) -> None:
    """Tags, complaints, rings, matches, risk, contacts and recent checks of one customer.

    Example: xiaobao customers show CU000123
    """
    p = customer_profile(workspace_from(ctx), customer_id)
    if json_out:
        print_json(p)
        return
    print_profile(p)


def print_profile(p: dict) -> None:
    """The profile for a person: the warnings first, the detail after."""
    f = p["facts"]
    say = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731 data may hold [brackets]
    console.print(f"[bold]customer {p['customer_id']}[/bold]", highlight=False)
    tags = ", ".join(f"{t['tag']} ({t['source']})" for t in p["tags"]) or "none"
    say(f"tags: {tags}")
    risk = p["risk"]
    predicted = (f"{risk['tier']} (score {risk['score']:.3f}, as of {risk['as_of']})" if risk else "not scored")
    say(f"risk: complaints {f['risk_tier'] or '-'}; model {predicted}")
    say(f"complaints: {f['complaints']} ({f['open_complaints']} open); rings: {f['rings']}")
    i = p["interactions"]
    say(f"contacts: {i['last_7d']} in 7 days, {i['last_30d']} in 30 days, {i['total']} in all"
        + (f" (last {i['last_at']})" if i["last_at"] else ""))
    say(f"checks in the last 24 h: {f['checks_24h']}")
    if p["complaints"]:
        emit([{**c, "tags": ",".join(c["tags"])} for c in p["complaints"]], False,
             ["id", "status", "channel", "category", "received_at", "deadline", "deadline_state", "risk_tier",
              "warnings_before", "tags"], title="complaints")
    for r in p["rings"]:
        others = ", ".join(r["other_customers"]) or "none"
        more = r["other_customers_total"] - len(r["other_customers"])
        say(f"ring {r['ring']} ({r['status']}, {r['n_complaints']} complaints, {r['n_customers']} customers): "
            f"this customer's {', '.join(r['complaints'])}; others: {others}" + (f" and {more} more" if more > 0 else ""))
    if p["matches"]:
        emit(p["matches"], False, ["complaint_id", "kind", "subject_id", "subject_name", "other_complaint_id",
                                   "score", "decision"], title="matches")
    if i["recent"]:
        emit(i["recent"], False, ["at", "channel", "direction", "agent_id", "outcome", "excerpt"],
             title="latest interactions")
    if p["checks"]:
        emit([{**c, "actions": ",".join(c["actions"]), "outcome": (c["outcome"] or {}).get("outcome")}
              for c in p["checks"]], False,
             ["id", "asked_at", "touchpoint", "asked_by", "level", "actions", "outcome"], title="recent checks")
