"""Command line for complaints intake and screening: ``complaints``, ``screen``, ``tags``,
``rings`` and ``synth complaints``. Each command calls one library function."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from xiaobao.cli_support import command_line, console, emit, err_console, finish_batch, print_json, workspace_from

complaints_app = typer.Typer(help="Inbound complaints: ingest files, list and show them.", no_args_is_help=True)
tags_app = typer.Typer(help="消保 tags: the vocabulary, and tags per complaint and per customer.", no_args_is_help=True)
rings_app = typer.Typer(help="Candidate proxy rings found by screening: list, show, promote to an agent.",
                        no_args_is_help=True)
synth_app = typer.Typer(help="Synthetic data for demos, tests and benchmarks.\n\n"
                            "Example: xiaobao synth complaints --n 5000 --rings 20 --seed 7 day.csv", no_args_is_help=True)

LIST_COLUMNS = ["id", "channel", "customer_id", "risk_score", "risk_tier", "tags"]


# ---------------------------------------------------------------- complaints
@complaints_app.command("ingest")
def complaints_ingest(ctx: typer.Context, files: List[Path] = typer.Argument(..., help="CSV, TSV, JSONL or XLSX files."),
                      strict: bool = typer.Option(False, "--strict", help="Exit 1 if any row was bad."),
                      json_out: bool = typer.Option(False, "--json")) -> None:
    """Load complaint files; bad rows are reported (file:line: reason) and skipped.

    Exit 0 when some rows loaded (bad ones are listed on stderr), 2 when none could be
    loaded, 1 with --strict when any row was bad. Example: xiaobao complaints ingest day.csv cfpb.csv
    """
    from xiaobao.complaints_engine.ingest import ingest

    report = ingest(workspace_from(ctx), files, command=command_line())
    if json_out:
        print_json(report.to_dict())
    else:
        for p in report.bad:
            err_console.print(f"bad row {p}", markup=False, highlight=False)
        for p in report.warnings[:20]:
            err_console.print(f"warning {p}", markup=False, highlight=False)
        typer.echo(f"{report.rows} rows: {report.added} added, {report.updated} updated, "
                   f"{report.unchanged} unchanged, {len(report.bad)} bad")
    finish_batch(report.rows, [str(p) for p in report.bad], "rows", strict=strict)


@complaints_app.command("list")
def complaints_list(ctx: typer.Context, tag: Optional[str] = typer.Option(None, "--tag"),
                    tier: Optional[str] = typer.Option(None, "--tier", help="high | medium | low"),
                    channel: Optional[str] = typer.Option(None, "--channel"),
                    customer: Optional[str] = typer.Option(None, "--customer"),
                    since: Optional[str] = typer.Option(None, "--since", help="received at or after, e.g. 2026-10-01"),
                    unscreened: bool = typer.Option(False, "--unscreened"),
                    limit: int = typer.Option(50, "--limit"), json_out: bool = typer.Option(False, "--json")) -> None:
    """Complaints, riskiest first. Example: xiaobao complaints list --tag 疑似代理投诉 --tier high"""
    from xiaobao.complaints_engine import store

    ws = workspace_from(ctx)
    rows = store.list_complaints(ws, tag=tag, tier=tier, channel=channel, customer_id=customer, since=since,
                                 screened=False if unscreened else None, limit=limit)
    for r in rows:
        r["tags"] = ",".join(t["tag"] for t in store.complaint_tags(ws, r["id"]))
        if not json_out:
            r["text"] = (r["text"] or "")[:40]
    emit(rows, json_out, None if json_out else LIST_COLUMNS, title="complaints")


@complaints_app.command("show")
def complaints_show(ctx: typer.Context, complaint_id: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """One complaint with its score, reasons, matches, tags and rings. Example: xiaobao complaints show SC000-0000042"""
    from xiaobao.complaints_engine import store

    c = store.get_complaint(workspace_from(ctx), complaint_id)
    if json_out:
        print_json(c)
        return
    _print_complaint(c)


@complaints_app.command("warnings")
def complaints_warnings(ctx: typer.Context, complaint_id: str,
                        days: float = typer.Option(30, "--days", help="How far back before the complaint to look."),
                        json_out: bool = typer.Option(False, "--json")) -> None:
    """Was the customer warned before this complaint, and was the warning heeded?

    The touchpoint checks of the complaint's customer in the DAYS before it arrived, with their
    level, actions and recorded outcome. Example: xiaobao complaints warnings SC000-0000042
    """
    from xiaobao.prevention.outcomes import warnings_before

    t = warnings_before(workspace_from(ctx), complaint_id, days=days)
    if json_out:
        print_json(t)
        return
    console.print(f"{t['complaint_id']} customer {t['customer_id'] or '-'}, received {t['received_at'] or '-'}: "
                  f"{t['summary']} ({t['warnings']} warnings in {len(t['checks'])} checks over {t['days']:g} days "
                  "before)", markup=False, highlight=False)
    if t["checks"]:
        emit([{**c, "actions": ",".join(c["actions"]), "reasons": "; ".join(c["reasons"]),
               "outcome": (c["outcome"] or {}).get("outcome"), "outcome_by": (c["outcome"] or {}).get("by"),
               "note": (c["outcome"] or {}).get("note")} for c in t["checks"]], False,
             ["id", "asked_at", "touchpoint", "asked_by", "level", "actions", "reasons", "outcome", "outcome_by",
              "note"], title="checks before the complaint")


def _print_complaint(c: dict) -> None:
    score = "not screened" if c.get("risk_score") is None else f"{c['risk_score']:.2f} ({c['risk_tier']})"
    console.print(f"[bold]{c['id']}[/bold]  {c.get('received_at') or ''}  {c.get('channel') or ''}  "
                  f"customer {c.get('customer_id') or '-'}  risk {score}", markup=True, highlight=False)
    if c.get("tags"):
        console.print("tags: " + ", ".join(c["tags"]), markup=False, highlight=False)
    if c.get("rings"):
        console.print("rings: " + ", ".join(f"R-{r}" for r in c["rings"]), markup=False, highlight=False)
    console.print((c.get("text") or "")[:400], markup=False, highlight=False)
    # weight x strength of each reason: what it alone would score (the fused score combines them)
    for r in c.get("reasons") or []:
        console.print(f"  [{r['weight'] * r['strength']:.2f}] {r['text']}", markup=False, highlight=False)


# ---------------------------------------------------------------- screen
def screen_command(ctx: typer.Context,
                   since: Optional[str] = typer.Option(None, "--since", help="only complaints received at/after T"),
                   complaint: Optional[str] = typer.Option(None, "--complaint", help="screen (again) this one"),
                   workers: int = typer.Option(1, "--workers", help="processes for text features"),
                   chunk: int = typer.Option(500, "--chunk", help="complaints per committed chunk"),
                   scorecard: Optional[Path] = typer.Option(None, "--scorecard", help="scorecard YAML"),
                   ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                                     help="run per-complaint work on Ray: bare --ray starts a "
                                                          "local Ray, or give a cluster address"),
                   json_out: bool = typer.Option(False, "--json")) -> None:
    """Screen unscreened complaints: artifacts, templates, watchlist, voice and face; score, tier, reasons, tags.

    Safe to interrupt and run again. Example: xiaobao screen --since 2026-10-01 --workers 2
    (or on Ray: xiaobao screen --ray, xiaobao screen --ray ray://head:10001)
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from xiaobao.complaints_engine.screen import screen

    ws = workspace_from(ctx)
    kwargs = dict(since=since, complaint_id=complaint, workers=workers, chunk_size=chunk,
                  scorecard=str(scorecard) if scorecard else None, command=command_line(),
                  ray=(True if ray == "local" else ray) if ray else None)
    if json_out or complaint:
        report = screen(ws, **kwargs)
    else:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total)
                bar.update(tasks[phase], completed=done, total=total)

            report = screen(ws, progress=progress, **kwargs)
    if json_out:
        print_json(report.to_dict())
        return
    if complaint:
        _print_complaint(report.complaints[0])
        return
    tiers = ", ".join(f"{report.tiers.get(t, 0)} {t}" for t in ("high", "medium", "low"))
    typer.echo(f"screened {report.screened} complaints in {report.seconds:.1f} s ({tiers}); "
               f"{report.rings} candidate rings with {report.ring_members} complaints")
    for h in report.hubs[:5]:
        typer.echo(f"  hub set aside: {h['kind']} {h['value']} ({h['why']})")


