"""`xiaobao voice ...` and `xiaobao eval voice`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from xiaobao.cli_support import command_line, emit, err_console, finish_batch, print_json, workspace_from

app = typer.Typer(help="Voiceprints on call recordings: enrol, search, verify, calibrate.", no_args_is_help=True)

BACKEND = typer.Option("resemblyzer", "--backend", help="resemblyzer (default, offline) or ecapa.")
MODEL_DIR = typer.Option(None, "--model-dir", envvar="XIAOBAO_ECAPA_DIR", help="Local ECAPA-TDNN folder.")
CHANNEL = typer.Option("mix", "--channel", help="Stereo recordings: left, right or mix.")
MIN_SPEECH = typer.Option(1.5, "--min-speech", help="Seconds of net speech needed, else 'insufficient'.")


@app.command("enroll")
def enroll(ctx: typer.Context, subject: int = typer.Option(..., "--subject", help="Subject id."),
           files: List[Path] = typer.Argument(..., help="Recordings (or folders) of this subject."),
           backend: str = BACKEND, model_dir: Optional[Path] = MODEL_DIR, channel: str = CHANNEL,
           min_speech: float = MIN_SPEECH,
           ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                             help="decode and embed on Ray: bare --ray starts a local Ray"),
           json_out: bool = typer.Option(False, "--json")) -> None:
    """Enrol recordings of one subject; several files make the voiceprint stronger.

    A bad file is reported and skipped, the others are enrolled (exit 2 only when every file
    failed); files this subject already has are skipped, so an interrupted run is simply run again.
    Example: xiaobao voice enroll --subject 3 calls/agent_li_*.wav --ray
    """
    from xiaobao.voiceprint import enroll_files
    rows = enroll_files(workspace_from(ctx), subject, files, backend=backend, model_dir=model_dir,
                        channel=channel, min_speech=min_speech, command=command_line(),
                        ray=(True if ray == "local" else ray) if ray else None)
    emit(rows, json_out, title=f"enrolled for subject {subject}")
    finish_batch(len(rows), [f"{r['file']}: {r['reason']}" for r in rows if r["status"] == "error"], "recordings")


@app.command("search")
def search(ctx: typer.Context, files: List[Path] = typer.Argument(..., help="Recordings or folders."),
           top: int = typer.Option(5, "--top"), backend: str = BACKEND, model_dir: Optional[Path] = MODEL_DIR,
           channel: str = CHANNEL, min_speech: float = MIN_SPEECH,
           json_out: bool = typer.Option(False, "--json", help="One JSON object (single file) or a list."),
           jsonl: Optional[Path] = typer.Option(None, "--out", "--jsonl",
                                                help="Write one JSON line per recording here.")) -> None:
    """Whose voice is this? Our staff's speech is set aside; the caller's best matches are listed.

    Example: xiaobao voice search call.mp3 --top 3 --json ; xiaobao voice search calls/ --out results.jsonl
    """
    from rich.progress import Progress
    from xiaobao.voiceprint import search_files
    from xiaobao.voiceprint.service import collect_files
    ws = workspace_from(ctx)
    todo = collect_files(files)
    rows = []
    out = open(jsonl, "w", encoding="utf-8") if jsonl else None
    try:
        # The bar goes to stderr, so --json on stdout stays exactly the JSON.
        with Progress(console=err_console, transient=True, disable=len(todo) < 2) as prog:
            task = prog.add_task("recordings", total=len(todo))
            for row in search_files(ws, todo, top=top, backend=backend, model_dir=model_dir, channel=channel,
                                    min_speech=min_speech, command=command_line()):
                rows.append(row)
                if out:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                prog.advance(task)
    finally:
        if out:
            out.close()
    failures = [r["error"] for r in rows if r.get("decision") == "error"]
    if json_out:
        print_json(rows[0] if len(rows) == 1 else rows)
        finish_batch(len(rows), failures, "recordings")
        return
    flat = []
    for r in rows:
        best = (r.get("matches") or [{}])[0]
        flat.append({"file": r["file"], "decision": r["decision"], "subject": best.get("subject", ""),
                     "score": best.get("score", ""), "speech_s": r.get("speech_seconds", ""),
                     "ranges": " ".join(f"{a:.1f}-{b:.1f}" for a, b in r.get("ranges", [])),
                     "note": r.get("error") or r.get("reason", "")})
    emit(flat, False, title="voice search")
    finish_batch(len(rows), failures, "recordings")


@app.command("verify")
def verify(ctx: typer.Context, a: Path = typer.Argument(...), b: Path = typer.Argument(...),
           backend: str = BACKEND, model_dir: Optional[Path] = MODEL_DIR, channel: str = CHANNEL,
           min_speech: float = MIN_SPEECH, json_out: bool = typer.Option(False, "--json")) -> None:
    """Are two recordings the same speaker? Example: xiaobao voice verify a.wav b.wav --json"""
    from xiaobao.voiceprint import verify_files
    r = verify_files(workspace_from(ctx), a, b, backend=backend, model_dir=model_dir, channel=channel,
                     min_speech=min_speech)
    print_json(r) if json_out else emit([r], False, title="voice verify")


@app.command("calibrate")
def calibrate_cmd(ctx: typer.Context, data: Path = typer.Option(..., "--data"), labels: Path = typer.Option(..., "--labels"),
                  label_column: str = typer.Option("speaker", "--label-column"),
                  target_far: float = typer.Option(0.01, "--target-far", help="False-accept rate for 'match'."),
                  backend: str = BACKEND, model_dir: Optional[Path] = MODEL_DIR,
                  json_out: bool = typer.Option(False, "--json")) -> None:
    """Thresholds from labelled recordings (match at the target FAR, possible at the EER); prints EER and minDCF.

    Example: xiaobao voice calibrate --data calls/ --labels calls/labels.csv --label-column speaker
    """
    from xiaobao.voiceprint import calibrate
    r = calibrate(workspace_from(ctx), data, labels, label_column, backend=backend, model_dir=model_dir,
                  target_far=target_far, command=command_line())
    print_json(r) if json_out else emit([{k: v for k, v in r.items() if k != "skipped"}], False, title="voice calibration")


def eval_voice(data: Path = typer.Option(..., "--data"), labels: Path = typer.Option(..., "--labels"),
               label_column: str = typer.Option(..., "--label-column"),
               enroll: int = typer.Option(5, "--enroll", help="Enrolment files per identity (first N by name)."),
               test_concat: int = typer.Option(3, "--test-concat", help="Test files concatenated per trial."),
               backend: str = BACKEND, model_dir: Optional[Path] = MODEL_DIR,
               method: str = typer.Option("xiaobao", "--method", help="xiaobao, or concat (off-the-shelf reference)."),
               json_out: bool = typer.Option(False, "--json")) -> None:
    """Speaker identification on labelled recordings: eer, top1, n_identities, n_trials.

    Example: xiaobao eval voice --data fsdd/ --labels fsdd/labels.csv --label-column speaker --enroll 5 --test-concat 3 --json
    """
    from xiaobao.voiceprint import evaluate
    r = evaluate(data, labels, label_column, enroll=enroll, test_concat=test_concat, backend=backend,
                 model_dir=model_dir, method=method)
    print_json(r) if json_out else emit([r], False, title="voice evaluation")
