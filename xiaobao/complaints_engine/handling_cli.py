"""Command line for complaint handling: route, rules, sla, cases, validity, evidence.

Each command is a thin call of one library function (routing.route_pending,
routing.check_rules, sla.tick / list_due / pause / resume / extend, cases.supervision /
list_cases / record_action, validity.check_validity, evidence.write_evidence_pack).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from xiaobao.cli_support import command_line, console, emit, lazy_module, print_json, workspace_from
from xiaobao.errors import InputError

# Imported on first use: routing, validity and evidence load rule-engine, which is slow to import.
cases_mod = lazy_module("xiaobao.complaints_engine.cases")
evidence_mod = lazy_module("xiaobao.complaints_engine.evidence")
routing = lazy_module("xiaobao.complaints_engine.routing")
sla = lazy_module("xiaobao.complaints_engine.sla")
validity = lazy_module("xiaobao.complaints_engine.validity")

rules_app = typer.Typer(help="Routing rules files.", no_args_is_help=True)
sla_app = typer.Typer(help="Deadline clock: tick events, due list, pause/resume, extensions.", no_args_is_help=True)
cases_app = typer.Typer(help="Supervision (督办): case actions, open cases, overdue cases.", no_args_is_help=True)
validity_app = typer.Typer(help="Complaint validity checks (投诉有效性) with their grounds.", no_args_is_help=True)

_POLICIES = typer.Option(None, "--policies", help="SLA policy file (default: the shipped data/sla.yaml).")
_NOW = typer.Option(None, "--now", help="Clock time to evaluate at, ISO (default: now, Asia/Shanghai).")
_JSON = typer.Option(False, "--json", help="JSON output.")


def _policies(path: Optional[Path]):
    return sla.load_policies(path) if path else sla.load_policies()


def route_command(ctx: typer.Context,
                  rules: Optional[Path] = typer.Option(None, "--rules", help="Rules file (default: data/rules.yaml)."),
                  dry_run: bool = typer.Option(False, "--dry-run", help="Decide and show, store nothing."),
                  policies: Optional[Path] = _POLICIES, json_out: bool = _JSON) -> None:
    """Route every complaint not routed yet (first matching rule wins). Example: xiaobao route --dry-run"""
    ws = workspace_from(ctx)
    report = routing.route_pending(ws, rules, dry_run=dry_run, policies=_policies(policies), command=command_line())
    if json_out:
        print_json(report.to_dict())
        return
    title = "routing (dry run, nothing stored)" if dry_run else "routed"
    if len(report.decisions) <= 50:
        emit([d.to_dict() for d in report.decisions], False,
             ["complaint_id", "rule", "queue", "team", "priority", "category", "category_confidence", "tags_added"],
             title=title)
    else:  # a big batch: one line per rule, --json has every decision
        counts: dict = {}
        for d in report.decisions:
            key = (d.rule, d.queue, d.team)
            counts[key] = counts.get(key, 0) + 1
        emit([{"rule": r, "queue": q, "team": t, "complaints": n} for (r, q, t), n in
              sorted(counts.items(), key=lambda kv: -kv[1])], False, title=title + " (per rule; --json for each)")
    for rule, n in report.rule_errors.items():
        console.print(f"[yellow]rule {rule}: could not be evaluated on {n} complaint(s) (treated as no match)[/yellow]")
    for p in report.problems:
        console.print(f"[yellow]{p}[/yellow]")
    if not dry_run:
        console.print(f"{len(report.decisions)} routed, {report.cases_opened} case(s) opened")


@rules_app.command("check")
def rules_check(file: Path, json_out: bool = _JSON) -> None:
    """Check a rules file; each problem names the rule and why. Example: xiaobao rules check rules.yaml"""
    problems, ruleset = routing.check_rules(file)
    if json_out:
        print_json({"file": str(file), "ok": not problems, "problems": problems,
                    "rules": len(ruleset.rules) if ruleset else None})
    elif not problems:
        typer.echo(f"{file}: {len(ruleset.rules)} rules OK")
    if problems:
        if not json_out:
            for p in problems[1:]:
                typer.echo(f"{file}: {p}", err=True)
        raise InputError(file, problems[0] + (f" ({len(problems)} problems in all)" if len(problems) > 1 else ""))


@sla_app.command("check")
def sla_check(file: Path, json_out: bool = _JSON) -> None:
    """Check an SLA policy file (and its holiday supplement). Example: xiaobao sla check sla.yaml"""
    ps = sla.load_policies(file)
    rows = [{"policy": p.name, "basis": p.basis, "channels": ", ".join(p.channels),
             "targets": ", ".join(f"{t.name} {t.days}d" + (f" +{'+'.join(str(e.days) for e in t.extensions)}"
                                                          if t.extensions else "") for t in p.targets.values()),
             "required_actions": ", ".join(p.required_actions)} for p in ps.policies.values()]
    if json_out:
        print_json({"file": str(file), "ok": True, "policies": rows})
    else:
        emit(rows, False, title=f"{file}: {len(rows)} policies OK")


@sla_app.command("tick")
def sla_tick(ctx: typer.Context, now: Optional[str] = _NOW, policies: Optional[Path] = _POLICIES,
             json_out: bool = _JSON) -> None:
    """Emit due-soon / breached / escalated events (each once). Example: xiaobao sla tick --now 2025-10-09T09:00"""
    events = sla.tick(workspace_from(ctx), now, _policies(policies), command=command_line())
    emit([e.to_dict() for e in events], json_out, ["complaint_id", "kind", "target", "due_at", "level", "to", "problem"],
         title="new SLA events")


@sla_app.command("list")
def sla_list(ctx: typer.Context, due_within: str = typer.Option("2d", "--due-within", help="e.g. 2d, 36h"),
             now: Optional[str] = _NOW, policies: Optional[Path] = _POLICIES, json_out: bool = _JSON) -> None:
    """Open cases with a deadline inside the window (overdue included). Example: xiaobao sla list --due-within 2d"""
    emit(sla.list_due(workspace_from(ctx), due_within, now, _policies(policies)), json_out,
         ["complaint_id", "policy", "target", "due_at", "time_left", "state", "paused", "extension_level", "problem"],
         title=f"deadlines within {due_within}")


@sla_app.command("pause")
def sla_pause(ctx: typer.Context, case: str, at: Optional[str] = typer.Option(None, "--at"),
              reason: Optional[str] = typer.Option(None, "--reason"), json_out: bool = _JSON) -> None:
    """Stop a case's clock (e.g. waiting on the customer). Example: xiaobao sla pause C1 --reason '待补充材料'"""
    row = sla.pause(workspace_from(ctx), case, at, reason, command=command_line())
    print_json(row) if json_out else typer.echo(f"{case}: clock paused at {row['paused_since']}")