# ---------------------------------------------------------------- tags
@tags_app.command("list")
def tags_list(ctx: typer.Context, json_out: bool = typer.Option(False, "--json")) -> None:
    """The vocabulary with how many complaints and customers carry each tag. Example: xiaobao tags list"""
    from xiaobao.complaints_engine import store
    from xiaobao.complaints_engine.tags import load_vocabulary

    counts = store.tag_counts(workspace_from(ctx))
    rows = [{"tag": name, "en": t.get("en", ""), "complaints": counts.get(name, {}).get("complaints", 0),
             "customers": counts.get(name, {}).get("customers", 0), "description": t.get("description", "")}
            for name, t in load_vocabulary().tags.items()]
    emit(rows, json_out, title="tags")


@tags_app.command("show")
def tags_show(ctx: typer.Context, complaint: Optional[str] = typer.Option(None, "--complaint"),
              customer: Optional[str] = typer.Option(None, "--customer"),
              json_out: bool = typer.Option(False, "--json")) -> None:
    """Tags of one complaint or one customer. Example: xiaobao tags show --customer CU12345678"""
    from xiaobao.complaints_engine import store
    from xiaobao.errors import UserError

    ws = workspace_from(ctx)
    if bool(complaint) == bool(customer):
        raise UserError("give exactly one of --complaint ID or --customer ID")
    if complaint:
        store.get_complaint(ws, complaint)  # unknown id: one clear error
    rows = store.complaint_tags(ws, complaint) if complaint else store.customer_tags(ws, customer)
    emit(rows, json_out, title=f"tags of {complaint or customer}")


