"""The HTTP API: ``create_app(home)`` returns a FastAPI application over one workspace.

Threads: SQLite connections are not shared between threads here. Each thread that serves a
request opens its own :class:`Workspace` on first use and keeps it (``ThreadWorkspaces``).
The touchpoint check and key verification are ``async`` and run on the event-loop thread
(no thread hop: the check is well under a millisecond of work, see docs/service.md); the
lookups and the ingest are plain functions that the server runs in its worker threads, so a
seconds-long voice or face search never holds up the checks.
"""
from __future__ import annotations

import logging
import os
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Optional

from fastapi import Body, Depends, FastAPI, File, Form, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from xiaobao import __version__
from xiaobao.errors import InputError, ModelUnavailableError, NotFoundError, UserError
from xiaobao.service import keys as keystore
from xiaobao.prevention.outcomes import OUTCOMES, UnknownOutcomeError, record_outcome
from xiaobao.prevention.policies import DEFAULT_POLICIES, UnknownTouchpointError, policy_cache
from xiaobao.prevention.profile import customer_profile
from xiaobao.prevention.check import run_check
from xiaobao.prevention.facts import ensure_tables
from xiaobao.service.intake import ingest_records, saved_upload
from xiaobao.service.limits import DEFAULT_MAX_BODY, BodyLimit, error_body
from xiaobao.workspace import Workspace, resolve_home

log = logging.getLogger("xiaobao.service")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, detail=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.headers = status, code, message, detail, headers


class ThreadWorkspaces:
    """One Workspace (one SQLite connection) per thread, opened on first use."""

    def __init__(self, home: Path):
        self.home = home
        self._local = threading.local()
        self._opened: list[Workspace] = []
        self._lock = threading.Lock()

    def get(self) -> Workspace:
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = Workspace(self.home, command="service")
            self._local.ws = ws
            with self._lock:
                self._opened.append(ws)
        return ws

    def close(self) -> None:
        with self._lock:
            for ws in self._opened:
                try:
                    ws.close()
                except Exception:  # closing at shutdown: nothing left to protect
                    pass
            self._opened.clear()


# ------------------------------------------------------------------ request bodies
class CheckRequest(BaseModel):
    customer_id: str = Field(min_length=1, max_length=128, examples=["CU000123"])
    touchpoint: str = Field(min_length=1, max_length=64, examples=["collection_call"])
    context: Optional[dict[str, Any]] = Field(
        None, description="Extra facts for the rules (e.g. contacts_7d); stored facts win on a name clash.")


class OutcomeRequest(BaseModel):
    outcome: str = Field(min_length=1, max_length=32, description="One of: " + ", ".join(OUTCOMES),
                         examples=["followed"])
    note: Optional[str] = Field(None, max_length=2000, examples=["customer asked to be called next week"])


class TextLookup(BaseModel):
    text: str = Field(min_length=1, max_length=200_000)
    top: int = Field(5, ge=1, le=50)


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1)


# ------------------------------------------------------------------ errors
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def _error(status: int, code: str, message: str, detail=None, headers=None) -> JSONResponse:
    return JSONResponse(error_body(code, message, detail), status_code=status, headers=headers)


def _validation_detail(exc: RequestValidationError, content_type: str) -> tuple[str, list]:
    errors = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in exc.errors()]
    if any(e["type"] == "json_invalid" for e in errors):
        return "request body is not valid JSON", errors
    if errors and errors[0]["loc"] == ["body"] and content_type and "json" not in content_type \
            and "multipart" not in content_type:
        # FastAPI reads a body as JSON only when it is declared so; say that rather than "not an object".
        return f"send the body as JSON with Content-Type: application/json (got {content_type})", errors
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    return f"{'.'.join(str(p) for p in first['loc'][1:]) or 'body'}: {first['msg']}", errors


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = (f"no such endpoint: {request.method} {request.url.path}" if exc.status_code == 404
                   else f"{request.method} is not allowed on {request.url.path}" if exc.status_code == 405
                   else str(exc.detail))
        return _error(exc.status_code, code, message, None, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        message, errors = _validation_detail(exc, request.headers.get("content-type", ""))
        return _error(422, "invalid_request", message, errors)

    @app.exception_handler(NotFoundError)
    async def not_found(request, exc):
        return _error(404, "not_found", str(exc))

    @app.exception_handler(ModelUnavailableError)
    async def no_model(request, exc):
        return _error(503, "model_unavailable", str(exc))

    @app.exception_handler(UserError)
    async def user_error(request, exc):
        return _error(422, "invalid_input", str(exc))

    @app.exception_handler(Exception)
    async def crashed(request, exc):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal_error", "the server failed on this request; the error is in its log")


# ------------------------------------------------------------------ the app
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                        description="An API key made with `xiaobao keys create`.")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer",
                     description="The same API key as `Authorization: Bearer <key>`.")