@sla_app.command("resume")
def sla_resume(ctx: typer.Context, case: str, at: Optional[str] = typer.Option(None, "--at"),
               json_out: bool = _JSON) -> None:
    """Restart a paused clock. Example: xiaobao sla resume C1"""
    row = sla.resume(workspace_from(ctx), case, at, command=command_line())
    print_json(row) if json_out else typer.echo(f"{case}: clock resumed")


@sla_app.command("extend")
def sla_extend(ctx: typer.Context, case: str, approver: Optional[str] = typer.Option(None, "--approver"),
               reason: Optional[str] = typer.Option(None, "--reason"), at: Optional[str] = typer.Option(None, "--at"),
               policies: Optional[Path] = _POLICIES, json_out: bool = _JSON) -> None:
    """Extend the decision deadline one level. Example: xiaobao sla extend C1 --approver 王总 --reason 情况复杂"""
    out = sla.extend(workspace_from(ctx), case, approver, reason, at, _policies(policies), command=command_line())
    print_json(out) if json_out else typer.echo(
        f"{case}: extension {out['extension_level']}, decision due {out['due_at']} (was {out['previous_due_at']})")


@cases_app.command("show")
def cases_show(ctx: typer.Context, case: str, now: Optional[str] = _NOW, policies: Optional[Path] = _POLICIES,
               json_out: bool = _JSON) -> None:
    """Supervision view of one case. Example: xiaobao cases show C1"""
    view = cases_mod.supervision(workspace_from(ctx), case, now, _policies(policies))
    if json_out:
        print_json(view)
        return
    console.print(f"[bold]{view['complaint_id']}[/bold] {view['status']} — {view['policy_title']}"
                  + (f" [yellow]paused since {view['paused_since']}[/yellow]" if view["paused"] else ""))
    emit(view["deadlines"], False, ["target", "days", "due_at", "time_left", "met_at", "state", "extension_level"],
         title="deadlines")
    missing = ", ".join(f"{m['action']} ({m['label']})" for m in view["missing_required_actions"]) or "none"
    console.print(f"missing required actions: {missing}")
    emit(view["internal_steps_pending"], False, ["step", "since", "waiting_for"], title="internal steps pending")
    emit(view["follow_ups_due"], False, ["due_at", "scheduled_at", "note", "overdue"], title="customer follow-ups due")
    emit(view["actions"], False, ["at", "action", "actor", "note", "due_at"], title="actions")


