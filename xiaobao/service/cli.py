"""Command line for the HTTP service: ``xiaobao serve`` and ``xiaobao keys create|list|revoke``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from xiaobao.cli_support import console, emit, print_json, workspace_from
from xiaobao.service.limits import DEFAULT_MAX_BODY

keys_app = typer.Typer(help="API keys for the HTTP service (hashed at rest, scoped).\n\n"
                           "Example: xiaobao keys create collection-dialer --scope check", no_args_is_help=True)


@keys_app.command("create")
def keys_create(ctx: typer.Context, name: str = typer.Argument(..., help="Who uses the key, e.g. collection-dialer."),
                scope: List[str] = typer.Option(..., "--scope", help="check, lookup, ingest or admin (repeatable)."),
                json_out: bool = typer.Option(False, "--json")) -> None:
    """Create a key; it is printed once and cannot be shown again.

    Example: xiaobao keys create collection-dialer --scope check --scope lookup
    """
    from xiaobao.service.keys import check_scopes, create_key

    key_id, plaintext = create_key(workspace_from(ctx), name, scope)
    if json_out:
        print_json({"id": key_id, "name": name.strip(), "key": plaintext, "scopes": check_scopes(scope)})
        return
    console.print(f"key {key_id} ({name.strip()}, scopes: {', '.join(check_scopes(scope))}):")
    typer.echo(plaintext)
    console.print("[dim]store it now: only its hash is kept[/dim]")


@keys_app.command("list")
def keys_list(ctx: typer.Context, json_out: bool = typer.Option(False, "--json")) -> None:
    """Every key with its prefix, scopes and state (never the secret).

    Example: xiaobao keys list --json
    """
    from xiaobao.service.keys import list_keys

    rows = list_keys(workspace_from(ctx))
    if not json_out:
        rows = [{**r, "scopes": ",".join(r["scopes"])} for r in rows]
    emit(rows, json_out, ["id", "name", "prefix", "scopes", "created_at", "revoked_at"], title="API keys")


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Revoke a key; requests with it are refused from the next one on.

    Example: xiaobao keys revoke 3
    """
    from xiaobao.service.keys import revoke_key

    row = revoke_key(workspace_from(ctx), key_id)
    console.print(f"key {row['id']} ({row['name']}) revoked at {row['revoked_at']}")


def serve_command(ctx: typer.Context,
                  host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
                  port: int = typer.Option(8077, "--port"),
                  policies: Optional[Path] = typer.Option(None, "--policies", help="Touchpoint policies YAML "
                                                          "(default: the packaged example)."),
                  max_body: int = typer.Option(DEFAULT_MAX_BODY, "--max-body", help="Largest request body in bytes."),
                  workers: int = typer.Option(1, "--workers", help="Server processes (each opens the workspace)."),
                  access_log: bool = typer.Option(False, "--access-log", help="Log every request to stderr.")) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs).

    Example: xiaobao serve --port 8077 ; then curl -H "X-API-Key: $KEY" http://127.0.0.1:8077/v1/health
    """
    import uvicorn

    from xiaobao.service.app import create_app

    ws = workspace_from(ctx)
    home = str(ws.home.resolve())
    # Validate everything (workspace, policies) in this process first, so a mistake is one line.
    app = create_app(home, policies, max_body)
    common = dict(host=host, port=port, access_log=access_log, log_level="info", server_header=False)
    if workers <= 1:
        uvicorn.run(app, **common)
        return
    del app
    os.environ.update(XIAOBAO_HOME=home, XIAOBAO_SERVICE_MAX_BODY=str(max_body),
                      XIAOBAO_SERVICE_POLICIES=str(Path(policies).resolve()) if policies else "")
    uvicorn.run("xiaobao.service.app:app_from_env", factory=True, workers=workers, **common)
