"""Chart specifications (plotly.js figure JSON) built from report numbers, and the plotly.js
bundle itself, inlined so a report opens offline."""
from __future__ import annotations

import json
from functools import lru_cache

COLORS = {"on_time": "#2e7d32", "extended": "#f9a825", "breached": "#c62828", "pending": "#90a4ae"}
_LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 80}, "height": 320,
           "font": {"family": "Noto Sans CJK SC, WenQuanYi Zen Hei, sans-serif", "size": 12},
           "legend": {"orientation": "h", "y": -0.25}}


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped in the ``plotly`` package (no CDN)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _layout(title: str, **extra) -> dict:
    return {**_LAYOUT, "title": {"text": title, "x": 0}, **extra}


def trend(report: dict) -> dict:
    days = [r["day"] for r in report["trend"]]
    return {"data": [
        {"type": "scatter", "mode": "lines+markers", "name": "complaints", "x": days,
         "y": [r["complaints"] for r in report["trend"]]},
        {"type": "scatter", "mode": "lines+markers", "name": "proxy-suspected", "x": days,
         "y": [r["proxy_suspected"] for r in report["trend"]]},
        {"type": "scatter", "mode": "lines", "name": "breached", "x": days,
         "y": [r["breached"] for r in report["trend"]], "line": {"color": COLORS["breached"]}},
    ], "layout": _layout("Complaints per day", xaxis={"type": "date"})}


def breakdown(report: dict, dim: str, title: str) -> dict:
    rows = report["breakdowns"][dim]
    labels = [str(r[dim]) for r in rows]
    return {"data": [
        {"type": "bar", "name": "complaints", "x": labels, "y": [r["complaints"] for r in rows]},
        {"type": "bar", "name": "previous period", "x": labels, "y": [r["previous"] for r in rows],
         "marker": {"color": "#b0bec5"}},
        {"type": "bar", "name": "proxy-suspected", "x": labels, "y": [r["proxy_suspected"] for r in rows]},
    ], "layout": _layout(title, barmode="group")}


def compliance(report: dict) -> dict:
    rows = [r for r in report["compliance_by_channel"] if r["complaints"]][:15]
    labels = [str(r["channel"]) for r in rows]
    return {"data": [{"type": "bar", "name": k.replace("_", " "), "x": labels, "y": [r[k] for r in rows],
                      "marker": {"color": c}} for k, c in COLORS.items()],
            "layout": _layout("Deadline compliance by channel", barmode="stack")}


def report_charts(report: dict, dashboard: bool = False) -> dict[str, dict]:
    charts = {"trend": trend(report), "by_channel": breakdown(report, "channel", "By channel"),
              "by_merchant": breakdown(report, "merchant", "By merchant"),
              "by_level": breakdown(report, "level", "By level"), "compliance": compliance(report)}
    if dashboard:
        charts["by_business_line"] = breakdown(report, "business_line", "By business line")
    return charts


def as_script_json(value) -> str:
    """JSON safe to place inside a <script> element."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("</", "<\\/")