@cases_app.command("list")
def cases_list(ctx: typer.Context, overdue: bool = typer.Option(False, "--overdue", help="Only cases past a deadline."),
               all_cases: bool = typer.Option(False, "--all", help="Closed cases too."),
               now: Optional[str] = _NOW, policies: Optional[Path] = _POLICIES, json_out: bool = _JSON) -> None:
    """Open cases with time left and what is missing. Example: xiaobao cases list --overdue"""
    rows = cases_mod.list_cases(workspace_from(ctx), now, overdue, None if all_cases else "open", _policies(policies))
    emit(rows, json_out, title="overdue cases" if overdue else "cases")


@cases_app.command("action")
def cases_action(ctx: typer.Context, case: str, action: str, at: Optional[str] = typer.Option(None, "--at"),
                 actor: Optional[str] = typer.Option(None, "--actor"), note: Optional[str] = typer.Option(None, "--note"),
                 due: Optional[str] = typer.Option(None, "--due", help="For follow_up_scheduled: when to call back."),
                 policies: Optional[Path] = _POLICIES, json_out: bool = _JSON) -> None:
    """Record a handling action. Example: xiaobao cases action C1 contacted_customer --actor 李四"""
    out = cases_mod.record_action(workspace_from(ctx), case, action, at, actor, note, due, _policies(policies),
                                  command=command_line())
    print_json(out) if json_out else typer.echo(
        f"{case}: {action} recorded at {out['at']}" + (" — case closed" if out["closed"] else ""))


@validity_app.command("check")
def validity_check(ctx: typer.Context, complaint_ids: List[str], json_out: bool = _JSON) -> None:
    """Run the validity checks on complaints and store the verdicts. Example: xiaobao validity check C1 C2"""
    ws = workspace_from(ctx)
    results = [validity.check_validity(ws, cid, command=command_line()) for cid in complaint_ids]
    if json_out:
        print_json(results)
        return
    for r in results:
        console.print(f"[bold]{r['complaint_id']}[/bold]: {r['verdict']} (responsibility {r['responsibility']}, "
                      "answer required)")
        emit(r["reasons"], False, ["check", "result", "detail"], title=None)


def evidence_command(ctx: typer.Context, case: str, out: Path = typer.Option(..., "--out", help="Output folder."),
                     fmt: str = typer.Option("html", "--format", help="html | md"), now: Optional[str] = _NOW) -> None:
    """Write the evidence pack of one case. Example: xiaobao evidence C1 --out packs --format html"""
    path = evidence_mod.write_evidence_pack(workspace_from(ctx), case, out, fmt, now, command=command_line())
    typer.echo(str(path))
