"""Webhook ingest: `guarantor run` (SQLite, durable group commit) against a bare aiohttp
handler, with the same load generator in the same run.

    .venv/bin/python bench/webhook_ingest.py [--rounds 3] [--duration 5] [--connections 32]

Each server's CPU per request answered (utime + stime of its process, all threads, from `/proc`)
is printed beside requests/s: it is steadier while wrk shares the two cores. Target: guarantor's CPU
per request at most twice the bare handler's (>= 0.5 of bare), p99 < 25 ms.

Load: wrk (Debian package `wrk`), one thread, 32 connections, posting distinct signed
`order.agreed` events (pre-signed, so the load generator does no crypto). Each round measures,
one after another, the bare handler, a third server that verifies and validates like guarantor
but stores nothing (`_validating_server.py`), and `guarantor run` on a fresh SQLite file. The
ratios are taken within each round and their median printed (this machine's speed drifts by
tens of percent from minute to minute), with the p99s, and every event answered 202 is checked
to be in the database once the server has stopped.
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PATH = "/webhooks/marketplace"
TARGET_CPU_RATIO, TARGET_P99_MS = 0.5, 25.0  # bare's server CPU per request / guarantor's; p99 latency
LUA_CHUNK = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen[str] | None = None) -> None:
    """Until something listens on `port` (`process`: and has not exited). A connection to a port nobody listens on
    can "succeed" by connecting to itself (TCP simultaneous open, when the kernel picks `port` as its source port):
    that one does not count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read()[-2000:] if process.stderr else ""
            raise SystemExit(f"server for port {port} exited with {process.returncode} before listening:\n{stderr}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0 and s.getsockname() != s.getpeername():
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


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far, user + system, all its threads (`/proc/PID/stat` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(process: subprocess.Popen[str], port: int, script: Path, duration: int, connections: int) -> dict:
    """wrk against the server, and the server's CPU per request answered (µs): steadier than requests/s
    while wrk shares the machine's cores with it."""
    before = cpu_seconds(process.pid)
    result = run_wrk(port, script, duration, connections)
    answered = sum(result["statuses"].values()) or 1  # type: ignore[union-attr]
    result["cpu_us"] = (cpu_seconds(process.pid) - before) / answered * 1e6
    return result


@contextmanager
def serving(command: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        command,
        env=env,
        cwd=env.get("BENCH_CWD", str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, process=process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def show(name: str, result: dict) -> None:
    print(
        f"{name:>10}: {result['rps']:9.0f} req/s   {result['cpu_us']:6.1f} µs CPU/req   p50 {result['p50']:6.2f} ms   "
        f"p99 {result['p99']:6.2f} ms   statuses {result['statuses']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per server per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of bare, checks, guarantor, one after another")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=150_000, help="distinct signed events to prepare")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        directory = Path(tmp)
        script = lua_script(args.events, directory)
        ports = {name: free_port() for name in ("bare", "checks", "guarantor")}
        env = os.environ | {"BENCH_CWD": str(ROOT)}
        # The baselines keep no state: up for the whole run. guarantor gets a fresh database and
        # process per round, so no round's backlog is being processed while another server is measured.
        bare = [sys.executable, str(ROOT / "bench/_bare_server.py"), str(ports["bare"])]
        processes = {"bare": servers.enter_context(serving(bare, env, ports["bare"]))}
        processes["checks"] = servers.enter_context(
            serving(
                [sys.executable, str(ROOT / "bench/_validating_server.py"), str(ports["checks"])],
                env | {"MARKETPLACE_WEBHOOK_SECRETS": SECRET, "PYTHONPATH": str(ROOT)},
                ports["checks"],
            )
        )
        guarantor = [sys.executable, *os.environ.get("BENCH_APP", "-m bot run").split()]
        results: dict[str, list[dict]] = {"bare": [], "checks": [], "guarantor": []}
        acknowledged = stored = 0
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}/{args.rounds}")
            for name in ("bare", "checks"):
                results[name].append(measured(processes[name], ports[name], script, args.duration, args.connections))
                show(name, results[name][-1])
            database = directory / f"guarantor-{round_no}.db"
            app_env = env | {
                "MARKETPLACE_WEBHOOK_SECRETS": SECRET,
                "WEBHOOK_PORT": str(ports["guarantor"]),
                "LOG_LEVEL": "WARNING",
                "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
                "DISCORD_TOKEN": "",
                "BENCH_CWD": tmp,
            }
            with serving(guarantor, app_env, ports["guarantor"]) as app:
                results["guarantor"].append(measured(app, ports["guarantor"], script, args.duration, args.connections))
            show("guarantor", results["guarantor"][-1])
            # Stopped (SIGTERM drains the writer): every event answered 202 must be in the file.
            acknowledged += results["guarantor"][-1]["statuses"].get(202, 0)
            with sqlite3.connect(database) as db:
                stored += db.execute("SELECT count(*) FROM webhook_events").fetchone()[0]

        def median(values: list[float]) -> float:
            return sorted(values)[len(values) // 2]

        def listed(values: list[float], digits: int) -> str:
            return ", ".join(f"{v:.{digits}f}" for v in values)

        ratios = [g["rps"] / b["rps"] for g, b in zip(results["guarantor"], results["bare"], strict=True)]
        ceilings = [c["rps"] / b["rps"] for c, b in zip(results["checks"], results["bare"], strict=True)]
        cpu = [b["cpu_us"] / g["cpu_us"] for g, b in zip(results["guarantor"], results["bare"], strict=True)]
        cpu_ceilings = [b["cpu_us"] / c["cpu_us"] for c, b in zip(results["checks"], results["bare"], strict=True)]
        p99s = [g["p99"] for g in results["guarantor"]]
        print(
            f"       cpu: {median(cpu):.2f} of bare aiohttp by server CPU per request, median of {args.rounds} "
            f"rounds ({listed(cpu, 2)}; target >= {TARGET_CPU_RATIO}); checks alone {median(cpu_ceilings):.2f}"
        )
        print(f"     ratio: {median(ratios):.2f} of bare aiohttp by requests/s ({listed(ratios, 2)})")
        print(f"       p99: {median(p99s):.2f} ms, median ({listed(p99s, 1)}; target < {TARGET_P99_MS} ms)")
        print(
            f"    checks: {median(ceilings):.2f} of bare aiohttp verifying and validating alone, storing nothing "
            f"({listed(ceilings, 2)}): the ceiling for any receiver that checks events in its event loop"
        )
        print(
            f"durability: {acknowledged} acknowledged with 202, {stored} stored "
            f"({'ok' if stored >= acknowledged else 'LOST EVENTS'})"
        )


if __name__ == "__main__":
    main()
