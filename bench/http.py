"""Serve the real app with gunicorn on loopback and load it with wrk, route by route.

Every scenario runs against the same server (same workers, threads, preloaded app), in rounds
that alternate the routes so that noise on a shared machine hits them alike. The server's CPU time
per request is read from /proc (master and workers) around each measured run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .world import OUT

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk.lua"
REPO = HERE.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Scenario:
    name: str
    method: str
    path: str
    bodies_file: Path | None = None  # one JSON body per line; None for GET


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _has_serve_command() -> bool:
    try:
        from service.cli import serve_command  # noqa: F401
    except ImportError:
        return False
    return True


class Server:
    """A gunicorn server of service.wsgi's app on 127.0.0.1, started and stopped by the bench."""

    def __init__(
        self, database_url: str, token: str, workers: int, threads: int, log: Path
    ) -> None:
        self.port = free_port()
        self.bind = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.bind}"
        self.token = token
        self.log_path = log
        self.prom_dir = OUT / f"prometheus-{os.getpid()}"
        shutil.rmtree(self.prom_dir, ignore_errors=True)
        self.prom_dir.mkdir(parents=True)
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "AUTHZ_API_KEYS": f"bench:check:{token}",
            "PROMETHEUS_MULTIPROC_DIR": str(self.prom_dir),
            "PYTHONPATH": str(REPO),
        }
        self.env.pop("AUTHZ_DEV_MODE", None)
        if _has_serve_command():
            self.command = [
                sys.executable,
                "-m",
                "service",
                "serve",
                "--bind",
                self.bind,
                "--workers",
                str(workers),
                "--threads",
                str(threads),
            ]
            self.launcher = "yuki-authz serve"
        else:
            self.command = [
                sys.executable,
                "-m",
                "gunicorn",
                "--preload",
                "--bind",
                self.bind,
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--access-logfile",
                "-",
                "service.wsgi:app",
            ]
            self.launcher = "gunicorn service.wsgi:app --preload"
        self.workers = workers
        self.threads = threads
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command,
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.proc.returncode}); see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                    if r.status == 200 and len(self.worker_pids()) >= self.workers:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer /healthz in 60 s; see {self.log_path}")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session, started above
                self.proc.wait(timeout=10)
        self._log.close()
        shutil.rmtree(self.prom_dir, ignore_errors=True)
        self.proc = None

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in children.split()]

    def cpu_seconds(self) -> float:
        """User+system CPU of the master and its live workers."""
        assert self.proc is not None
        total = 0
        for pid in [self.proc.pid, *self.worker_pids()]:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    def request(self, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
        req = urllib.request.Request(self.base + path, data=body, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, err.read()[:300]


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    server: Server, sc: Scenario, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        server.base,
        "--",
        sc.method,
        sc.path,
        server.token,
    ]
    if sc.bodies_file is not None:
        args.append(str(sc.bodies_file))
    cpu0 = server.cpu_seconds()
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=False)
    cpu1 = server.cpu_seconds()
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    res = json.loads(line.removeprefix("BENCH_RESULT "))
    return _summarize(res, cpu1 - cpu0, "wrk")


def _summarize(res: dict[str, Any], cpu: float, tool: str) -> dict[str, Any]:
    seconds = res["duration_us"] / 1e6
    errors = sum(res["errors"].values())
    return {
        "tool": tool,
        "requests": res["requests"],
        "seconds": round(seconds, 3),
        "rps": res["requests"] / seconds if seconds else 0.0,
        "p50_ms": res["latency_us"]["p50"] / 1000,
        "p90_ms": res["latency_us"]["p90"] / 1000,
        "p99_ms": res["latency_us"]["p99"] / 1000,
        "mean_ms": res["latency_us"]["mean"] / 1000,
        "errors": res["errors"],
        "error_count": errors,
        "server_cpu_s": round(cpu, 3),
        "server_cpu_us_per_request": cpu / res["requests"] * 1e6 if res["requests"] else None,
    }


# -- fallback: a small multi-process Python client (used only when wrk is missing) -----------
def _client_process(
    base: str,
    sc_path: str,
    method: str,
    bodies: list[bytes],
    token: str,
    seconds: float,
    start: int,
    queue: Any,
) -> None:
    import http.client

    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    i = start
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    end = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while time.perf_counter() < end:
        body = bodies[i % len(bodies)] if bodies else None
        i += 1
        t0 = time.perf_counter()
        try:
            conn.request(method, sc_path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 400:
                errors += 1
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
        except OSError:
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
        latencies.append(time.perf_counter() - t0)
    queue.put((latencies, errors))


def run_python_client(
    server: Server, sc: Scenario, seconds: float, connections: int
) -> dict[str, Any]:
    bodies = sc.bodies_file.read_bytes().splitlines() if sc.bodies_file else []
    queue: Any = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(
            target=_client_process,
            args=(server.base, sc.path, sc.method, bodies, server.token, seconds, k * 997, queue),
        )
        for k in range(connections)
    ]
    cpu0 = server.cpu_seconds()
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    cpu1 = server.cpu_seconds()
    lat = sorted(x for r in results for x in r[0])

    def pct(q: float) -> int:
        return int(lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6) if lat else 0

    res = {
        "requests": len(lat),
        "duration_us": int(elapsed * 1e6),
        "bytes": 0,
        "errors": {"status": sum(r[1] for r in results)},
        "latency_us": {
            "mean": sum(lat) / len(lat) * 1e6 if lat else 0,
            "p50": pct(0.5),
            "p90": pct(0.9),
            "p99": pct(0.99),
        },
    }
    return _summarize(res, cpu1 - cpu0, "python-client")


def load_test(
    server: Server, sc: Scenario, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    if wrk_available():
        return run_wrk(server, sc, seconds, connections, threads)
    return run_python_client(server, sc, seconds, connections)
