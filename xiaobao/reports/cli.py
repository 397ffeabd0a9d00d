"""Commands: `xiaobao metrics`, `xiaobao report daily|weekly|monthly|dashboard`, `xiaobao alerts run|list`."""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import List, Optional

import typer

from xiaobao.cli_support import command_line, emit, print_json, workspace_from
from xiaobao.errors import UserError
from xiaobao.reports.alerts import list_alerts, run_alerts
from xiaobao.reports.delivery import SmtpConfig, send_report
from xiaobao.reports.metrics import DIMENSIONS, METRIC_COLUMNS, metrics, parse_by
from xiaobao.reports.periodic import build_report
from xiaobao.reports.render import write_dashboard, write_report

report_app = typer.Typer(help="Daily, weekly and monthly reports and the dashboard (self-contained HTML).",
                         no_args_is_help=True)
alerts_app = typer.Typer(help="Threshold alerts from a YAML file, stored once each as events.", no_args_is_help=True)


def metrics_command(ctx: typer.Context,
                    by: str = typer.Option("", "--by", help=f"comma-separated: {', '.join(DIMENSIONS)}"),
                    from_: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
                    to: str = typer.Option(..., "--to", help="last day, YYYY-MM-DD (inclusive)"),
                    json_out: bool = typer.Option(False, "--json"), csv_out: bool = typer.Option(False, "--csv")) -> None:
    """Counts, proxy share, rings, deadline compliance, handling time, repeat and 越级 complaints per group,
    with the change against the period before. Example: xiaobao metrics --by channel,merchant --from 2026-10-01 --to 2026-10-31"""
    dims = parse_by(by)
    rows = metrics(workspace_from(ctx), by=dims, start=from_, end=to)
    if csv_out:
        w = csv.DictWriter(sys.stdout, fieldnames=[*dims, *METRIC_COLUMNS])
        w.writeheader()
        w.writerows(rows)
        return
    emit(rows, json_out, [*dims, "complaints", "previous", "change_pct", "proxy_suspected", "rings_active", "on_time",
                          "extended", "breached", "pending", "median_handling_hours", "repeat", "escalated"],
         title="metrics")


def _deliver(paths, send: bool, to: list[str], host, port, tls, sender, cafile) -> Optional[dict]:
    if not send:
        return None
    return send_report(paths, to, SmtpConfig.from_env(host=host, port=port, tls=tls, sender=sender, cafile=cafile))


def _periodic(kind: str):
    def command(ctx: typer.Context,
                date: Optional[str] = typer.Option(None, "--date", help="a day inside the period (default: newest complaint's day)"),
                out: Path = typer.Option(..., "--out", help="folder for the .html, .md and .json"),
                as_of: Optional[str] = typer.Option(None, "--as-of", help="judge deadlines at this moment"),
                send: bool = typer.Option(False, "--send", help="e-mail the report (SMTP; see --smtp-*)"),
                to: List[str] = typer.Option([], "--to", help="recipient (repeat for more)"),
                smtp_host: Optional[str] = typer.Option(None, "--smtp-host", envvar="XIAOBAO_SMTP_HOST"),
                smtp_port: Optional[int] = typer.Option(None, "--smtp-port", envvar="XIAOBAO_SMTP_PORT"),
                smtp_tls: Optional[str] = typer.Option(None, "--smtp-tls", help="starttls | ssl | none"),
                sender: Optional[str] = typer.Option(None, "--from-address", help="sender address"),
                smtp_cafile: Optional[Path] = typer.Option(None, "--smtp-cafile", help="CA certificate(s) to trust (PEM)"),
                json_out: bool = typer.Option(False, "--json")) -> None:
        ws = workspace_from(ctx)
        report = build_report(ws, kind, date=date, as_of=as_of)
        paths = write_report(report, out)
        sent = _deliver(paths, send, to, smtp_host, smtp_port, smtp_tls, sender, smtp_cafile)
        result = {"files": {k: str(v) for k, v in paths.items()}, "period": report["period"],
                  "complaints": report["totals"]["complaints"], "sent": sent}
        if json_out:
            print_json(result)
        else:
            for p in paths.values():
                typer.echo(p)
            if sent:
                typer.echo(f"sent to {', '.join(sent['to'])} via {sent['smtp']}")
    command.__doc__ = (f"Write the {kind} report (HTML with charts, Markdown, JSON); actions first. "
                       f"Example: xiaobao report {kind} --date 2026-10-15 --out reports/")
    return command


for _kind in ("daily", "weekly", "monthly"):
    report_app.command(_kind)(_periodic(_kind))


@report_app.command("dashboard")
def dashboard(ctx: typer.Context, out: Path = typer.Option(..., "--out", help="the .html file to write"),
              from_: Optional[str] = typer.Option(None, "--from", help="first day (default: 90 days before --to)"),
              to_day: Optional[str] = typer.Option(None, "--to", help="last day (default: newest complaint's day)"),
              as_of: Optional[str] = typer.Option(None, "--as-of"),
              send: bool = typer.Option(False, "--send", help="e-mail the page as an attachment (SMTP; see --smtp-*)"),
              to: List[str] = typer.Option([], "--to-address", help="recipient (repeat for more)"),
              smtp_host: Optional[str] = typer.Option(None, "--smtp-host", envvar="XIAOBAO_SMTP_HOST"),
              smtp_port: Optional[int] = typer.Option(None, "--smtp-port", envvar="XIAOBAO_SMTP_PORT"),
              smtp_tls: Optional[str] = typer.Option(None, "--smtp-tls", help="starttls | ssl | none"),
              sender: Optional[str] = typer.Option(None, "--from-address", help="sender address"),
              smtp_cafile: Optional[Path] = typer.Option(None, "--smtp-cafile", help="CA certificate(s) to trust (PEM)")) -> None:
    """One self-contained page: trends, breakdowns, rings, deadline board. Example: xiaobao report dashboard --out dash.html
    (--to is the period's last day here, so recipients are given with --to-address)."""
    if send and not [t for t in to if t.strip()]:
        raise UserError("--send needs at least one recipient (--to-address ADDRESS)")
    page = write_dashboard(workspace_from(ctx), out, start=from_, end=to_day, as_of=as_of)
    typer.echo(page)
    if send:
        sent = send_report([page], to, SmtpConfig.from_env(host=smtp_host, port=smtp_port, tls=smtp_tls,
                                                           sender=sender, cafile=smtp_cafile),
                           subject=f"Consumer protection dashboard ({page.name})")
        typer.echo(f"sent to {', '.join(sent['to'])} via {sent['smtp']}")


@alerts_app.command("run")
def alerts_run(ctx: typer.Context, rules: Optional[Path] = typer.Option(None, "--rules", help="alerts YAML (default: the example rules)"),
               as_of: Optional[str] = typer.Option(None, "--as-of", help="evaluate at this moment (default now)"),
               json_out: bool = typer.Option(False, "--json")) -> None:
    """Evaluate the alert rules; print and store only alerts not raised before. Example: xiaobao alerts run --rules alerts.yaml"""
    fired = run_alerts(workspace_from(ctx), rules, as_of=as_of, command=command_line())
    emit(fired, json_out, ["rule", "kind", "message"], title="new alerts")


@alerts_app.command("list")
def alerts_list(ctx: typer.Context, limit: int = typer.Option(100, "--limit"), json_out: bool = typer.Option(False, "--json")) -> None:
    """Alerts raised so far, newest first. Example: xiaobao alerts list"""
    emit(list_alerts(workspace_from(ctx), limit), json_out, title="alerts")
