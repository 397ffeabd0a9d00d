"""Command line for letters: ``xiaobao text enroll|search|artifacts|clusters`` and ``xiaobao eval text-authors``.

Each command is a thin call of a function in :mod:`xiaobao.text_fingerprint`; sentence-transformers
is imported only when a command needs it, so ``xiaobao --help`` stays quick.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from xiaobao.cli_support import command_line, console, emit, err_console, finish_batch, print_json, workspace_from
from xiaobao.errors import UserError

app = typer.Typer(help="Complaint letters: templates, shared contact artifacts and writing style.\n\n"
                       "Example: xiaobao text search complaint.txt --top 3",
                  no_args_is_help=True)

_SPACE = typer.Option("text/char-ngram@1", "--space",
                      help="Style space: text/char-ngram@1 (default, no model), text/minilm@1, text/st-NAME@1.")
_MODEL_DIR = typer.Option(None, "--model-dir", envvar="XIAOBAO_TEXT_MODEL_DIR",
                          help="A local sentence-transformers folder (e.g. a Chinese model); implies that space.")


def _letters(files: List[Path] | None, text: Optional[str]) -> tuple[list[tuple[str, str]], list[dict]]:
    from xiaobao.text_fingerprint.service import read_letter

    if bool(files) == bool(text):
        raise UserError("give letter files or --text, not both and not neither")
    if text:
        return [("--text", text)], []
    good, bad = [], []
    for f in files:
        try:
            good.append((str(f), read_letter(f)))
        except UserError as exc:
            # the row names the file already: keep only what is wrong with it
            bad.append({"source": str(f), "status": "error", "reason": getattr(exc, "reason", str(exc)),
                        "sample_ids": []})
    return good, bad


@app.command("enroll")
def text_enroll(ctx: typer.Context,
                files: Optional[List[Path]] = typer.Argument(None, help="Letter files (UTF-8 / GB18030 text)."),
                subject: int = typer.Option(..., "--subject", help="Subject id (xiaobao subject add ...)."),
                text: Optional[str] = typer.Option(None, "--text", help="The letter itself instead of files."),
                space: str = _SPACE, model_dir: Optional[Path] = _MODEL_DIR,
                ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                                  help="embed on Ray: bare --ray starts a local Ray"),
                strict: bool = typer.Option(False, "--strict", help="Exit 1 if any letter was not enrolled."),
                json_out: bool = typer.Option(False, "--json")) -> None:
    """Enrol a subject's letters: style vector, template fingerprint and artifacts.

    Bad files are reported and skipped (exit 2 only when nothing was enrolled). Example: xiaobao text enroll --subject 3 letter1.txt letter2.txt
    """
    from xiaobao.text_fingerprint.service import enroll_letters

    letters, bad = _letters(files, text)
    rows = bad + enroll_letters(workspace_from(ctx), subject, letters, space=space,
                                model_dir=str(model_dir) if model_dir else None, command=command_line(),
                                ray=(True if ray == "local" else ray) if ray else None)
    emit(rows, json_out, ["source", "status", "sample_ids", "artifacts", "reason"], title=f"letters of subject {subject}")
    finish_batch(len(rows), [f"{r['source']}: {r.get('reason')}" for r in rows if r["status"] != "enrolled"],
                 "letters", strict=strict)


@app.command("search")
def text_search(ctx: typer.Context,
                file: Optional[Path] = typer.Argument(None, help="The letter to search."),
                text: Optional[str] = typer.Option(None, "--text", help="The letter itself instead of a file."),
                top: int = typer.Option(5, "--top", "-k", help="Subjects per kind of evidence."),
                space: str = _SPACE, model_dir: Optional[Path] = _MODEL_DIR,
                kind: Optional[List[str]] = typer.Option(None, "--kind", help="Only subjects of this kind."),
                exclude_kind: Optional[List[str]] = typer.Option(None, "--exclude-kind"),
                json_out: bool = typer.Option(False, "--json")) -> None:
    """Who wrote letters like this one: template, shared artifacts, style.

    Example: xiaobao text search complaint.txt --top 3
    """
    from xiaobao.text_fingerprint.service import search_letter

    letters, bad = _letters([file] if file else None, text)
    if bad:
        raise UserError(bad[0]["reason"])
    rows = search_letter(workspace_from(ctx), letters[0][1], top=top, space=space,
                         model_dir=str(model_dir) if model_dir else None, kinds=kind, exclude_kinds=exclude_kind,
                         command=command_line())
    if json_out:
        print_json(rows)
        return
    table = [{"subject": f"{r['subject_id']} {r['subject_name']} ({r['subject_kind']})", "evidence": r["evidence"],
              "score": r["score"], "decision": r["decision"],
              "shared": ", ".join(r["detail"]["shared"]) if "shared" in r["detail"]
              else r["detail"].get("passage", r["detail"].get("space", ""))} for r in rows]
    emit(table, False, ["subject", "evidence", "score", "decision", "shared"], title="matches")


@app.command("artifacts")
def text_artifacts(file: Path = typer.Argument(..., help="A letter (text file)."),
                   lexicon: Optional[Path] = typer.Option(None, "--lexicon", envvar="XIAOBAO_TEXT_LEXICON",
                                                          help="Your own lexicon YAML (default: the packaged one)."),
                   json_out: bool = typer.Option(False, "--json")) -> None:
    """Print the artifacts of a letter: contacts, IDs, cards, amounts, dates, organisations, ring phrases.

    Example: xiaobao text artifacts complaint.txt --json
    """
    from xiaobao.text_fingerprint import extract_artifacts, load_lexicon
    from xiaobao.text_fingerprint.service import read_letter

    arts = extract_artifacts(read_letter(file), load_lexicon(lexicon))
    emit([a.to_dict() for a in arts], json_out, ["kind", "value", "raw", "start", "end", "category"],
         title=f"artifacts in {file}")


@app.command("clusters")
def text_clusters(csv_file: Path = typer.Argument(..., metavar="CSV", help="A UTF-8 CSV of letters."),
                  text_column: str = typer.Option(..., "--text-column", help="Column holding the letter."),
                  id_column: Optional[str] = typer.Option(None, "--id-column", help="Column to name letters by."),
                  max_hamming: int = typer.Option(22, "--max-hamming", help="SimHash bits two variants may differ in."),
                  min_overlap: float = typer.Option(0.5, "--min-overlap",
                                                    help="Share of the shorter letter's 3-grams found in the other."),
                  min_size: int = typer.Option(2, "--min-size"),
                  json_out: bool = typer.Option(False, "--json")) -> None:
    """Group a batch of letters into template clusters, largest first.

    Example: xiaobao text clusters inbound.csv --text-column detail --id-column id
    """
    from xiaobao.text_fingerprint import template_clusters
    from xiaobao.text_fingerprint.csvio import read_text_csv

    rows, problems = read_text_csv(csv_file, text_column, id_column)
    for p in problems:
        err_console.print(p, markup=False, highlight=False)
    texts = [r[text_column] for r in rows]
    clusters = template_clusters(texts, max_hamming=max_hamming, min_overlap=min_overlap, min_size=min_size)
    out = [{"cluster": i + 1, "size": len(c),
            "letters": [rows[j][id_column] if id_column else f"line {rows[j]['line']}" for j in c],
            "example": texts[c[0]][:60]} for i, c in enumerate(clusters)]
    if json_out:
        print_json({"n_letters": len(texts), "skipped": len(problems), "clusters": out})
        return
    console.print(f"{len(texts)} letters, {len(out)} template clusters, "
                  f"{sum(len(c) for c in clusters)} letters in clusters")
    emit(out, False, ["cluster", "size", "letters", "example"], title="template clusters")


def eval_text_authors(csv_file: Path = typer.Argument(..., metavar="CSV", help="A UTF-8 CSV of labelled texts."),
                      text_column: str = typer.Option(..., "--text-column"),
                      label_column: str = typer.Option(..., "--label-column", help="Author / label column."),
                      min_per_label: int = typer.Option(3, "--min-per-label",
                                                        help="Only authors with at least this many texts are queries."),
                      space: str = typer.Option("text/char-ngram@1", "--space",
                                                help="text/char-ngram@1, text/minilm@1, simhash or fusion."),
                      model_dir: Optional[Path] = _MODEL_DIR,
                      json_out: bool = typer.Option(False, "--json")) -> None:
    """Same-author linkage: is the nearest other text by the same author? Prints top1, recall_at_5, n_queries.

    Example: xiaobao eval text-authors messages.csv --text-column 留言详情 --label-column 留言用户 --json
    """
    from xiaobao.text_fingerprint.authors import evaluate_authors, read_labelled_csv

    texts, labels = read_labelled_csv(csv_file, text_column, label_column)
    result = evaluate_authors(texts, labels, min_per_label=min_per_label, space=space,
                              model_dir=str(model_dir) if model_dir else None)
    if json_out:
        print_json(result)
    else:
        emit([result], False, title="same-author linkage")
