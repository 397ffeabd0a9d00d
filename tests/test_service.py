"""The HTTP service, started for real (``xiaobao serve`` in a subprocess) and called over loopback."""
from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from xiaobao import Workspace
from xiaobao.complaints_engine import store
from xiaobao.service.keys import create_key, list_keys, revoke_key, verify_key
from xiaobao.errors import UserError

XIAOBAO = str(Path(sys.executable).with_name("xiaobao"))
MAX_BODY = 64 * 1024
HANZI = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def prose(n: int, seed: int) -> str:
    r = random.Random(seed)
    return "，".join("".join(r.choice(HANZI) for _ in range(r.randint(6, 14))) for _ in range(n)) + "。"


def cli(home, *args) -> str:
    env = {**os.environ, "XIAOBAO_HOME": str(home), "COLUMNS": "200"}
    done = subprocess.run([XIAOBAO, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A workspace with a tagged customer and an enrolled letter, its keys, and the running server."""
    home = tmp_path_factory.mktemp("svc") / "ws"
    ws = Workspace(home)
    store.ensure_tables(ws)
    store.add_tags(ws, ["高投诉风险"], customer_id="CU-TAGGED")
    from xiaobao.text_fingerprint.service import enroll_letters
    agent = ws.add_subject("agent Zhou", kind="agent")
    letter = "本人委托代理维权，联系微信ZHOU_2468，" + prose(6, seed=3)
    assert enroll_letters(ws, agent, [("zhou.txt", letter)])[0]["status"] == "enrolled"
    ws.close()
    keys = {name: json.loads(cli(home, "keys", "create", name, *sum((["--scope", s] for s in scopes), []),
                                 "--json"))["key"]
            for name, scopes in {"dialer": ["check", "lookup", "ingest"], "checker": ["check"],
                                 "leaver": ["check"]}.items()}
    port = free_port()
    proc = subprocess.Popen([XIAOBAO, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--max-body", str(MAX_BODY)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.2)
    with httpx.Client(base_url=url, timeout=60) as client:
        yield {"url": url, "home": home, "keys": keys, "client": client, "agent": agent, "letter": letter}
    proc.terminate()
    proc.wait(timeout=30)


def _err(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]


def test_health_needs_no_key_and_openapi_declares_paths_and_key_scheme(server):
    c = server["client"]
    assert c.get("/v1/health").json()["status"] == "ok"
    spec = c.get("/openapi.json").json()
    assert {"/v1/check", "/v1/customers/{customer_id}", "/v1/lookup/text", "/v1/lookup/voice", "/v1/lookup/face",
            "/v1/complaints", "/v1/health"} <= set(spec["paths"])
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"]["scheme"].lower() == "bearer"
    assert {"ApiKey": []} in spec["paths"]["/v1/check"]["post"]["security"]
    assert "security" not in spec["paths"]["/v1/health"]["get"]


def test_check_with_key_or_bearer_is_logged_under_the_key_name(server):
    c, k = server["client"], server["keys"]
    body = {"customer_id": "CU-TAGGED", "touchpoint": "collection_call", "context": {"contacts_7d": 3}}
    r = c.post("/v1/check", json=body, headers={"X-API-Key": k["checker"]})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["level"] == "intercept" and "pause_collection_calls" in res["actions"] and res["check_id"] > 0
    r2 = c.post("/v1/check", json={"customer_id": "CU-NOBODY", "touchpoint": "collection_call"},
                headers={"Authorization": f"Bearer {k['checker']}"})
    assert r2.status_code == 200 and r2.json()["level"] == "none"
    with Workspace(server["home"]) as ws:
        rows = ws.conn.execute("SELECT id, customer_id, asked_by, level FROM checks WHERE id IN (?, ?) ORDER BY id",
                               (res["check_id"], r2.json()["check_id"])).fetchall()
        events = [e for e in ws.events("prevention.check") if e["ids"] == [res["check_id"]]]
    assert rows == [(res["check_id"], "CU-TAGGED", "checker", "intercept"),
                    (r2.json()["check_id"], "CU-NOBODY", "checker", "none")]
    assert events and events[0]["command"] == "checker"
    err = _err(c.post("/v1/check", json={"customer_id": "CU1", "touchpoint": "fax"},
                      headers={"X-API-Key": k["checker"]}), 422, "unknown_touchpoint")
    assert "collection_call" in err["detail"]["touchpoints"]


def test_missing_wrong_and_revoked_keys_are_401_and_missing_scope_is_403(server):
    c, k = server["client"], server["keys"]
    body = {"customer_id": "CU1", "touchpoint": "collection_call"}
    _err(c.post("/v1/check", json=body), 401, "unauthorized")
    _err(c.post("/v1/check", json=body, headers={"X-API-Key": "xbk_00000000_nope"}), 401, "unauthorized")
    forged = k["checker"][:-4] + ("AAAA" if not k["checker"].endswith("AAAA") else "BBBB")  # right prefix
    _err(c.post("/v1/check", json=body, headers={"X-API-Key": forged}), 401, "unauthorized")
    _err(c.post("/v1/check", json=body, headers={"Authorization": "Basic " + k["checker"]}), 401, "unauthorized")

    assert c.post("/v1/check", json=body, headers={"X-API-Key": k["leaver"]}).status_code == 200
    leaver_id = next(r["id"] for r in json.loads(cli(server["home"], "keys", "list", "--json")) if r["name"] == "leaver")
    cli(server["home"], "keys", "revoke", str(leaver_id))
    _err(c.post("/v1/check", json=body, headers={"X-API-Key": k["leaver"]}), 401, "unauthorized")

    err = _err(c.get("/v1/customers/CU1", headers={"X-API-Key": k["checker"]}), 403, "forbidden")
    assert err["detail"]["required"] == "lookup"
    _err(c.post("/v1/complaints", json=[{"id": "X"}], headers={"X-API-Key": k["checker"]}), 403, "forbidden")
    _err(c.get("/v1/keys", headers={"X-API-Key": k["dialer"]}), 403, "forbidden")


def test_oversized_malformed_and_unknown_requests_get_structured_errors(server):
    c, key = server["client"], {"X-API-Key": server["keys"]["dialer"]}
    big = json.dumps({"text": "字" * MAX_BODY}).encode()
    err = _err(c.post("/v1/lookup/text", content=big, headers={**key, "Content-Type": "application/json"}),
               413, "payload_too_large")
    assert err["detail"]["limit_bytes"] == MAX_BODY

    def chunks():  # no Content-Length: the limit is enforced on the streamed bytes
        for _ in range(4):
            yield b"x" * (MAX_BODY // 2)
    r = c.post("/v1/lookup/text", content=chunks(), headers={**key, "Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    _err(r, 413, "payload_too_large")

    err = _err(c.post("/v1/check", content=b'{"customer_id": "CU1", ', headers={**key, "Content-Type": "application/json"}),
               422, "invalid_request")
    assert err["message"] == "request body is not valid JSON"
    err = _err(c.post("/v1/check", json={"customer_id": "", "touchpoint": 5}, headers=key), 422, "invalid_request")
    assert {tuple(e["loc"]) for e in err["detail"]} == {("body", "customer_id"), ("body", "touchpoint")}
    err = _err(c.post("/v1/check", data={"customer_id": "CU1"}, headers=key), 422, "invalid_request")
    assert "application/json" in err["message"]
    _err(c.get("/v1/nothing-here", headers=key), 404, "not_found")
    _err(c.delete("/v1/check", headers=key), 405, "method_not_allowed")
    _err(c.post("/v1/lookup/text", json={"text": "   "}, headers=key), 422, "invalid_input")


def test_ingested_complaint_is_seen_by_the_next_check_and_the_profile(server):
    c, key = server["client"], {"X-API-Key": server["keys"]["dialer"]}
    before = c.post("/v1/check", json={"customer_id": "CU-NEW", "touchpoint": "fee_charge"}, headers=key).json()
    assert before["level"] == "none"
    records = [{"投诉编号": "HTTP-1", "客户号": "CU-NEW", "投诉渠道": "监管转办", "投诉内容": "重复扣款，要求退还费用",
                "投诉时间": "2026-11-20 10:00"},
               {"channel": "app"},                      # neither id nor text: reported, skipped
               {"id": "HTTP-2", "customer_id": "CU-OTHER", "text": "客服态度差", "received_at": "not a date"}]
    r = c.post("/v1/complaints", json=records, headers=key)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["added"] == 1 and rep["ids"] == ["HTTP-1"] and [b["index"] for b in rep["bad"]] == [1, 2]
    assert "not a date" in rep["bad"][1]["reason"]
    after = c.post("/v1/check", json={"customer_id": "CU-NEW", "touchpoint": "fee_charge"}, headers=key).json()
    assert after["level"] == "warn" and after["actions"] == ["hold_fee_for_review"]
    profile = c.get("/v1/customers/CU-NEW", headers=key)
    assert profile.status_code == 200 and "HTTP-1" in profile.text
    tagged = c.get("/v1/customers/CU-TAGGED", headers=key)
    assert "高投诉风险" in tagged.text
    assert tagged.json()["facts"]["tags"] == ["高投诉风险"] and tagged.json()["checks"][0]["level"] == "intercept"
    assert "CU-NOBODY-EVER" in _err(c.get("/v1/customers/CU-NOBODY-EVER", headers=key), 404, "not_found")["message"]
    err = _err(c.post("/v1/complaints", json=[{"channel": "app"}], headers=key), 422, "invalid_input")
    assert err["detail"]["bad"][0]["index"] == 0
    _err(c.post("/v1/complaints", json=[], headers=key), 422, "invalid_request")


def test_text_lookup_finds_the_enrolled_letter_writer(server):
    c, key = server["client"], {"X-API-Key": server["keys"]["dialer"]}
    variant = server["letter"].replace("本人", "我方").replace("。", "！")
    r = c.post("/v1/lookup/text", json={"text": variant, "top": 3}, headers=key)
    assert r.status_code == 200, r.text
    hits = r.json()["matches"]
    assert {h["evidence"] for h in hits if h["subject_id"] == server["agent"] and h["decision"] == "match"} \
        >= {"template", "artifact"}


@pytest.mark.slow
def test_face_lookup_over_http_matches_the_enrolled_photo(server, tmp_path):
    import cv2

    from face_video_helpers import astronaut, save_rgb
    from xiaobao.video import DlibFaceEmbedder, enroll_faces

    a = astronaut()
    with Workspace(server["home"]) as ws:
        sid = ws.add_subject("agent Collins", kind="agent")
        assert enroll_faces(ws, sid, [save_rgb(tmp_path / "id.jpg", a)], embedder=DlibFaceEmbedder())[0]["status"] \
            == "enrolled"
    probe = save_rgb(tmp_path / "probe.png", cv2.resize(a, (a.shape[1] * 3 // 4, a.shape[0] * 3 // 4)))
    c, key = server["client"], {"X-API-Key": server["keys"]["dialer"]}
    with open(probe, "rb") as fh:
        r = c.post("/v1/lookup/face", files={"file": ("probe.png", fh, "image/png")}, data={"top": "2"}, headers=key)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["file"] == "probe.png" and res["decision"] == "match" and res["faces"][0]["subject_id"] == sid
    err = _err(c.post("/v1/lookup/face", files={"file": ("broken.jpg", b"not an image", "image/jpeg")}, headers=key),
               422, "invalid_input")
    assert err["message"].startswith("broken.jpg")


def test_keys_are_hashed_at_rest_scoped_and_revocable(tmp_path):
    ws = Workspace(tmp_path / "ws")
    key_id, plain = create_key(ws, "crm", ["lookup", "check"])
    assert verify_key(ws, plain)["scopes"] == ["check", "lookup"]
    dump = "\n".join(ws.conn.iterdump())
    assert plain not in dump and plain.split("_", 2)[2] not in dump
    with pytest.raises(UserError, match="active key named"):
        create_key(ws, "crm", ["check"])
    with pytest.raises(UserError, match="unknown scope"):
        create_key(ws, "x", ["root"])
    assert revoke_key(ws, key_id)["revoked_at"] and verify_key(ws, plain) is None
    with pytest.raises(UserError, match="already revoked"):
        revoke_key(ws, key_id)
    assert [e["what"] for e in ws.events() if e["what"].startswith("apikey.")] == ["apikey.create", "apikey.revoke"]
    assert list_keys(ws)[0]["name"] == "crm" and "hash" not in list_keys(ws)[0]
    ws.close()


def test_check_outcome_is_recorded_under_the_key_name_and_traced_from_a_later_complaint(server):
    import datetime as dt

    from xiaobao.complaints_engine.handling_tables import now_local

    c, k = server["client"], server["keys"]
    ingest, checker = {"X-API-Key": k["dialer"]}, {"X-API-Key": k["checker"]}
    earlier = (now_local() - dt.timedelta(days=2)).isoformat()
    assert c.post("/v1/complaints", json=[{"id": "HEED-1", "customer_id": "CU-HEED", "text": "重复扣费",
                                           "received_at": earlier}], headers=ingest).json()["added"] == 1
    given = c.post("/v1/check", json={"customer_id": "CU-HEED", "touchpoint": "fee_charge"}, headers=checker).json()
    assert given["level"] == "warn" and given["check_id"] > 0
    url = f"/v1/checks/{given['check_id']}/outcome"
    r = c.post(url, json={"outcome": "overridden", "note": "charged anyway"}, headers=checker)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert (rec["check_id"], rec["outcome"], rec["by"], rec["note"], rec["previous"]) == \
        (given["check_id"], "overridden", "checker", "charged anyway", None)
    err = _err(c.post(url, json={"outcome": "shrugged"}, headers=checker), 422, "unknown_outcome")
    assert err["detail"]["outcomes"] == ["followed", "overridden", "not_contacted"] and "shrugged" in err["message"]
    assert "424242" in _err(c.post("/v1/checks/424242/outcome", json={"outcome": "followed"}, headers=checker),
                            404, "not_found")["message"]
    _err(c.post("/v1/checks/abc/outcome", json={"outcome": "followed"}, headers=checker), 422, "invalid_request")
    _err(c.post(url, json={"note": "no outcome"}, headers=checker), 422, "invalid_request")
    _err(c.post(url, json={"outcome": "followed"}), 401, "unauthorized")
    with Workspace(server["home"]) as ws:
        rows = ws.conn.execute('SELECT outcome, "by", note FROM check_outcomes WHERE check_id = ?',
                               (given["check_id"],)).fetchall()
        events = [e for e in ws.events("prevention.outcome") if e["ids"] == [given["check_id"]]]
    assert rows == [("overridden", "checker", "charged anyway")]  # the refused requests wrote nothing
    assert len(events) == 1 and events[0]["command"] == "checker"
    # a complaint that arrives after the overridden warning is traced back to it
    later = [{"id": "HEED-2", "customer_id": "CU-HEED", "text": "明知投诉仍扣费", "received_at": now_local().isoformat()}]
    assert c.post("/v1/complaints", json=later, headers=ingest).json()["added"] == 1
    profile = c.get("/v1/customers/CU-HEED", headers=ingest).json()
    assert {x["id"]: x["warnings_before"] for x in profile["complaints"]} == \
        {"HEED-2": "warned_and_overridden", "HEED-1": "not_warned"}
    assert profile["checks"][0]["outcome"]["outcome"] == "overridden"
    spec = c.get("/openapi.json").json()
    assert "/v1/checks/{check_id}/outcome" in spec["paths"]


@pytest.mark.slow
def test_voice_lookup_over_http_names_the_enrolled_caller(server, tmp_path):
    """A recording uploaded over HTTP is decoded, embedded and searched like `xiaobao voice search`."""
    from xiaobao.voiceprint import enroll_files
    from xiaobao.voiceprint.embedders import RESEMBLYZER_SPACE

    def speak(voice, text, path):
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
        return path

    enrol = [speak("en+f2", "Hello, I am calling about the loan on my account, the interest is far too high.",
                   tmp_path / "li_1.wav"),
             speak("en+f2", "My card number ends in four five six, please stop the collection calls today.",
                   tmp_path / "li_2.wav")]
    other = speak("en-us+m7", "Hello, I am calling about the loan on my account, the interest is far too high.",
                  tmp_path / "wang.wav")
    with Workspace(server["home"]) as ws:
        li = ws.add_subject("agent Li", kind="agent")
        wang = ws.add_subject("agent Wang", kind="agent")
        enroll_files(ws, li, enrol[:1])
        enroll_files(ws, wang, [other])
    import imageio_ffmpeg

    call = tmp_path / "call.mp3"   # li's other call, never enrolled; MP3 keeps it under the body limit
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(enrol[1]), "-b:a", "32k",
                    str(call)], check=True)
    assert call.stat().st_size < MAX_BODY
    c, key = server["client"], {"X-API-Key": server["keys"]["dialer"]}
    with open(call, "rb") as fh:
        r = c.post("/v1/lookup/voice", files={"file": ("call.mp3", fh, "audio/mpeg")}, data={"top": "2"}, headers=key)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["file"] == "call.mp3" and res["space"] == RESEMBLYZER_SPACE and res["speech_seconds"] > 1.5
    assert [m["subject_id"] for m in res["matches"]][:1] == [li], res["matches"]
    assert res["matches"][0]["score"] > res["matches"][1]["score"]
    err = _err(c.post("/v1/lookup/voice", files={"file": ("broken.wav", b"RIFF nonsense", "audio/wav")},
                      headers=key), 422, "invalid_input")
    assert err["message"].startswith("broken.wav")
    _err(c.post("/v1/lookup/voice", files={"file": ("call.wav", b"x", "audio/wav")},
                headers={"X-API-Key": server["keys"]["checker"]}), 403, "forbidden")