def create_app(home_or_ws=None, policies_file=None, max_body_bytes: int = DEFAULT_MAX_BODY) -> FastAPI:
    """The service over the workspace at ``home_or_ws`` (a folder, or a Workspace whose folder is used).

    ``policies_file``: touchpoint policies (default: the packaged example). ``max_body_bytes``:
    larger request bodies get 413. A policies file that does not validate raises here.
    """
    home = Path(home_or_ws.home if isinstance(home_or_ws, Workspace) else resolve_home(home_or_ws)).resolve()
    policies = policy_cache(policies_file or DEFAULT_POLICIES)
    workspaces = ThreadWorkspaces(home)
    first = workspaces.get()
    keystore.ensure_table(first)
    ensure_tables(first)
    model_locks = {"voice": threading.Lock(), "face": threading.Lock()}
    face_embedder: list = []

    @asynccontextmanager
    async def lifespan(app):
        yield
        workspaces.close()

    app = FastAPI(title="xiaobao", version=__version__, lifespan=lifespan,
                  description="Touchpoint checks, customer profiles, voice/letter/face lookups and complaint "
                              "intake over one xiaobao workspace. Every endpoint but /v1/health needs an API key.")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.state.workspaces = workspaces
    app.state.policies = policies
    _install_error_handlers(app)

    def require(scope: str):
        async def key_with_scope(api_key: Optional[str] = Security(_api_key),
                                 bearer: Optional[HTTPAuthorizationCredentials] = Security(_bearer)) -> dict:
            plaintext = api_key or (bearer.credentials if bearer else None)
            if not plaintext:
                raise ApiError(401, "unauthorized", "missing API key: send it as X-API-Key or Authorization: Bearer",
                               headers={"WWW-Authenticate": "Bearer"})
            key = keystore.verify_key(workspaces.get(), plaintext)
            if key is None:
                raise ApiError(401, "unauthorized", "API key is not valid (unknown or revoked)",
                               headers={"WWW-Authenticate": "Bearer"})
            if scope not in key["scopes"]:
                raise ApiError(403, "forbidden", f"this key lacks the {scope!r} scope",
                               {"required": scope, "key_scopes": key["scopes"], "key_id": key["id"]})
            return key
        return key_with_scope

    @app.get("/v1/health", tags=["service"], summary="Liveness: the server and its registry answer.")
    async def health():
        workspaces.get().conn.execute("SELECT 1").fetchone()
        return {"status": "ok", "version": __version__}

    @app.post("/v1/check", tags=["prevention"], summary="Warning level, actions and reasons at a touchpoint (logged).")
    async def check(req: CheckRequest, key: dict = Depends(require("check"))):
        try:
            return run_check(workspaces.get(), req.customer_id, req.touchpoint, req.context, policies=policies.get(),
                             asked_by=key["name"])
        except UnknownTouchpointError as exc:
            raise ApiError(422, "unknown_touchpoint", str(exc), {"touchpoints": exc.touchpoints}) from None

    @app.post("/v1/checks/{check_id}/outcome", tags=["prevention"],
              summary="Record what was done with a check's warning: followed, overridden, not_contacted.")
    async def check_outcome(check_id: int, req: OutcomeRequest, key: dict = Depends(require("check"))):
        try:
            return record_outcome(workspaces.get(), check_id, req.outcome, by=key["name"], note=req.note)
        except UnknownOutcomeError as exc:
            raise ApiError(422, "unknown_outcome", str(exc), {"outcomes": exc.outcomes}) from None

    @app.get("/v1/customers/{customer_id}", tags=["prevention"],
             summary="The customer profile: tags, complaints, rings, matches, checks.")
    def customer(customer_id: str, key: dict = Depends(require("lookup"))):
        return customer_profile(workspaces.get(), customer_id)

    @app.post("/v1/lookup/text", tags=["lookup"], summary="Who wrote letters like this: template, artifacts, style.")
    def lookup_text(req: TextLookup, key: dict = Depends(require("lookup"))):
        from xiaobao.text_fingerprint.service import search_letter

        return {"matches": search_letter(workspaces.get(), req.text, top=req.top, command=f"http:{key['name']}")}

    @app.post("/v1/lookup/voice", tags=["lookup"], summary="Whose voice is in this recording (staff set aside).")
    def lookup_voice(file: UploadFile = File(...), top: int = Form(5, ge=1, le=50),
                     key: dict = Depends(require("lookup"))):
        from xiaobao.voiceprint.service import search_voice

        with saved_upload(file) as path, model_locks["voice"]:
            try:
                result = search_voice(workspaces.get(), path, top=top, command=f"http:{key['name']}")
            except InputError as exc:
                raise InputError(file.filename or "upload", exc.reason) from None
        return {**result, "file": file.filename}

    @app.post("/v1/lookup/face", tags=["lookup"], summary="Whose face is in this photo or video.")
    def lookup_face(file: UploadFile = File(...), top: int = Form(5, ge=1, le=50),
                    key: dict = Depends(require("lookup"))):
        from xiaobao.video.embedder import DlibFaceEmbedder
        from xiaobao.video.search import search_faces

        with saved_upload(file) as path, model_locks["face"]:
            if not face_embedder:
                face_embedder.append(DlibFaceEmbedder())
            try:
                result = search_faces(workspaces.get(), path, top=top, embedder=face_embedder[0],
                                      command=f"http:{key['name']}")
            except InputError as exc:
                raise InputError(file.filename or "upload", exc.reason) from None
        return {**result, "file": file.filename}

    @app.post("/v1/complaints", tags=["intake"],
              summary="Ingest complaint records; bad records are listed by index, good ones load.")
    def complaints(records: list[dict[str, Any]] = Body(..., min_length=1), key: dict = Depends(require("ingest"))):
        report = ingest_records(workspaces.get(), records, asked_by=key["name"])
        if not report["added"] + report["updated"] + report["unchanged"]:
            raise ApiError(422, "invalid_input", "no record could be loaded", report)
        return report

    @app.get("/v1/keys", tags=["admin"], summary="API keys (never their secrets).")
    def keys_list(key: dict = Depends(require("admin"))):
        return keystore.list_keys(workspaces.get())

    @app.post("/v1/keys", tags=["admin"], status_code=201, summary="Create an API key; the key is shown only here.")
    def keys_create(req: NewKey, key: dict = Depends(require("admin"))):
        key_id, plaintext = keystore.create_key(workspaces.get(), req.name, req.scopes)
        return {"id": key_id, "name": req.name.strip(), "key": plaintext,
                "scopes": keystore.check_scopes(req.scopes)}

    @app.delete("/v1/keys/{key_id}", tags=["admin"], summary="Revoke an API key.")
    def keys_revoke(key_id: int, key: dict = Depends(require("admin"))):
        return keystore.revoke_key(workspaces.get(), key_id)

    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several workers): settings from the environment."""
    return create_app(os.environ.get("XIAOBAO_HOME"), os.environ.get("XIAOBAO_SERVICE_POLICIES") or None,
                      int(os.environ.get("XIAOBAO_SERVICE_MAX_BODY") or DEFAULT_MAX_BODY))
