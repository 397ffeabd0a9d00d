"""Touchpoint checks over HTTP on loopback against the in-process library call.

Builds a temporary workspace with 100,000 customers carrying 1-3 consumer-protection tags,
10,000 complaints (about half open, with risk tiers) and 200 rings of 10 members, creates an
API key, and starts ``xiaobao serve`` in its own process. A second process then drives an
open-loop load: request i is due at ``t0 + i / rate`` whatever happened to earlier ones, and
its latency is counted from that due time (so a stall shows up in the figures instead of
silently lowering the load). Connections are kept alive. It reports:

* open loop at ``--rate`` req/s for ``--seconds``: checks/s, p50/p99/max latency, errors;
  the floor is p99 < 20 ms at 200 req/s with no error;
* closed loop (``--concurrency`` requests in flight, ``--capacity-seconds``): the most checks/s
  the server gives here;
* in-process: ``xiaobao.check`` (the library call, on an open workspace) and the service's own
  in-process path (``run_check`` with the service's policy cache), p50/p99 and calls/s, on
  the same workspace; both run ``xiaobao.prevention.check.run_check``;
* ratios: HTTP capacity / library calls per second, HTTP p50 / library p50, and HTTP capacity /
  the service's in-process path (what HTTP, JSON and the client cost on top);
* that every answered check left its row in ``checks``.

    .venv/bin/python benchmarks/bench_check.py [--customers 100000] [--rate 200] [--seconds 25] [--json]
    .venv/bin/python benchmarks/bench_check.py --in-process-only --prior-checks 200000
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TAGS = ["高投诉风险", "重复投诉", "监管投诉", "高风险客户", "人工复核", "敏感话术", "越级投诉风险", "无授权代理"]
TOUCHPOINTS = ["collection_call", "telemarketing", "fee_charge", "service_call", "app_message"]


def build_workspace(home: Path, customers: int, seed: int = 7) -> None:
    """Customers with tags, complaints and rings, inserted straight into the engine's tables."""
    from xiaobao import Workspace
    from xiaobao.complaints_engine import store

    rnd = random.Random(seed)
    ws = Workspace(home)
    store.ensure_tables(ws)
    at = store.now_iso()
    with ws.transaction():
        c = ws.conn
        c.executemany("INSERT OR IGNORE INTO customer_tags VALUES (?, ?, ?, ?)",
                      [(f"CU{i:06d}", t, "bench", at) for i in range(customers)
                       for t in rnd.sample(TAGS, rnd.randint(1, 3))])
        complaints = [(f"B{j:06d}", f"CU{rnd.randrange(customers):06d}", rnd.choice(["open", "closed"]),
                       rnd.choice(["high", "medium", "low", None]), at) for j in range(customers // 10)]
        c.executemany("INSERT INTO complaints (id, customer_id, status, risk_tier, ingested_at) VALUES (?, ?, ?, ?, ?)",
                      complaints)
        for r in range(200):
            ring_id = c.execute("INSERT INTO rings (status, n_complaints, first_seen_at, updated_at) "
                                "VALUES ('candidate', 10, ?, ?)", (at, at)).lastrowid
            c.executemany("INSERT OR IGNORE INTO ring_members VALUES (?, ?, ?)",
                          [(ring_id, k[0], k[1]) for k in rnd.sample(complaints, 10)])
    ws.close()


def fill_check_log(home: Path, customers: int, n: int, seed: int = 5) -> None:
    """``n`` earlier checks spread over the last four weeks, as a log in use for a while holds."""
    if not n:
        return
    from datetime import datetime, timedelta, timezone

    from xiaobao import Workspace
    from xiaobao.prevention.facts import ensure_tables

    rnd = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with Workspace(home) as ws:
        ensure_tables(ws)
        with ws.transaction():
            ws.conn.executemany(
                "INSERT INTO checks (customer_id, touchpoint, asked_by, asked_at, level, result) VALUES (?, ?, ?, ?, ?, ?)",
                [(f"CU{rnd.randrange(customers):06d}", rnd.choice(TOUCHPOINTS), "bench-history",
                  (now - timedelta(seconds=rnd.randrange(28 * 86400))).isoformat(), "none", "{}")
                 for _ in range(n)])


def percentiles(values: list[float]) -> dict:
    v = sorted(values)
    if not v:
        return {"n": 0}
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    return {"n": len(v), "p50_ms": round(pick(0.50) * 1e3, 3), "p99_ms": round(pick(0.99) * 1e3, 3),
            "max_ms": round(v[-1] * 1e3, 3)}


def bodies(customers: int, n: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [json.dumps({"customer_id": f"CU{rnd.randrange(customers):06d}",
                        "touchpoint": rnd.choice(TOUCHPOINTS)}).encode() for _ in range(n)]


# ------------------------------------------------------------------ load generator (second process)
async def _open_loop(url: str, key: str, rate: float, seconds: float, customers: int, warmup: int) -> dict:
    import httpx

    n = int(rate * seconds)
    payloads = bodies(customers, n + warmup, seed=11)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10.0) as client:
        for body in payloads[:warmup]:  # open the connection, warm the server's caches
            (await client.post("/v1/check", content=body)).raise_for_status()
        latencies, errors = [], []
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05

        async def one(i: int, body: bytes):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                r = await client.post("/v1/check", content=body)
                if r.status_code != 200:
                    errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
                    return
            except Exception as exc:  # a refused or dropped connection is an error, counted
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            latencies.append(loop.time() - due)

        await asyncio.gather(*(one(i, b) for i, b in enumerate(payloads[warmup:])))
        elapsed = loop.time() - t0
    return {"mode": "open_loop", "offered_rate": rate, "requests": n, "ok": len(latencies),
            "errors": len(errors), "error_samples": errors[:5], "elapsed_s": round(elapsed, 2),
            "checks_per_s": round(len(latencies) / elapsed, 1), **percentiles(latencies), "warmup": warmup}


async def _closed_loop(url: str, key: str, seconds: float, concurrency: int, customers: int) -> dict:
    import httpx

    payloads = bodies(customers, 50_000, seed=13)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    latencies, errors = [], []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10.0) as client:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        counter = iter(range(10 ** 9))

        async def worker():
            while loop.time() < end:
                body = payloads[next(counter) % len(payloads)]
                start = loop.time()
                try:
                    r = await client.post("/v1/check", content=body)
                    if r.status_code != 200:
                        errors.append(r.status_code)
                        continue
                except Exception as exc:
                    errors.append(type(exc).__name__)
                    continue
                latencies.append(loop.time() - start)

        t0 = loop.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = loop.time() - t0
    return {"mode": "closed_loop", "concurrency": concurrency, "ok": len(latencies), "errors": len(errors),
            "elapsed_s": round(elapsed, 2), "checks_per_s": round(len(latencies) / elapsed, 1),
            **percentiles(latencies)}


def drive(args) -> None:
    if args.drive == "open":
        out = asyncio.run(_open_loop(args.url, args.key, args.rate, args.seconds, args.customers, args.warmup))
    else:
        out = asyncio.run(_closed_loop(args.url, args.key, args.capacity_seconds, args.concurrency, args.customers))
    print(json.dumps(out))


def run_driver(mode: str, url: str, key: str, args) -> dict:
    cmd = [sys.executable, __file__, "--drive", mode, "--url", url, "--key", key, "--rate", str(args.rate),
           "--seconds", str(args.seconds), "--customers", str(args.customers), "--warmup", str(args.warmup),
           "--concurrency", str(args.concurrency), "--capacity-seconds", str(args.capacity_seconds)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ in-process baselines
def in_process(home: Path, customers: int, n: int) -> dict:
    from xiaobao import Workspace, check
    from xiaobao.service.app import DEFAULT_POLICIES
    from xiaobao.prevention.check import run_check
    from xiaobao.prevention.policies import policy_cache

    ws = Workspace(home)
    reqs = [json.loads(b) for b in bodies(customers, n, seed=17)]
    out = {}
    cache = policy_cache(DEFAULT_POLICIES)
    for name, call in (
            ("library_check", lambda r: check(r["customer_id"], r["touchpoint"], workspace=ws, asked_by="bench")),
            ("service_path_in_process", lambda r: run_check(ws, r["customer_id"], r["touchpoint"],
                                                            policies=cache.get(), asked_by="bench"))):
        for r in reqs[:50]:
            call(r)
        times = []
        t_all = time.perf_counter()
        for r in reqs:
            t = time.perf_counter()
            call(r)
            times.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - t_all
        out[name] = {"calls": n, "calls_per_s": round(n / elapsed, 1), **percentiles(times)}
    ws.close()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early:\n{proc.stderr.read()}")
        try:
            if httpx.get(url + "/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("server did not answer /v1/health in time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=200.0, help="Offered load, requests per second.")
    ap.add_argument("--seconds", type=float, default=25.0, help="Length of the open-loop run.")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4, help="Requests in flight in the capacity run.")
    ap.add_argument("--capacity-seconds", type=float, default=8.0)
    ap.add_argument("--in-process-n", type=int, default=2000)
    ap.add_argument("--prior-checks", type=int, default=0,
                    help="Fill the check log with this many earlier checks first (a log that has grown).")
    ap.add_argument("--in-process-only", action="store_true", help="Skip the HTTP runs.")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--drive", choices=["open", "closed"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.drive:
        return drive(args)

    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        home = Path(tmp) / "ws"
        t = time.perf_counter()
        build_workspace(home, args.customers)
        fill_check_log(home, args.customers, args.prior_checks)
        build_s = time.perf_counter() - t
        if args.in_process_only:
            local = in_process(home, args.customers, args.in_process_n)
            print(json.dumps({"customers": args.customers, "prior_checks": args.prior_checks,
                              "in_process": local}, indent=2))
            return
        from xiaobao import Workspace
        from xiaobao.service.keys import create_key

        with Workspace(home) as ws:
            _, key = create_key(ws, "bench-driver", ["check"])
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        xiaobao = str(Path(sys.executable).with_name("xiaobao"))
        server = subprocess.Popen([xiaobao, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_ready(url, server)
            open_loop = run_driver("open", url, key, args)
            capacity = run_driver("closed", url, key, args)
        finally:
            server.terminate()
            server.wait(timeout=30)
        with Workspace(home) as ws:
            logged = ws.conn.execute("SELECT COUNT(*) FROM checks WHERE asked_by = 'bench-driver'").fetchone()[0]
        answered = open_loop["ok"] + open_loop["warmup"] + capacity["ok"]
        local = in_process(home, args.customers, args.in_process_n)

    lib = local["library_check"]
    result = {
        "customers": args.customers, "build_s": round(build_s, 2),
        "http_open_loop": open_loop, "http_capacity": capacity, "in_process": local,
        "checks_logged": logged, "checks_answered": answered,
        "ratio_http_capacity_vs_library_rate": round(capacity["checks_per_s"] / lib["calls_per_s"], 3),
        "ratio_http_p50_vs_library_p50": round(open_loop["p50_ms"] / lib["p50_ms"], 3),
        "ratio_http_capacity_vs_service_path_rate": round(
            capacity["checks_per_s"] / local["service_path_in_process"]["calls_per_s"], 3),
        "floor_p99_under_20ms_no_errors": open_loop["p99_ms"] < 20 and open_loop["errors"] == 0
                                           and abs(args.rate - 200) < 1e-9 and logged == answered,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    o, c = open_loop, capacity
    print(f"workspace: {args.customers} customers (built in {build_s:.1f} s)")
    print(f"HTTP open loop {o['offered_rate']:.0f} req/s x {args.seconds:.0f} s: {o['checks_per_s']} checks/s, "
          f"p50 {o['p50_ms']} ms, p99 {o['p99_ms']} ms, max {o['max_ms']} ms, errors {o['errors']}")
    print(f"HTTP capacity ({c['concurrency']} in flight): {c['checks_per_s']} checks/s, p50 {c['p50_ms']} ms, "
          f"p99 {c['p99_ms']} ms, errors {c['errors']}")
    for name, r in local.items():
        print(f"in-process {name}: {r['calls_per_s']} calls/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
    print(f"ratio HTTP capacity / library calls per s: {result['ratio_http_capacity_vs_library_rate']}")
    print(f"ratio HTTP p50 / library p50: {result['ratio_http_p50_vs_library_p50']}")
    print(f"ratio HTTP capacity / service path in process: {result['ratio_http_capacity_vs_service_path_rate']}")
    print(f"checks logged {logged} of {answered} answered")
    print(f"floor (p99 < 20 ms at 200 req/s, no errors): {'met' if result['floor_p99_under_20ms_no_errors'] else 'MISSED'}")


if __name__ == "__main__":
    main()
