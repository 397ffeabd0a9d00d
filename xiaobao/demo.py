"""The demo a newcomer runs first: the whole product on data it makes itself.

``run_demo(out)`` builds a fresh workspace in ``out/workspace`` and walks the investigator's day:
a watchlist enrolled (a known agent's earlier letters, their voice when espeak-ng is installed,
a face from a photo shipped in an installed package), a day's complaints ingested and screened,
rings found and scored against the planted truth, the largest ring promoted, every complaint
routed with deadlines, the deadline clock ticked, one evidence pack, a daily report and the
dashboard. It returns a summary dict (also what the tests check).

Re-running into the same ``out`` replaces what an earlier demo wrote there; a folder without the
demo's marker file is never deleted.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from xiaobao.errors import UserError

MARKER = ".xiaobao-demo"
# Parts of ``out`` the demo owns; only these are removed on a re-run.
OWNED = ("workspace", "data", "watchlist", "evidence", "report", "dashboard.html", "summary.json")
AGENT_NAME = "已知代理人-陈某"
EARLIER_LETTERS = 3


def prepare_out(out: Path) -> None:
    """Create ``out`` (or clear an earlier demo in it); refuse a folder the demo did not make."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the demo (e.g. --out demo_out)")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UserError(f"--out {out} is a folder the demo did not create (no {MARKER} file inside); "
                        "give a new or empty folder, e.g. --out demo_out")
    out.mkdir(parents=True, exist_ok=True)
    for name in OWNED:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    (out / MARKER).write_text("Made by `xiaobao demo`; a re-run replaces the demo files in this folder.\n",
                              encoding="utf-8")


def have_speech_synthesiser() -> bool:
    return shutil.which("espeak-ng") is not None


def have_voiceprints() -> bool:
    try:
        import xiaobao.voiceprint  # noqa: F401
    except ImportError:
        return False
    return True


def packaged_face(path: Path, visitor: bool = False) -> Path:
    """Eileen Collins' portrait from scikit-image's bundled astronaut.png, saved as a JPEG;
    ``visitor``: a wider, smaller shot of her (today's visitor at the branch) to look up."""
    import cv2
    from skimage import data
    rgb = data.astronaut()[20:260, 110:340] if not visitor else cv2.resize(data.astronaut()[0:320, 60:400], (255, 240))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise UserError(f"could not write {path}")
    return path


def make_batch(data_dir: Path, n: int, rings: int, seed: int):
    """A day's complaints with planted rings; one ring's first letters are held back as the
    known agent's earlier letters (the watchlist), so the rest of that ring is a watchlist hit."""
    from xiaobao.complaints_engine import synth
    records, truth = synth.generate(n, rings, seed)
    # No call recordings in the batch: espeak-ng's voices are too alike to a speaker model to
    # stand for different ring agents, so voice links would join every ring (voices are shown
    # on the watchlist instead).
    # The known agent: the second-largest ring (the largest is left for the investigator to promote).
    by_size = sorted(range(len(truth["rings"])), key=lambda i: -len(truth["rings"][i]["complaints"]))
    known = truth["rings"][by_size[1]]
    held = set(known["complaints"][:EARLIER_LETTERS])
    earlier = [r for r in records if r["id"] in held]
    records = [r for r in records if r["id"] not in held]
    known["complaints"] = [c for c in known["complaints"] if c not in held]
    data_dir.mkdir(parents=True, exist_ok=True)
    batch = data_dir / "complaints.jsonl"
    synth.write_records(records, batch)
    (data_dir / "complaints.jsonl.truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1),
                                                          encoding="utf-8")
    return batch, truth, known, earlier


AGENT_VOICE = ("cmn+m3", 40, 160)   # espeak-ng voice, pitch, speed of the known agent
AGENT_LINES = ["您好，我是代理人，受客户委托和你们协商还款方案，请你们尽快给出减免利息的答复。",
               "我这边代理了好几位客户，你们如果不停息挂账，我们就继续向监管部门投诉。",
               "你好，我姓陈，是王女士的委托代理人，她的这笔借款利息太高了，我们要求全部退还。"]


