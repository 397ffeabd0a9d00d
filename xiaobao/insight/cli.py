"""Command line of the insight package: interactions, quality, voice of customer, risk, synth.

Each command is a thin call of one library function (see the modules named in each docstring).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from xiaobao.cli_support import console, emit, err_console, finish_batch, print_json, workspace_from

interactions_app = typer.Typer(help="Interaction records: calls, chats, app messages, collection logs.\n\n"
                                    "Example: xiaobao interactions ingest calls_2026-03.csv",
                               no_args_is_help=True)
quality_app = typer.Typer(help="Service-quality inspection of interactions against YAML rules.\n\n"
                               "Example: xiaobao quality run --from 2026-03-01 --to 2026-03-31", no_args_is_help=True)
risk_app = typer.Typer(help="Complaint-risk prediction: train, score, list.", no_args_is_help=True)


@interactions_app.command("ingest")
def interactions_ingest(ctx: typer.Context, file: Path = typer.Argument(..., help=".csv, .tsv or .jsonl"),
                        errors: Optional[Path] = typer.Option(None, "--errors", help="write every bad row here (CSV)"),
                        strict: bool = typer.Option(False, "--strict", help="Exit 1 if any row was bad."),
                        json_out: bool = typer.Option(False, "--json")) -> None:
    """Load interaction records; bad rows are reported with their line and skipped; re-ingest adds nothing twice.

    Exit 0 when some rows loaded, 2 when none could be loaded, 1 with --strict when any row was bad.

    Example: xiaobao interactions ingest calls_2026-03.csv
    """
    from xiaobao.insight.ingest import ingest_interactions
    ws = workspace_from(ctx)
    report = ingest_interactions(ws, file)
    if errors:
        with open(errors, "w", encoding="utf-8") as fh:
            fh.write("line,reason\n")
            for b in report.bad:
                fh.write(f"{b['line']},\"{b['reason'].replace(chr(34), chr(39))}\"\n")
    if json_out:
        print_json(report.to_dict())
    else:
        for b in report.bad[:20]:
            err_console.print(f"{file}:{b['line']}: {b['reason']}", markup=False, highlight=False)
        if report.bad_count > 20:
            err_console.print(f"... and {report.bad_count - 20} more bad rows" + (f" (see {errors})" if errors else ""))
        typer.echo(f"{report.rows} rows: {report.added} added, {report.duplicates} already stored, "
                   f"{report.bad_count} bad")
    finish_batch(report.rows, [f"{file}:{b['line']}: {b['reason']}" for b in report.bad], "rows",
                 strict=strict, failed_count=report.bad_count)


@quality_app.command("run")
def quality_run(ctx: typer.Context, rules: Optional[Path] = typer.Option(None, "--rules", help="rule YAML (default: shipped set)"),
                date_from: Optional[str] = typer.Option(None, "--from", help="first day, YYYY-MM-DD"),
                date_to: Optional[str] = typer.Option(None, "--to", help="last day, YYYY-MM-DD (inclusive)"),
                semantic_model: Optional[Path] = typer.Option(
                    None, "--semantic-model", help="sentence-transformers folder for rules with `semantic:`"),
                json_out: bool = typer.Option(False, "--json")) -> None:
    """Inspect stored interactions; findings replace an earlier run's over the same range.

    Example: xiaobao quality run --from 2026-03-01 --to 2026-03-31
    """
    from xiaobao.insight.quality import run_quality
    report = run_quality(workspace_from(ctx), rules, date_from, date_to,
                         semantic_model=str(semantic_model) if semantic_model else None)
    if json_out:
        print_json(report.to_dict())
        return
    typer.echo(f"run {report.run_id}: {report.interactions} interactions, {report.findings} findings "
               f"in {report.seconds:.1f} s ({report.per_second:,.0f}/s)")
    emit([{"rule": k, "findings": v} for k, v in sorted(report.by_rule.items())], False, title="findings per rule")


@quality_app.command("report")
def quality_report_command(ctx: typer.Context, by: str = typer.Option("agent", "--by", help="agent | team | period"),
                           period: str = typer.Option("month", "--period", help="day | week | month | year"),
                           date_from: Optional[str] = typer.Option(None, "--from"),
                           date_to: Optional[str] = typer.Option(None, "--to"),
                           limit: int = typer.Option(30, "--limit", help="rows shown (worst first)"),
                           json_out: bool = typer.Option(False, "--json")) -> None:
    """Scores (0-100) and findings per agent, team or period, worst first.

    Example: xiaobao quality report --by team --from 2026-03-01 --to 2026-03-31
    """
    from xiaobao.insight.quality import quality_report
    rows = quality_report(workspace_from(ctx), by, period, date_from, date_to)
    if not json_out:
        rows = [{**r, "by_category": " ".join(f"{c}:{n}" for c, n in sorted(r["by_category"].items(), key=lambda x: -x[1]))}
                for r in rows[:limit]]
    emit(rows, json_out, [by, "interactions", "flagged", "findings", "score", "by_category"], title=f"quality by {by}")


@quality_app.command("findings")
def quality_findings(ctx: typer.Context, agent: Optional[str] = typer.Option(None, "--agent"),
                     rule: Optional[str] = typer.Option(None, "--rule"),
                     date_from: Optional[str] = typer.Option(None, "--from"),
                     date_to: Optional[str] = typer.Option(None, "--to"),
                     limit: int = typer.Option(50, "--limit"), json_out: bool = typer.Option(False, "--json")) -> None:
    """Findings with the quoted passage and when it was said.

    Example: xiaobao quality findings --agent A0012 --rule threat
    """
    from xiaobao.insight.quality import list_findings
    rows = list_findings(workspace_from(ctx), agent=agent, rule=rule, date_from=date_from, date_to=date_to, limit=limit)
    emit(rows, json_out, ["quote_time", "agent_id", "rule", "method", "quote"], title="findings")


def voice_of_customer_command(ctx: typer.Context, date_from: Optional[str] = typer.Option(None, "--from"),
                              date_to: Optional[str] = typer.Option(None, "--to"),
                              labels: Optional[Path] = typer.Option(None, "--labels",
                                                                    help="labelled examples CSV: text + demand/willingness/reason"),
                              period: str = typer.Option("month", "--period", help="day | month | year"),
                              by: str = typer.Option("period,channel,product", "--by"),
                              json_out: bool = typer.Option(False, "--json")) -> None:
    """Demand (诉求), willingness to repay and dissatisfaction reason of interactions and complaints, per period,
    channel and product.

    Example: xiaobao voice-of-customer --from 2026-03-01 --to 2026-03-31 --labels voc_labels.csv
    """
    from xiaobao.insight.voc import distribution_rows, voice_of_customer
    dims = tuple(d.strip() for d in by.split(",") if d.strip())
    bad = [d for d in dims if d not in ("period", "channel", "product")]
    if bad:
        from xiaobao.errors import UserError
        raise UserError(f"--by takes period, channel, product; not {', '.join(bad)}")
    result = voice_of_customer(workspace_from(ctx), date_from, date_to, labels=labels, period=period, dims=dims)
    if json_out:
        print_json(result)
        return
    typer.echo(f"{result['interactions']} interactions, {result['complaints']} complaints")
    for name, c in result["method"]["classifiers"].items():
        typer.echo(f"{name}: classifier on {c['examples']} examples, cross-validated accuracy {c['cv_accuracy']:.3f} "
                   f"(lexicon on the same examples: {c['lexicon_accuracy']:.3f})")
    emit(distribution_rows(result), False, ["field", "by", "source", "group", "label", "count", "share"],
         title="voice of customer")


@risk_app.command("train")
def risk_train(ctx: typer.Context, labels: Optional[Path] = typer.Option(None, "--labels",
                                                                         help="CSV customer_id, complained_at (default: regulator complaints in the workspace)"),
               horizon: int = typer.Option(30, "--horizon", help="label: complaint within N days after the cut-off"),
               window: int = typer.Option(30, "--window", help="days of history per snapshot"),
               test_from: Optional[str] = typer.Option(None, "--test-from", help="held-out cut-off day (default: last day - horizon)"),
               k: int = typer.Option(100, "--k", help="also report precision at k"),
               model: Optional[Path] = typer.Option(None, "--model", help="model file to write (default: in the workspace)"),
               json_out: bool = typer.Option(False, "--json")) -> None:
    """Train the complaint-risk model with a time split; print precision at the top decile and at k.

    Example: xiaobao risk train --labels complaints_labels.csv --horizon 30
    """
    from xiaobao.insight.risk_model import train_risk_model
    m = train_risk_model(workspace_from(ctx), labels, horizon=horizon, window=window, test_cutoff=test_from,
                         top_k=k, out=model)
    meta = m.meta
    skipped = meta["labels_skipped"]
    for b in skipped["rows"][:20]:
        err_console.print(f"{meta['labels']}:{b['line']}: {b['reason']}", markup=False, highlight=False)
    if skipped["count"] > 20:
        err_console.print(f"... and {skipped['count'] - 20} more bad label rows", markup=False, highlight=False)
    if skipped["count"]:
        err_console.print(f"{skipped['count']} label rows skipped; trained on the rest", markup=False, highlight=False)
    if json_out:
        print_json({k_: meta[k_] for k_ in ("path", "training", "metrics", "tiers", "features", "labels_skipped")})
        return
    h = meta["metrics"]["held_out"]
    typer.echo(f"model: {meta['path']}")
    typer.echo(f"trained on cut-offs {meta['training']['cutoffs'][0]} .. {meta['training']['cutoffs'][-1]} "
               f"({meta['training']['customers']} customer snapshots, {meta['training']['complainers']} complainers)")
    typer.echo(f"held out: {h['period'][0]} .. {h['period'][1]}, {h['customers']} customers, "
               f"{h['complainers']} complainers (base rate {h['base_rate']:.3f})")
    emit([{"ranking": name, **vals} for name, vals in meta["metrics"].items() if name != "held_out"], False,
         title="held-out precision")


@risk_app.command("score")
def risk_score(ctx: typer.Context, model: Optional[Path] = typer.Option(None, "--model"),
               as_of: Optional[str] = typer.Option(None, "--as-of", help="cut-off day (default: day after the last interaction)"),
               labels: Optional[Path] = typer.Option(None, "--labels", help="earlier complaints, as in training"),
               json_out: bool = typer.Option(False, "--json")) -> None:
    """Score active customers; write tiers and the 高投诉风险 customer tag that prevention reads.

    Example: xiaobao risk score --as-of 2026-05-01
    """
    from xiaobao.insight.risk_model import score_customers
    result = score_customers(workspace_from(ctx), model, as_of, labels)
    if json_out:
        print_json(result)
        return
    t = result["tiers"]
    typer.echo(f"as of {result['as_of']}: {result['customers']} customers scored — high {t['high']}, "
               f"medium {t['medium']}, low {t['low']}; tag {result['tag']}: +{result['tag_added']} "
               f"-{result['tag_removed']}")


@risk_app.command("list")
def risk_list_command(ctx: typer.Context, tier: Optional[str] = typer.Option(None, "--tier", help="high | medium | low"),
                      limit: int = typer.Option(50, "--limit"), json_out: bool = typer.Option(False, "--json")) -> None:
    """Scored customers, highest risk first. Example: xiaobao risk list --tier high"""
    from xiaobao.insight.risk_model import risk_list
    emit(risk_list(workspace_from(ctx), tier, limit), json_out, title="complaint risk")


def synth_interactions_command(out: Path = typer.Argument(..., help="output .csv or .jsonl"),
                               n: int = typer.Option(20000, "--n", help="number of interactions"),
                               days: int = typer.Option(120, "--days"),
                               start: str = typer.Option("2026-01-01", "--start"),
                               seed: int = typer.Option(7, "--seed"),
                               json_out: bool = typer.Option(False, "--json")) -> None:
    """Synthetic interactions with planted misconduct and pre-complaint trajectories (+ labels and truth files).

    Example: xiaobao synth interactions demo/calls.csv --n 50000
    """
    from xiaobao.errors import UserError
    from xiaobao.insight.synth import SynthParams, synth_interactions
    if n < 1 or days < 30:
        raise UserError("--n must be 1 or more and --days 30 or more")
    try:
        from datetime import date
        date.fromisoformat(start)
    except ValueError:
        raise UserError(f"--start {start!r} is not a date like 2026-01-01") from None
    r = synth_interactions(out, SynthParams(n_interactions=n, days=days, start=start, seed=seed))
    if json_out:
        print_json(r.to_dict())
        return
    typer.echo(f"{r.n_interactions} interactions of {r.n_customers} customers and {r.n_agents} agents -> {r.interactions}")
    typer.echo(f"labels ({r.n_complaints} complaints) -> {r.labels}; planted truth -> {r.truth}")
