"""Evidence pack (监管举证) for one case: a self-contained HTML or Markdown document.

Contents: the complaint; its timeline (received, screened, routed, case actions, pauses,
extensions, SLA events, reply); the screening reasons and every match with score, decision,
the subject and the enrolled sample it hit (sample id, space, source, sha256, quality),
face crops (embedded as data URIs, so the file stands alone) and time ranges where the
match evidence has them; the validity verdict with its grounds; the deadlines; and the
customer's complaint history. Templates are in ``templates/`` (jinja2, autoescaped).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import mimetypes
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from xiaobao.errors import UserError
from xiaobao.complaints_engine import records
from xiaobao.complaints_engine.handling_tables import ensure_handling_tables, iso, now_local
from xiaobao.complaints_engine.routing import latest_route
from xiaobao.complaints_engine.validity import VERDICT_LABELS, check_validity, latest_validity

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("html", "md")
CROP_KEYS = ("face_crop", "crop", "crop_path", "face_crops", "crops")
MAX_CROP_BYTES = 2_000_000
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: "" if v is None else f"{float(v):.3f}"
    env.filters["seconds"] = _fmt_seconds
    env.filters["verdict_label"] = lambda v: VERDICT_LABELS.get(v, "")
    env.filters["dash"] = lambda v: "—" if v is None or v == "" else v
    env.filters["md"] = lambda v: "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")
    return env


def _fmt_seconds(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    m, s = divmod(v, 60)
    return f"{int(m):02d}:{s:05.2f}"


def _time_ranges(ev: dict) -> list[tuple]:
    out = []
    # a face-evidence manifest: crops with the time of their frame
    for item in ev.get("crops") or []:
        if isinstance(item, dict) and isinstance(item.get("time_s"), (int, float)):
            out.append((item["time_s"], item["time_s"]))
    for key in ("time_range", "time_ranges", "segments", "ranges"):
        val = ev.get(key)
        if isinstance(val, (list, tuple)) and len(val) == 2 and all(isinstance(x, (int, float)) for x in val):
            out.append(tuple(val))
        elif isinstance(val, (list, tuple)):
            for item in val:
                if isinstance(item, dict) and "start" in item and "end" in item:
                    out.append((item["start"], item["end"]))
                elif isinstance(item, (list, tuple)) and len(item) == 2:
                    out.append(tuple(item))
    if "start" in ev and "end" in ev:
        out.append((ev["start"], ev["end"]))
    return out


def _crops(ev: dict, base: Path | None) -> list[dict]:
    paths = []
    for key in CROP_KEYS:
        val = ev.get(key)
        if isinstance(val, str):
            paths.append(val)
        elif isinstance(val, list):
            paths += [v if isinstance(v, str) else ((v or {}).get("path") or (v or {}).get("crop")) for v in val]
    # relative crop names are relative to the evidence folder when the evidence names one
    folder = ev.get("dir") or ev.get("evidence_dir")
    if folder:
        base = Path(folder)
    out = []
    for p in filter(None, paths):
        path = Path(p)
        if not path.is_absolute() and base is not None:
            path = base / path
        entry = {"path": p, "data_uri": None, "problem": None}
        if str(p).startswith("data:image/"):
            entry["data_uri"] = p
            entry["path"] = "(embedded)"
        elif not path.is_file():
            entry["problem"] = "file not found"
        elif path.stat().st_size > MAX_CROP_BYTES:
            entry["problem"] = "too large to embed"
        else:
            mime = mimetypes.guess_type(path.name)[0] or "image/jpeg"
            if not mime.startswith("image/"):
                entry["problem"] = f"not an image ({mime})"
            else:
                entry["data_uri"] = f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        out.append(entry)
    return out


def _local(at):
    """An ISO time as Asia/Shanghai wall-clock time without offset, the way case times are stored.

    Ingest, screening and ring discovery stamp UTC with an offset, routing and case actions the
    local clock: shown side by side unconverted, a pack would put a complaint's routing eight
    hours after the screening that preceded it by seconds.
    """
    if not at or not isinstance(at, str):
        return at
    try:
        t = dt.datetime.fromisoformat(at)
    except ValueError:
        return at
    if t.tzinfo is None:
        return at
    return iso(t.astimezone(SHANGHAI).replace(tzinfo=None))


def _subject(ws, sid):
    if sid is None:
        return None
    rows = list(ws.db.query("SELECT id, name, kind, note FROM subjects WHERE id = ?", [sid]))
    return dict(rows[0]) if rows else None


def _sample(ws, sample_id):
    if sample_id is None:
        return None
    rows = list(ws.db.query("SELECT id, subject_id, space, source_uri, sha256, quality, meta, created_at"
                            " FROM samples WHERE id = ?", [sample_id]))
    if not rows:
        return {"id": sample_id, "missing": True}
    r = dict(rows[0])
    if isinstance(r.get("meta"), str) and r["meta"]:
        try:
            r["meta"] = json.loads(r["meta"])
        except ValueError:
            pass
    return r


def pack_data(ws, complaint_id: str, now=None) -> dict:
    """Everything the evidence pack shows, as plain data (also what ``--format json`` would be)."""
    from xiaobao.complaints_engine.cases import supervision
    from xiaobao.complaints_engine.sla import sla_events

    ensure_handling_tables(ws)
    c = records.get_complaint(ws, complaint_id)
    base = Path(c["source_file"]).parent if c.get("source_file") else None
    tags = [dict(r) for r in ws.db.query("SELECT tag, source, created_at FROM complaint_tags WHERE complaint_id = ?"
                                         " ORDER BY created_at, tag", [complaint_id])] \
        if ws.db["complaint_tags"].exists() else []
    matches = []
    for m in records.matches_by_complaint(ws, {complaint_id}).get(complaint_id, []):
        ev = m.get("evidence") if isinstance(m.get("evidence"), dict) else {}
        matches.append({**m, "subject": _subject(ws, m.get("subject_id")), "sample": _sample(ws, m.get("sample_id")),
                        "time_ranges": _time_ranges(ev), "crops": _crops(ev, base),
                        "evidence_json": json.dumps(ev, ensure_ascii=False, sort_keys=True, default=str)})
    route = latest_route(ws, complaint_id)
    validity = latest_validity(ws, complaint_id)
    validity_note = None
    if validity is None:
        validity = check_validity(ws, complaint_id, store=False)
        validity_note = "computed when this pack was generated (no stored check)"
    has_case = bool(list(ws.db.query("SELECT 1 FROM cases WHERE complaint_id = ?", [complaint_id])))
    view = supervision(ws, complaint_id, now) if has_case else None
    timeline = [{"at": c.get("received_at"), "what": "received", "detail": f"channel {c.get('channel')}"}]
    if c.get("ingested_at"):
        timeline.append({"at": c["ingested_at"], "what": "ingested", "detail": c.get("source_file") or ""})
    if c.get("screened_at"):
        timeline.append({"at": c["screened_at"], "what": "screened",
                         "detail": f"risk {c.get('risk_tier') or ''} {c.get('risk_score') if c.get('risk_score') is not None else ''}"})
    for r in ws.db.query("SELECT * FROM routes WHERE complaint_id = ? ORDER BY id", [complaint_id]):
        timeline.append({"at": r["routed_at"], "what": "routed",
                         "detail": f"queue {r['queue']} / {r['team'] or ''} {r['priority'] or ''} by rule {r['rule']}"})
    if view:
        for a in view["actions"]:
            timeline.append({"at": a["at"], "what": f"action: {a['action']}",
                             "detail": " ".join(x for x in (a.get("actor") and f"by {a['actor']}", a.get("note"),
                                                             a.get("due_at") and f"due {a['due_at']}") if x)})
        for e in sla_events(ws, complaint_id):
            if e["kind"] == "opened":
                continue
            d = e.get("detail") or {}
            bits = [f"target {e['target']}" if e.get("target") else "", f"due {e['due_at']}" if e.get("due_at") else "",
                    f"level {e['level']}" if e.get("level") else "", f"approver {e['approver']}" if e.get("approver") else "",
                    f"to {d['to']}" if d.get("to") else "", d.get("reason") or ""]
            timeline.append({"at": e["at"], "what": f"SLA: {e['kind']}", "detail": " ".join(b for b in bits if b)})
    for t in timeline:
        t["at"] = _local(t["at"])
    timeline.sort(key=lambda t: (t["at"] or ""))
    history = []
    if c.get("customer_id"):
        for other in records.complaints(ws, where="customer_id = ? AND id != ?", params=(c["customer_id"], complaint_id)):
            v = latest_validity(ws, other["id"])
            rt = latest_route(ws, other["id"])
            history.append({"id": other["id"], "received_at": other.get("received_at"), "channel": other.get("channel"),
                            "category": other.get("category") or (rt or {}).get("category"),
                            "status": other.get("status") or "open", "verdict": (v or {}).get("verdict"),
                            "summary": (other.get("text") or "")[:80]})
    reasons = c.get("reasons") if isinstance(c.get("reasons"), list) else []
    rings = []
    if ws.db["rings"].exists():
        for rid in c.get("rings") or []:
            rows = list(ws.db.query("SELECT id, status, n_complaints, n_customers, first_seen_at FROM rings WHERE id = ?",
                                    [rid]))
            if rows:
                ring = dict(rows[0])
                ring["first_seen_at"] = _local(ring.get("first_seen_at"))
                rings.append(ring)
    return {"complaint": c, "tags": tags, "rings": rings, "reasons": reasons, "matches": matches, "route": route,
            "validity": validity, "validity_note": validity_note, "supervision": view, "timeline": timeline,
            "history": history, "generated_at": iso(now_local())}


def _safe_name(complaint_id: str) -> str:
    return re.sub(r"[^\w.-]+", "_", complaint_id, flags=re.ASCII).strip("._") or "case"


def render(data: dict, fmt: str = "html") -> str:
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return _env().get_template(f"evidence.{fmt}.j2").render(**data)


def write_evidence_pack(ws, complaint_id: str, out_dir, fmt: str = "html", now=None, command: str | None = None) -> Path:
    """Write ``evidence-<case>.<html|md>`` into ``out_dir`` and return its path."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    data = pack_data(ws, complaint_id, now)
    text = render(data, fmt)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"evidence-{_safe_name(complaint_id)}.{fmt}"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    ws.log_event("evidence.pack", ids=[complaint_id], command=command,
                 detail={"path": str(path), "format": fmt, "matches": len(data["matches"]),
                         "verdict": data["validity"]["verdict"]})
    return path
