"""``xiaobao demo``: the whole product on generated data (see :mod:`xiaobao.demo`)."""
from __future__ import annotations

from pathlib import Path

import typer


def demo_command(out: Path = typer.Option(Path("demo_out"), "--out",
                                          help="Folder for the demo (made by the demo; a re-run replaces it)."),
                 complaints: int = typer.Option(1500, "--complaints", help="Complaints in the generated day."),
                 rings: int = typer.Option(8, "--rings", help="Rings planted among them."),
                 seed: int = typer.Option(7, "--seed"),
                 voices: bool = typer.Option(True, "--voices/--no-voices",
                                             help="Call recordings spoken by espeak-ng (when it is installed).")) -> None:
    """Build a demo workspace from generated complaints and screen it end to end, in a few minutes.

    Example: xiaobao demo --out demo_out
    """
    from xiaobao.demo import have_speech_synthesiser, run_demo
    run_demo(out, n=complaints, rings=rings, seed=seed, voices=voices and have_speech_synthesiser())
