"""The ``xiaobao`` command line: a thin layer over the library, one function per command."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Optional

import typer

from xiaobao import __version__
from xiaobao.cli_support import console, emit, err_console, print_json, workspace_from
from xiaobao.errors import UserError

app = typer.Typer(
    help="xiaobao (消保): recognise paid proxy complainants by voice, letters and face.\n\n"
         "Example: xiaobao --home ./ws subject add 'agent Li' --kind agent",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
subject_app = typer.Typer(help="Known people: proxy agents, our own staff, customers.", no_args_is_help=True)
index_app = typer.Typer(help="The vector indexes: stats, verify against the registry, rebuild.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate matching accuracy on labelled data.\n\n"
                          "Example: xiaobao eval voice --data fsdd/ --labels fsdd/labels.csv --label-column speaker", no_args_is_help=True)
app.add_typer(subject_app, name="subject")
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
from xiaobao.complaints_engine.handling_cli import (cases_app, evidence_command, route_command, rules_app,
                                                   sla_app, validity_app)
app.command("route")(route_command)
app.add_typer(rules_app, name="rules")
app.add_typer(sla_app, name="sla")
app.add_typer(cases_app, name="cases")
app.add_typer(validity_app, name="validity")
app.command("evidence")(evidence_command)
from xiaobao.complaints_engine.cli import complaints_app, rings_app, screen_command, synth_app, tags_app
app.add_typer(complaints_app, name="complaints")
app.command("screen")(screen_command)
app.add_typer(tags_app, name="tags")
app.add_typer(rings_app, name="rings")
app.add_typer(synth_app, name="synth")
from xiaobao.insight.cli import (interactions_app, quality_app, risk_app, synth_interactions_command,
                                 voice_of_customer_command)
app.add_typer(interactions_app, name="interactions")
app.add_typer(quality_app, name="quality")
app.add_typer(risk_app, name="risk")
app.command("voice-of-customer")(voice_of_customer_command)
synth_app.command("interactions")(synth_interactions_command)
from xiaobao.video.cli import eval_face, face_app, video_app
app.add_typer(face_app, name="face")
app.add_typer(video_app, name="video")
eval_app.command("face")(eval_face)
from xiaobao.text_fingerprint.cli import app as text_app, eval_text_authors
app.add_typer(text_app, name="text")
eval_app.command("text-authors")(eval_text_authors)
from xiaobao.voiceprint.cli import app as voice_app, eval_voice
app.add_typer(voice_app, name="voice")
eval_app.command("voice")(eval_voice)
from xiaobao.reports.cli import alerts_app, metrics_command, report_app
app.command("metrics")(metrics_command)
app.add_typer(report_app, name="report")
app.add_typer(alerts_app, name="alerts")
from xiaobao.demo_cli import demo_command
app.command("demo")(demo_command)
from xiaobao.prevention.cli import check_app, customers_app, policies_app
app.add_typer(policies_app, name="policies")
app.add_typer(customers_app, name="customers")
app.add_typer(check_app, name="check")
from xiaobao.service.cli import keys_app, serve_command
app.add_typer(keys_app, name="keys")
app.command("serve")(serve_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xiaobao {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Optional[Path] = typer.Option(None, "--home", envvar="XIAOBAO_HOME",
                                        help="Workspace folder (default ./.xiaobao)."),
    vector_store: Optional[str] = typer.Option(
        None, "--vector-store", envvar="XIAOBAO_VECTOR_STORE",
        help="faiss (default), milvus-lite:PATH or milvus://HOST:PORT; remembered by the workspace."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    ctx.obj["vector_store"] = vector_store


# ---------------------------------------------------------------- subjects
@subject_app.command("add")
def subject_add(ctx: typer.Context, name: str, kind: str = typer.Option("unknown", "--kind",
                help="agent | staff | customer | unknown"), note: Optional[str] = typer.Option(None, "--note"),
                json_out: bool = typer.Option(False, "--json")) -> None:
    """Add a subject and print its id. Example: xiaobao subject add '张某' --kind agent --note 'ring A'"""
    sid = workspace_from(ctx).add_subject(name, kind=kind, note=note)
    print_json({"id": sid}) if json_out else typer.echo(sid)


@subject_app.command("list")
def subject_list(ctx: typer.Context, kind: Optional[str] = typer.Option(None, "--kind"),
                 json_out: bool = typer.Option(False, "--json")) -> None:
    """List subjects with their sample counts. Example: xiaobao subject list --kind agent"""
    emit(workspace_from(ctx).list_subjects(kind), json_out, title="subjects")


@subject_app.command("show")
def subject_show(ctx: typer.Context, subject_id: int, json_out: bool = typer.Option(False, "--json")) -> None:
    """One subject and its samples per space. Example: xiaobao subject show 3"""
    ws = workspace_from(ctx)
    subject = ws.get_subject(subject_id)
    samples = ws.subject_samples(subject_id)
    if json_out:
        print_json({**subject, "samples": samples})
        return
    console.print(f"[bold]{subject['id']}[/bold] {subject['name']} ({subject['kind']})"
                  + (f" — {subject['note']}" if subject["note"] else ""))
    emit(samples, False, ["id", "space", "source_uri", "quality", "created_at"], title="samples")


@subject_app.command("update")
def subject_update(ctx: typer.Context, subject_id: int, name: Optional[str] = typer.Option(None, "--name"),
                   kind: Optional[str] = typer.Option(None, "--kind"), note: Optional[str] = typer.Option(None, "--note"),
                   json_out: bool = typer.Option(False, "--json")) -> None:
    """Rename, re-kind or annotate a subject. Example: xiaobao subject update 3 --kind agent"""
    s = workspace_from(ctx).update_subject(subject_id, name=name, kind=kind, note=note)
    print_json(s) if json_out else typer.echo(f"updated subject {s['id']}: {s['name']} ({s['kind']})")


@subject_app.command("remove")
def subject_remove(ctx: typer.Context, subject_id: int) -> None:
    """Delete a subject and purge its samples everywhere (logged). Example: xiaobao subject remove 3"""
    n = workspace_from(ctx).remove_subject(subject_id)
    typer.echo(f"removed subject {subject_id} and {n} samples")


# ---------------------------------------------------------------- index
@index_app.command("stats")
def index_stats(ctx: typer.Context, json_out: bool = typer.Option(False, "--json")) -> None:
    """Spaces, counts, dimensions, index types and file sizes. Example: xiaobao index stats"""
    emit(workspace_from(ctx).stats(), json_out, title="spaces")


@index_app.command("verify")
def index_verify(ctx: typer.Context, space: Optional[str] = typer.Argument(None),
                 json_out: bool = typer.Option(False, "--json")) -> None:
    """Report every disagreement between registry and indexes; exit 1 if any. Example: xiaobao index verify"""
    problems = workspace_from(ctx).verify(space)
    if json_out:
        print_json({"ok": not problems, "problems": problems})
    elif problems:
        emit(problems, False, title="registry and index disagree")
        err_console.print("run `xiaobao index rebuild` to restore the indexes from the registry")
    else:
        typer.echo("ok: every index agrees with the registry")
    if problems:
        raise typer.Exit(1)


@index_app.command("rebuild")
def index_rebuild(ctx: typer.Context, space: Optional[str] = typer.Argument(None),
                  json_out: bool = typer.Option(False, "--json")) -> None:
    """Rebuild FAISS files from the registry. Example: xiaobao index rebuild voice/resemblyzer@1"""
    emit(workspace_from(ctx).rebuild(space), json_out, title="rebuilt")


@app.command("purge")
def purge(ctx: typer.Context, older_than: float = typer.Option(..., "--older-than", help="days"),
          space: Optional[str] = typer.Option(None, "--space"), json_out: bool = typer.Option(False, "--json")) -> None:
    """Retention: delete samples older than DAYS everywhere (logged). Example: xiaobao purge --older-than 365"""
    n = workspace_from(ctx).purge(older_than, space)
    print_json({"removed": n}) if json_out else typer.echo(f"purged {n} samples")


@app.command("events")
def events(ctx: typer.Context, what: Optional[str] = typer.Option(None, "--what"),
           limit: int = typer.Option(50, "--limit"), json_out: bool = typer.Option(False, "--json")) -> None:
    """The audit log, newest last. Example: xiaobao events --what search --limit 20"""
    rows = workspace_from(ctx).events(what)[-limit:]
    emit(rows, json_out, ["id", "at", "what", "ids", "command"], title="events")


_RAY_ADDRESS = re.compile(r"^(local|auto|ray://\S+|[\w.\-]+:\d+)$")


def _bare_ray_flag(argv: list[str]) -> list[str]:
    """``--ray`` may stand alone (a local Ray) or take an address: give the bare form its value.

    Only ``local``, ``auto``, ``ray://...`` or ``HOST:PORT`` after ``--ray`` is an address, so
    ``voice enroll --ray a.wav b.wav`` keeps ``a.wav`` as a file.
    """
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--ray" and (i + 1 == len(argv) or not _RAY_ADDRESS.match(argv[i + 1])):
            out.append("local")
    return out


def main() -> None:
    """Console entry point: user mistakes become one line on stderr and exit code 2."""
    try:
        app(args=_bare_ray_flag(sys.argv[1:]), prog_name="xiaobao")
    except UserError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
