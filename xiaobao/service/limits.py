"""Request body size limit, as plain ASGI middleware in front of the application.

A declared ``Content-Length`` over the limit is refused before a byte of the body is read.
A body without one (chunked transfer) is counted as it streams in and refused as soon as the
count passes the limit, so a client cannot get round the limit by not declaring a length.
The accepted body is handed to the application unchanged.
"""
from __future__ import annotations

import json

DEFAULT_MAX_BODY = 16 * 1024 * 1024  # 16 MiB: a few minutes of call audio or a photo


def error_body(code: str, message: str, detail=None) -> dict:
    """The one shape of every error the service returns."""
    return {"error": {"code": code, "message": message, "detail": detail}}


async def send_error(send, status: int, code: str, message: str, detail=None, headers=()) -> None:
    body = json.dumps(error_body(code, message, detail), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app, max_bytes: int = DEFAULT_MAX_BODY):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await send_error(send, 400, "bad_request", "Content-Length is not a number")
        if declared is not None and declared > self.max_bytes:
            return await self._too_large(send, declared)
        chunks, total, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                return await self._too_large(send, None)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect as usual

        await self.app(scope, replay, send)

    async def _too_large(self, send, declared):
        # The rest of the body is left unread, so the connection is closed after this answer.
        await send_error(send, 413, "payload_too_large",
                         f"request body is larger than the limit of {self.max_bytes} bytes",
                         {"limit_bytes": self.max_bytes, "content_length": declared},
                         headers=[(b"connection", b"close")])
