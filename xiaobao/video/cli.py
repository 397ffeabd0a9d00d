"""Command line for faces and video: ``xiaobao face ...``, ``xiaobao video search``, ``xiaobao eval face``.

Each command is a thin call of a function in :mod:`xiaobao.video`; heavy imports (dlib, OpenCV)
happen inside the commands so ``xiaobao --help`` stays quick.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from xiaobao.cli_support import command_line, console, emit, err_console, finish_batch, print_json, workspace_from


@contextmanager
def _progress(what: str, total: int | None):
    """A progress bar on stderr (only on a terminal, so --json output and logs stay clean)."""
    if not err_console.is_terminal:
        yield lambda *_: None
        return
    from rich.progress import Progress

    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda *_: bar.advance(task)

face_app = typer.Typer(help="Faces in photos and videos: enrol, search the watchlist.", no_args_is_help=True)
video_app = typer.Typer(help="Videos: faces and the voice of the audio track, in one search.\n\n"
                             "Example: xiaobao video search kyc_call.mp4 --evidence case42/ --json", no_args_is_help=True)

_FPS = typer.Option(2.0, "--fps", help="Video frames sampled per second (0: every frame).")
_MAX = typer.Option(1200, "--max-frames", help="Stop a video after this many sampled frames.")
_TOP = typer.Option(5, "--top", "-k", help="Subjects listed per face.")
_KIND = typer.Option(None, "--kind", help="Only subjects of this kind (repeatable).")
_EXCL = typer.Option(None, "--exclude-kind", help="Leave out subjects of this kind, e.g. staff (repeatable).")
_EVID = typer.Option(None, "--evidence", help="Write matched face crops and a JSON manifest into this folder.")


@face_app.command("enroll")
def face_enroll(ctx: typer.Context,
                files: List[Path] = typer.Argument(..., help="Photos or videos of the subject."),
                subject: int = typer.Option(..., "--subject", help="Subject id (xiaobao subject add ...)."),
                fps: float = _FPS, max_frames: int = _MAX,
                allow_low_quality: bool = typer.Option(False, "--allow-low-quality",
                                                       help="Enrol faces that fail the size/blur/pose gates."),
                ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                                  help="analyse files on Ray: bare --ray starts a local Ray"),
                json_out: bool = typer.Option(False, "--json")) -> None:
    """Enrol a subject's face: a photo's main face, a video's dominant track (best 3 frames).

    Bad files are reported and skipped; files already enrolled are skipped without decoding.
    Example: xiaobao face enroll --subject 3 id.jpg call.mp4 --ray
    """
    from xiaobao.video import enroll_faces

    with _progress("enrolling", len(files)) as step:
        rows = enroll_faces(workspace_from(ctx), subject, files, fps=fps, max_frames=max_frames,
                            allow_low_quality=allow_low_quality, command=command_line(), on_file=step,
                            ray=(True if ray == "local" else ray) if ray else None)
    emit(rows, json_out, ["file", "status", "sample_ids", "faces", "reason"], title=f"face enrolment, subject {subject}")
    finish_batch(len(rows), [f"{r['file']}: {r['reason']}" for r in rows if r["status"] == "error"], "files")


def _face_table(result: dict, title: str) -> None:
    faces = result["faces"]
    if not faces:
        console.print(f"[bold]{result['file']}[/bold]: no face found (decision insufficient)")
        return
    rows = []
    for f in faces:
        frames = ", ".join(f"{fr['time_s']:.2f}s {fr['box']}" for fr in f["frames"])
        rows.append({"face": f["track"], "seen": f"{f['start_s']:.2f}-{f['end_s']:.2f}s ({f['n_frames']} frames)",
                     "subject": f"{f['subject_id']} {f['subject_name']}" if f["subject_id"] is not None else "",
                     "score": f["score"], "decision": f["decision"], "best frames [l,t,r,b]": frames,
                     "quality": "ok" if f["quality"]["ok"] else "; ".join(f["quality"]["reasons"])})
    emit(rows, False, title=title)
    if result.get("evidence"):
        console.print(f"evidence: {len(result['evidence']['crops'])} crops, manifest {result['evidence']['manifest']}")


@face_app.command("search")
def face_search(ctx: typer.Context, file: Path = typer.Argument(..., help="A photo or a video."),
                top: int = _TOP, fps: float = _FPS, max_frames: int = _MAX,
                kind: Optional[List[str]] = _KIND, exclude_kind: Optional[List[str]] = _EXCL,
                evidence: Optional[Path] = _EVID, json_out: bool = typer.Option(False, "--json")) -> None:
    """Whose face is this, and in which frames: per face/track the subject, score, decision,
    timestamps and boxes. Example: xiaobao face search call.mp4 --top 3 --evidence case42/
    """
    from xiaobao.video import search_faces

    result = search_faces(workspace_from(ctx), file, top=top, fps=fps, max_frames=max_frames, kinds=kind or None,
                          exclude_kinds=exclude_kind or None, evidence_dir=evidence, command=command_line())
    if json_out:
        print_json(result)
    else:
        _face_table(result, f"faces in {file} ({result['decision']})")


@video_app.command("search")
def video_search(ctx: typer.Context, file: Path = typer.Argument(..., help="A video file."),
                 top: int = _TOP, fps: float = _FPS, max_frames: int = _MAX,
                 kind: Optional[List[str]] = _KIND, exclude_kind: Optional[List[str]] = _EXCL,
                 evidence: Optional[Path] = _EVID,
                 no_voice: bool = typer.Option(False, "--no-voice", help="Faces only."),
                 json_out: bool = typer.Option(False, "--json")) -> None:
    """Faces and voice of a video in one answer (the audio track goes to the voiceprint search).

    Example: xiaobao video search kyc_call.mp4 --evidence case42/ --json
    """
    from xiaobao.video import search_video

    result = search_video(workspace_from(ctx), file, top=top, fps=fps, max_frames=max_frames, kinds=kind or None,
                          exclude_kinds=exclude_kind or None, evidence_dir=evidence, voice=not no_voice,
                          command=command_line())
    if json_out:
        print_json(result)
        return
    _face_table(result["faces"], f"faces in {file} ({result['faces']['decision']})")
    voice = result["voice"]
    matches = voice.get("matches") or []
    if matches:
        emit(matches, False, title=f"voice in {file} ({voice.get('decision')})")
    else:
        console.print(f"voice: {voice.get('decision')}" + (f" ({voice['reason']})" if voice.get("reason") else ""))
    console.print(f"[bold]decision: {result['decision']}[/bold]")


def eval_face(data: Path = typer.Option(..., "--data", help="Folder the label file's paths are relative to."),
              labels: Path = typer.Option(..., "--labels", help="CSV with a file column and a label column."),
              label_column: str = typer.Option(..., "--label-column", help="Column holding the identity."),
              enroll: int = typer.Option(1, "--enroll", help="Images per identity to enrol (first N by name)."),
              file_column: Optional[str] = typer.Option(None, "--file-column",
                                                        help="Column with the image path (default: file/path/filename/image)."),
              json_out: bool = typer.Option(False, "--json")) -> None:
    """Face identification on labelled photos: eer, top1, n_identities, n_trials, no_face (counted as errors).

    Example: xiaobao eval face --data faces/ --labels faces/labels.csv --label-column identity --enroll 1 --json
    """
    from xiaobao.video import evaluate_faces

    with _progress("faces", None) as step:
        result = evaluate_faces(data, labels, label_column, enroll=enroll, file_column=file_column, on_item=step)
    if json_out:
        print_json(result)
    else:
        emit([{k: v for k, v in result.items() if k != "bad_files"}], False, title="face evaluation")
        for b in result["bad_files"]:
            console.print(f"skipped: {b}")
