"""Reports: metrics over any period and grouping, periodic reports, the dashboard, alerts, e-mail.

Everything here reads the registry (complaints, tags, rings, cases, SLA events) and never
changes it, except alerts, which record what they fired so they do not fire twice.

Public API::

    from xiaobao.reports import metrics, build_report, write_report, write_dashboard, run_alerts, send_report
    metrics(ws, by=["channel", "merchant"], start="2026-10-01", end="2026-10-31")   # list of dict rows
    report = build_report(ws, "monthly", date="2026-10-15")    # numbers of one period, actions first
    write_report(report, "out/")                               # HTML (charts inline), Markdown, JSON
    write_dashboard(ws, "dash.html")                           # one self-contained page
    run_alerts(ws, "alerts.yaml", as_of="2026-10-31")          # new alerts, stored as events, once each
    send_report(paths, to=["boss@example.com"], smtp=SmtpConfig.from_env())
"""
from xiaobao.reports.alerts import run_alerts
from xiaobao.reports.delivery import SmtpConfig, send_report
from xiaobao.reports.metrics import DIMENSIONS, metrics
from xiaobao.reports.periodic import build_report
from xiaobao.reports.render import write_dashboard, write_report

__all__ = ["DIMENSIONS", "SmtpConfig", "build_report", "metrics", "run_alerts", "send_report",
           "write_dashboard", "write_report"]