def agent_voice_clips(folder: Path) -> list[Path]:
    """The known agent's recorded calls, spoken by espeak-ng: two earlier calls for the
    watchlist and one of today's calls to look up."""
    from xiaobao.complaints_engine import synth
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, line in enumerate(AGENT_LINES):
        p = folder / (f"agent_call_{i + 1}.wav" if i < 2 else "todays_caller.wav")
        synth._speak(line, p, *AGENT_VOICE)
        paths.append(p)
    return paths


def run_demo(out, *, n: int = 1500, rings: int = 8, seed: int = 7, voices: bool | None = None,
             console: Console | None = None) -> dict:
    """Run the whole demo into ``out``; returns the summary (also written to ``out/summary.json``)."""
    import xiaobao
    from xiaobao import Workspace
    from xiaobao.complaints_engine import evidence, routing, sla, store
    from xiaobao.complaints_engine.ring_eval import evaluate_rings
    from xiaobao.complaints_engine.rings import list_rings, promote, show_ring
    from xiaobao.text_fingerprint.service import enroll_letters
    from xiaobao.video import enroll_faces, search_faces

    console = console or Console(stderr=True)
    out = Path(out).resolve()
    started = time.monotonic()
    summary: dict = {"out": str(out), "steps": {}}

    def step(name: str, msg: str):
        console.print(f"[bold cyan]▶[/] {msg}")
        return console.status(f"{msg} …", spinner="dots")

    def done(name: str, msg: str, t0: float, **facts) -> None:
        secs = round(time.monotonic() - t0, 1)
        summary["steps"][name] = {"seconds": secs, **facts}
        console.print(f"  [green]✓[/] {msg} [dim]({secs:.1f} s)[/]")

    prepare_out(out)
    if voices is None:
        voices = have_speech_synthesiser() and have_voiceprints()
    elif voices and not have_speech_synthesiser():
        raise UserError("voices need the espeak-ng speech synthesiser: apt-get install espeak-ng (or make install)")

    t0 = time.monotonic()
    with step("data", f"Generating {n} complaints with {rings} planted rings"):
        batch, truth, known, earlier = make_batch(out / "data", n, rings, seed)
    done("data", f"{batch.relative_to(out)}: {n - len(earlier)} complaints, {len(truth['rings'])} rings planted", t0,
         complaints=n - len(earlier), planted_rings=len(truth["rings"]))

    ws = Workspace(out / "workspace")
    try:
        t0 = time.monotonic()
        with step("watchlist", f"Enrolling the watchlist: {AGENT_NAME}'s earlier letters, voice and face"):
            sid = ws.add_subject(AGENT_NAME, kind="agent", note="demo: a known agent of ring " + known["ring"])
            letters = enroll_letters(ws, sid, [(f"earlier/{r['id']}", r["text"]) for r in earlier])
            voice_rows, lookup = [], None
            if voices:
                from xiaobao.voiceprint import enroll_voice, search_voice
                calls = agent_voice_clips(out / "watchlist" / "voice")
                voice_rows = enroll_voice(ws, sid, calls[:2])
                lookup = search_voice(ws, calls[2])
            face_rows = enroll_faces(ws, sid, [packaged_face(out / "watchlist" / "face" / "agent.jpg")])
        n_letters = sum(r["status"] == "enrolled" for r in letters)
        n_voice = sum(bool(r.get("sample_ids") or r.get("sample_id")) for r in voice_rows)
        n_face = sum(r["status"] == "enrolled" for r in face_rows)
        done("watchlist", f"subject S-{sid}: {n_letters} letters, {n_voice} voice samples, {n_face} face", t0,
             subject_id=sid, letters=n_letters, voice=n_voice, face=n_face)
        visitor = search_faces(ws, packaged_face(out / "watchlist" / "face" / "todays_visitor.jpg", visitor=True))
        face = (visitor.get("faces") or [{}])[0]
        summary["face_lookup"] = {"file": str(out / "watchlist" / "face" / "todays_visitor.jpg"),
                                  "decision": face.get("decision", "none"), "subject": face.get("subject_name"),
                                  "score": face.get("score")}
        console.print(f"  [green]✓[/] today's visitor todays_visitor.jpg: {face.get('decision', 'none')} "
                      f"{face.get('subject_name') or ''} (score {face.get('score') or 0:.2f})")
        if lookup is not None:
            best = (lookup.get("matches") or [{}])[0]
            summary["voice_lookup"] = {"file": str(calls[2]), "decision": lookup.get("decision"),
                                       "subject": best.get("subject"), "score": best.get("score")}
            console.print(f"  [green]✓[/] today's caller {calls[2].name}: {lookup.get('decision')} "
                          f"{best.get('subject', '')} (score {best.get('score', 0):.2f})")

        t0 = time.monotonic()
        with step("ingest", "Ingesting the day's batch"):
            ing = xiaobao.ingest(ws, [batch])
        done("ingest", f"{ing.added} complaints added", t0, added=ing.added)

        t0 = time.monotonic()
        with step("screen", "Screening: watchlist, templates, shared contacts, voices, rings"):
            scr = xiaobao.screen(ws)
        done("screen", f"{scr.screened} screened, tiers {dict(scr.tiers)}, {scr.rings} rings", t0,
             screened=scr.screened, tiers=dict(scr.tiers), rings=scr.rings)

        score = evaluate_rings(ws, truth)
        watch_hits = ws.db.conn.execute(
            "SELECT COUNT(DISTINCT complaint_id) FROM matches WHERE subject_id = ? AND decision = 'match'", (sid,)).fetchone()[0]
        summary["rings"] = {"planted": len(truth["rings"]), "found": score["discovered_rings"],
                            "precision": score["precision"], "recall": score["recall"],
                            "genuine_in_rings": score.get("genuine_in_rings"),
                            "watchlist_hits": watch_hits, "known_ring_size": len(known["complaints"])}

        t0 = time.monotonic()
        found = list_rings(ws)
        if not found:
            raise UserError("screening found no rings in the demo batch; run `xiaobao index verify` and try again")
        largest = max(found, key=lambda r: r["n_complaints"])
        with step("promote", f"Promoting the largest ring {largest['ring']} ({largest['n_complaints']} complaints)"):
            promoted = promote(ws, largest["id"], name="和顺法务(演示)")
        done("promote", f"{largest['ring']} → agent S-{promoted['subject_id']}, enrolled {promoted['enrolled']}", t0,
             ring=largest["ring"], subject_id=promoted["subject_id"], enrolled=promoted["enrolled"])

        t0 = time.monotonic()
        with step("route", "Routing every complaint and opening its deadline clock"):
            routed = routing.route_pending(ws)
        queues: dict[str, int] = {}
        for d in routed.decisions:
            q = d.to_dict().get("queue") or "?"
            queues[q] = queues.get(q, 0) + 1
        done("route", f"{len(routed.decisions)} routed, {routed.cases_opened} cases opened; queues {queues}", t0,
             routed=len(routed.decisions), cases_opened=routed.cases_opened, queues=queues)

        t0 = time.monotonic()
        # The clock is read the morning after the batch's last day, as a team would on the next
        # working day (reading it today would show every generated complaint long overdue).
        import datetime as dt
        last = ws.db.conn.execute("SELECT MAX(received_at) FROM complaints").fetchone()[0]
        clock = (dt.datetime.fromisoformat(last[:19]).date() + dt.timedelta(days=1)).isoformat() + "T09:00:00"
        with step("sla", f"Ticking the deadline clock at {clock}"):
            events = sla.tick(ws, now=clock)
            due = sla.list_due(ws, within="2d", now=clock)
        kinds: dict[str, int] = {}
        for e in events:
            k = getattr(e, "kind", None) or "event"
            kinds[k] = kinds.get(k, 0) + 1
        done("sla", f"{len(events)} deadline events {kinds}; {len(due)} overdue or due within 2 days", t0,
             clock=clock, events=len(events), event_kinds=kinds, due_2d=len(due))

        t0 = time.monotonic()
        member = show_ring(ws, largest["id"])["members"][0]["complaint_id"]
        with step("evidence", f"Writing the evidence pack of complaint {member}"):
            pack = evidence.write_evidence_pack(ws, member, out / "evidence")
        done("evidence", f"{pack.relative_to(out)}", t0, complaint=member, path=str(pack))

        # Prevention: before the next collection call to this ring member's customer, ask first.
        t0 = time.monotonic()
        customer = store.get_complaint(ws, member).get("customer_id")
        if customer:
            from xiaobao.prevention.check import check
            with step("check", f"Checking customer {customer} before a collection call"):
                verdict = check(ws, customer, "collection_call", asked_by="demo")
            done("check", f"{verdict['level']}: {', '.join(verdict['actions']) or '-'}", t0, customer=customer,
                 level=verdict["level"], actions=verdict["actions"], reasons=verdict["reasons"])

        try:
            from xiaobao.reports import build_report, write_dashboard, write_report
        except ImportError:  # reports are an optional part of older installs
            build_report = None
        if build_report is not None:
            t0 = time.monotonic()
            with step("report", "Writing the daily report and the dashboard"):
                report_files = write_report(build_report(ws, "daily"), out / "report")
                dash = write_dashboard(ws, out / "dashboard.html")
            done("report", ", ".join(str(Path(p).relative_to(out)) for p in report_files.values())
                 + f", {dash.relative_to(out)}", t0,
                 files={k: str(v) for k, v in report_files.items()}, dashboard=str(dash))

        summary["high_risk"] = len(store.list_complaints(ws, tier="high", limit=None))
    finally:
        ws.close()

    summary["workspace"] = str(out / "workspace")
    summary["seconds"] = round(time.monotonic() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    print_summary(summary, console)
    return summary


def print_summary(s: dict, console: Console) -> None:
    r = s["rings"]
    t = Table(title="xiaobao demo: what was found", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    st = s["steps"]
    t.add_row("complaints", f"{st['ingest']['added']} ingested, {st['screen']['screened']} screened, "
                            f"{s.get('high_risk', 0)} high risk")
    t.add_row("rings", f"{r['found']} found vs {r['planted']} planted; membership precision {r['precision']:.3f}, "
                       f"recall {r['recall']:.3f}")
    t.add_row("watchlist", f"{r['watchlist_hits']} complaints matched the known agent "
                           f"(its ring had {r['known_ring_size']} in the batch)")
    if s.get("voice_lookup"):
        v = s["voice_lookup"]
        t.add_row("voice", f"today's caller → {v['decision']} {v['subject'] or ''} (score {v['score'] or 0:.2f})")
    if s.get("face_lookup"):
        v = s["face_lookup"]
        t.add_row("face", f"today's visitor → {v['decision']} {v['subject'] or ''} (score {v['score'] or 0:.2f})")
    t.add_row("promoted", f"{st['promote']['ring']} → subject S-{st['promote']['subject_id']}")
    t.add_row("routed", f"{st['route']['routed']} complaints, {st['route']['cases_opened']} cases with deadlines")
    t.add_row("deadlines", f"at {st['sla']['clock']}: {st['sla']['events']} clock events, "
                          f"{st['sla']['due_2d']} overdue or due within 2 days")
    if "check" in st:
        c = st["check"]
        t.add_row("prevention", f"collection call to customer {c['customer']} → {c['level']}: "
                                f"{', '.join(c['actions']) or '-'}")
    t.add_row("workspace", s["workspace"])
    t.add_row("evidence", st["evidence"]["path"])
    if "report" in st:
        t.add_row("report", ", ".join(st["report"]["files"].values()))
        t.add_row("dashboard", st["report"]["dashboard"])
    t.add_row("time", f"{s['seconds']:.0f} s")
    console.print(t)
    home = s["workspace"]
    console.print("[bold]Next commands to try:[/]")
    for cmd in (f"export XIAOBAO_HOME={home}",
                "xiaobao rings list",
                f"xiaobao rings show {st['promote']['ring']}",
                "xiaobao complaints list --tier high --limit 10",
                "xiaobao sla list --due-within 2d",
                *((f"xiaobao customers show {st['check']['customer']}",
                   f"xiaobao check --customer {st['check']['customer']} --touchpoint collection_call")
                  if "check" in st else ()),
                "xiaobao subject list",
                "see docs/guide.md for the investigator's tasks"):
        console.print(f"  {cmd}")