@tags_app.command("add")
def tags_add(ctx: typer.Context, tags: List[str] = typer.Argument(...),
             complaint: Optional[str] = typer.Option(None, "--complaint"),
             customer: Optional[str] = typer.Option(None, "--customer")) -> None:
    """Tag a complaint or a customer by hand. Example: xiaobao tags add 人工复核 --complaint SC000-0000042"""
    from xiaobao.complaints_engine import store
    from xiaobao.errors import UserError

    ws = workspace_from(ctx)
    if not complaint and not customer:
        raise UserError("give --complaint ID and/or --customer ID")
    if complaint:
        store.get_complaint(ws, complaint)
    n = store.add_tags(ws, tags, complaint_id=complaint, customer_id=customer, source="manual")
    typer.echo(f"added {n} tag(s)")


@tags_app.command("remove")
def tags_remove(ctx: typer.Context, tags: List[str] = typer.Argument(...),
                complaint: Optional[str] = typer.Option(None, "--complaint"),
                customer: Optional[str] = typer.Option(None, "--customer")) -> None:
    """Remove tags (every source) from a complaint or customer. Example: xiaobao tags remove 人工复核 --complaint X"""
    from xiaobao.complaints_engine import store
    from xiaobao.errors import UserError

    if not complaint and not customer:
        raise UserError("give --complaint ID and/or --customer ID")
    n = store.remove_tags(workspace_from(ctx), tags, complaint_id=complaint, customer_id=customer)
    typer.echo(f"removed {n} tag(s)")


