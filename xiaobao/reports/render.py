"""Writing reports: self-contained HTML (plotly.js and the chart data inline), Markdown and JSON
of the same numbers, and the dashboard page."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jinja2
from markupsafe import Markup

from xiaobao.errors import UserError
from xiaobao.reports import charts
from xiaobao.reports.periodic import build_report, latest_day
from xiaobao.reports.periods import Period, between, parse_date

TEMPLATES = Path(__file__).resolve().parent / "templates"
DASHBOARD_DAYS = 90


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"]),
                              trim_blocks=False, lstrip_blocks=False)


def title_of(report: dict) -> str:
    return f"Consumer protection {report['kind']} report {report['period']['label']}"


def render_html(report: dict, title: str | None = None, dashboard: bool = False) -> str:
    specs = charts.report_charts(report, dashboard=dashboard)
    return _env().get_template("report.html.j2").render(
        r=report, title=title or title_of(report), charts=list(specs),
        specs=Markup(charts.as_script_json(specs)), plotly_js=Markup(charts.plotly_js()))


def render_markdown(report: dict, title: str | None = None) -> str:
    return _env().get_template("report.md.j2").render(r=report, title=title or title_of(report))


def _out_dir(out) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the report")
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_report(report: dict, out) -> dict[str, Path]:
    """``<kind>-<start>.html`` / ``.md`` / ``.json`` in folder ``out``; returns the paths."""
    out = _out_dir(out)
    stem = f"{report['kind']}-{report['period']['start']}"
    paths = {"html": out / f"{stem}.html", "md": out / f"{stem}.md", "json": out / f"{stem}.json"}
    paths["html"].write_text(render_html(report), encoding="utf-8")
    paths["md"].write_text(render_markdown(report), encoding="utf-8")
    paths["json"].write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return paths


def dashboard_period(ws, start=None, end=None, days: int = DASHBOARD_DAYS) -> Period:
    """Default window: the ``days`` days up to the newest complaint."""
    last = parse_date(end, "--to") if end else latest_day(ws)
    first = parse_date(start, "--from") if start else last - dt.timedelta(days=days - 1)
    return between(first, last)


def write_dashboard(ws, out, start=None, end=None, as_of=None) -> Path:
    """One self-contained page: trends, breakdowns by channel / merchant / level, rings, deadline board."""
    out = Path(out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give the dashboard's file name (e.g. dashboard.html)")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = build_report(ws, "dashboard", period=dashboard_period(ws, start, end), as_of=as_of)
    html = render_html(report, title=f"Consumer protection dashboard {report['period']['label']}", dashboard=True)
    out.write_text(html, encoding="utf-8")
    return out
