"""Webhook ingest: `guarantor run` (SQLite, durable group commit) against a bare aiohttp
handler, with the same load generator in the same run.

    .venv/bin/python bench/webhook_ingest.py [--duration 6] [--connections 32]

Load: wrk (Debian package `wrk`), one thread, 32 connections, posting distinct signed
`order.agreed` events (pre-signed, so the load generator does no crypto). Prints req/s and
p50/p99 latency for both, the ratio, and checks that every acknowledged event is stored. A
third server in the same run (`_validating_server.py`) verifies and validates without storing:
the ceiling for checking events in-process, printed as its own ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PATH = "/webhooks/marketplace"
TARGET_RATIO, TARGET_P99_MS = 0.75, 25.0
LUA_CHUNK = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


def order_body(n: int) -> str:
    return json.dumps(
        {
            "type": "order.agreed",
            "timestamp": "2026-11-25T10:00:00Z",
            "data": {
                "order_id": f"bench-{n}",
                "gig_url": f"https://opentaskai.com/gigs/{n}",
                "seller": {"email": f"seller{n}@example.com", "name": "Seller"},
                "buyer": {"email": f"buyer{n}@example.com", "name": "Buyer"},
                "amount": "120.50",
                "currency": "USD",
                "delivery_due": "2026-12-20T12:00:00+00:00",
                "deliverables": "A logo in SVG and PNG, three revisions.",
                "agreed_at": "2026-11-25T09:59:00Z",
            },
        },
        separators=(",", ":"),
    )


def lua_script(count: int, directory: Path) -> Path:
    """A wrk script that sends `count` distinct pre-signed events, then wraps around."""
    webhook, now = Webhook(SECRET), datetime.now(UTC)
    lines = ["local r = {}"]
    for n in range(count):
        if n % LUA_CHUNK == 0:  # LuaJIT allows 65,536 constants per function: one function per chunk
            lines.append(f"{'end)(); ' if n else ''}(function()")
        body, msg_id = order_body(n), f"msg_bench_{n}"
        signature = webhook.sign(msg_id, now, body)
        request = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"webhook-id: {msg_id}\r\nwebhook-timestamp: {int(now.timestamp())}\r\n"
            f"webhook-signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        )
        lines.append(f"r[{n + 1}] = {json.dumps(request)}")
    lines.append("end)();")
    lines.append("""
local i = 0
ok202, ok200, other = 0, 0, 0
local threads = {}
setup = function(thread) table.insert(threads, thread) end
request = function() i = i % #r + 1; return r[i] end
response = function(status)
  if status == 202 then ok202 = ok202 + 1 elseif status == 200 then ok200 = ok200 + 1 else other = other + 1 end
end
done = function()
  for _, t in ipairs(threads) do
    local counts = {[202] = t:get("ok202"), [200] = t:get("ok200"), [0] = t:get("other")}
    for status, n in pairs(counts) do io.write(string.format("status %d %d\\n", status, n)) end
  end
end
""")
    path = directory / "events.lua"
    path.write_text("\n".join(lines))
    return path


def run_wrk(port: int, script: Path, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def percentile(p: str) -> float:
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(match.group(1)) * units[match.group(2)] if match else float("nan")

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    statuses = {int(s): int(c) for s, c in re.findall(r"^status (\d+) (\d+)$", out, re.M)}
    if not statuses:
        raise SystemExit(f"wrk did not run the event script:\n{out}")
    return {"rps": rps, "p50": percentile("50"), "p99": percentile("99"), "statuses": statuses}  # type: ignore[dict-item]


def measure(
    name: str, command: list[str], env: dict[str, str], port: int, script: Path, args: argparse.Namespace
) -> dict:
    process = subprocess.Popen(
        command,
        env=env,
        cwd=env.get("BENCH_CWD", str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port)
        result = run_wrk(port, script, args.duration, args.connections)
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(
        f"{name:>10}: {result['rps']:9.0f} req/s   p50 {result['p50']:6.2f} ms   p99 {result['p99']:6.2f} ms   "
        f"statuses {result['statuses']}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=150_000, help="distinct signed events to prepare")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        script = lua_script(args.events, directory)
        bare_port, checks_port, app_port = free_port(), free_port(), free_port()
        env = os.environ | {"BENCH_CWD": str(ROOT)}
        bare = measure(
            "bare", [sys.executable, str(ROOT / "bench/_bare_server.py"), str(bare_port)], env, bare_port, script, args
        )
        checking = measure(
            "checks",
            [sys.executable, str(ROOT / "bench/_validating_server.py"), str(checks_port)],
            env | {"MARKETPLACE_WEBHOOK_SECRETS": SECRET, "PYTHONPATH": str(ROOT)},
            checks_port,
            script,
            args,
        )
        database = directory / "guarantor.db"
        app_env = env | {
            "MARKETPLACE_WEBHOOK_SECRETS": SECRET,
            "WEBHOOK_PORT": str(app_port),
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "DISCORD_TOKEN": "",
            "BENCH_CWD": tmp,
        }
        command = [sys.executable, *os.environ.get("BENCH_APP", "-m bot run").split()]
        app = measure("guarantor", command, app_env, app_port, script, args)

        acknowledged = sum(c for s, c in app["statuses"].items() if s == 202)
        with sqlite3.connect(database) as db:
            stored = db.execute("SELECT count(*) FROM webhook_events").fetchone()[0]
        ratio = app["rps"] / bare["rps"]
        print(
            f"     ratio: {ratio:.2f} of bare aiohttp (target >= {TARGET_RATIO})   "
            f"p99 {app['p99']:.2f} ms (target < {TARGET_P99_MS} ms)"
        )
        print(
            f"    checks: {checking['rps'] / bare['rps']:.2f} of bare aiohttp for verifying and validating alone "
            "(no storage): the ceiling for any receiver that checks events in-process"
        )
        print(
            f"durability: {acknowledged} acknowledged with 202, {stored} stored "
            f"({'ok' if stored >= acknowledged else 'LOST EVENTS'})"
        )


if __name__ == "__main__":
    main()