@tags_app.command("customers")
def tags_customers(ctx: typer.Context, tag: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """Customers carrying a tag. Example: xiaobao tags customers 高风险客户"""
    from xiaobao.complaints_engine import store
    from xiaobao.complaints_engine.tags import check_tags

    check_tags([tag])
    emit(store.customers_with_tag(workspace_from(ctx), tag), json_out, title=f"customers tagged {tag}")


# ---------------------------------------------------------------- rings
@rings_app.command("list")
def rings_list(ctx: typer.Context, status: Optional[str] = typer.Option(None, "--status",
               help="candidate | promoted | dissolved"), json_out: bool = typer.Option(False, "--json")) -> None:
    """Candidate and promoted rings, largest first. Example: xiaobao rings list"""
    from xiaobao.complaints_engine.rings import list_rings

    emit(list_rings(workspace_from(ctx), status=status), json_out,
         None if json_out else ["ring", "status", "n_complaints", "n_customers", "subject_id", "top_evidence"],
         title="rings")


@rings_app.command("show")
def rings_show(ctx: typer.Context, ring_id: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """Members, edges and evidence of one ring. Example: xiaobao rings show R-3"""
    from xiaobao.complaints_engine.rings import show_ring

    ring = show_ring(workspace_from(ctx), ring_id)
    if json_out:
        print_json(ring)
        return
    console.print(f"[bold]{ring['ring']}[/bold] {ring['status']}: {ring['n_complaints']} complaints from "
                  f"{ring['n_customers']} customers" + (f", agent S-{ring['subject_id']}" if ring["subject_id"] else ""))
    for a in ring["evidence"].get("artifacts", [])[:10]:
        console.print(f"  {a['kind']} {a['shown']}: {a['complaints']} complaints, {a['customers']} customers",
                      markup=False, highlight=False)
    for t in ring["evidence"].get("templates", [])[:5]:
        console.print(f"  template {t['template']}: {t['complaints']} complaints", markup=False, highlight=False)
    console.print(f"  edges: {json.dumps(ring['evidence'].get('edge_kinds', {}))}", markup=False, highlight=False)
    emit(ring["members"], False, ["complaint_id", "customer_id", "received_at", "channel", "risk_tier", "text"],
         title="members")


@rings_app.command("promote")
def rings_promote(ctx: typer.Context, ring_id: str, name: str = typer.Option(..., "--name"),
                  note: Optional[str] = typer.Option(None, "--note"),
                  json_out: bool = typer.Option(False, "--json")) -> None:
    """Make a ring a known agent: its letters, voices, faces, artifacts and templates join the watchlist.

    Example: xiaobao rings promote R-3 --name '深圳正信法务'
    """
    from xiaobao.complaints_engine.rings import promote

    out = promote(workspace_from(ctx), ring_id, name, note=note, command=command_line())
    if json_out:
        print_json(out)
        return
    typer.echo(f"ring {out['ring']} is now agent S-{out['subject_id']} ({out['name']}): "
               + ", ".join(f"{v} {k}" for k, v in out["enrolled"].items()))
    for s in out["skipped"][:10]:
        err_console.print(f"skipped {s}", markup=False, highlight=False)


# ---------------------------------------------------------------- synth
@synth_app.command("complaints")
def synth_complaints_command(out: Path = typer.Argument(..., help="output .jsonl, .csv or .xlsx"),
                             n: int = typer.Option(1000, "--n", help="number of complaints"),
                             rings: int = typer.Option(10, "--rings", help="planted proxy rings"),
                             seed: int = typer.Option(0, "--seed"),
                             ring_share: float = typer.Option(0.15, "--ring-share",
                                                              help="share of complaints filed by rings"),
                             voices: bool = typer.Option(False, "--voices",
                                                         help="also write call recordings (needs espeak-ng)"),
                             json_out: bool = typer.Option(False, "--json")) -> None:
    """Synthetic Chinese complaints with planted rings; truth in OUT.truth.json.

    Example: xiaobao synth complaints --n 5000 --rings 20 --seed 7 day.csv
    """
    from xiaobao.complaints_engine.synth import synth_complaints

    summary = synth_complaints(out, n=n, rings=rings, seed=seed, ring_share=ring_share, voices=voices)
    if json_out:
        print_json(summary)
    else:
        typer.echo(f"wrote {summary['complaints']} complaints ({summary['ring_complaints']} from "
                   f"{summary['rings']} rings, {summary['voice_clips']} call recordings) to {summary['out']}; "
                   f"truth in {summary['truth']}")
