"""Serve the real app with gunicorn on loopback and load it with wrk, scenario by scenario.

Every scenario runs against the same server (same workers, threads, preloaded app), in rounds
that alternate the scenarios so that noise on a shared machine hits them alike. The server's CPU
time per request is read from /proc (master and workers) around each measured run, and its
counters (answers by route and status, decision-cache hits and misses) from /metrics.

A scenario's requests are a stream (one line each, see bench/wrk.lua) that each run continues
where the previous one stopped, so repeated checks come from the workload's distribution, not
from replaying the same first lines run after run.
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
from collections import Counter
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
    bodies_file: Path | None = None  # the stream: one request per line (wrk.lua); None for GET
    checks_per_request: int = 1  # decisions per authorize answer (1000 for a batch)
    position: int = 0  # the next line of the stream: each run continues from here


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
        self,
        database_url: str,
        token: str,
        workers: int,
        threads: int,
        log: Path,
        admin_token: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.bind = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.bind}"
        self.token = token
        self.admin_token = admin_token
        self.log_path = log
        self.prom_dir = OUT / f"prometheus-{os.getpid()}"
        shutil.rmtree(self.prom_dir, ignore_errors=True)
        self.prom_dir.mkdir(parents=True)
        keys = f"bench:check:{token}"
        if admin_token:
            keys += f",bench-admin:admin:{admin_token}"  # governed writes need scope admin
        self.env = {
            **os.environ,
            **(extra_env or {}),
            "DATABASE_URL": database_url,
            "AUTHZ_API_KEYS": keys,
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

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        admin: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request on a new connection (the check key, or the admin key for writes)."""
        req = urllib.request.Request(self.base + path, data=body, method=method)
        req.add_header("Authorization", f"Bearer {self.admin_token if admin else self.token}")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, err.read()[:300]

    def request_line(self, sc: Scenario, line: bytes) -> tuple[int, Any]:
        """Send one line of a scenario's stream the way wrk.lua does."""
        if line.startswith(b"!"):
            method, path, acting, body = line[1:].decode().split(" ", 3)
            return self.request(
                method, path, body.encode(), admin=True, headers={"X-Acting-User": acting}
            )
        return self.request(sc.method, sc.path, line or None)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until the requests wrk left in flight are answered (the workers' CPU rests)."""
        deadline = time.monotonic() + timeout
        cpu = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.cpu_seconds()
            if now - cpu < 0.03:
                return
            cpu = now

    def scrape(self) -> Counter[tuple[str, ...]]:
        """Read the server's counters from /metrics (summed over the workers)."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(self.base + "/metrics", timeout=30) as r:
            text = r.read().decode()
        return _counters(text_string_to_metric_families(text))

    def scrape_workers(self) -> dict[int, Counter[tuple[str, ...]]]:
        """The same counters per worker, from the files each worker writes for /metrics."""
        from prometheus_client.mmap_dict import MmapedDict
        from prometheus_client.samples import Sample

        out: dict[int, Counter[tuple[str, ...]]] = {}
        workers = set(self.worker_pids())
        for path in self.prom_dir.glob("counter_*.db"):
            pid = int(path.stem.rsplit("_", 1)[1])
            if pid not in workers:
                continue  # the master's (labels made before the fork) holds nothing
            samples = []
            for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
                _metric, name, labels, _help = json.loads(key)
                samples.append(Sample(name, labels, value))
            out[pid] = _counters([_Family(samples)])
        return out


class _Family:
    def __init__(self, samples: list[Any]) -> None:
        self.samples = samples


def _counters(families: Any) -> Counter[tuple[str, ...]]:
    """Keep the counters the bench reads: HTTP answers by route and status, cache outcomes."""
    out: Counter[tuple[str, ...]] = Counter()
    for family in families:
        for sample in family.samples:
            name = sample.name.removesuffix("_total")
            if name == "yuki_authz_decision_cache_checks":
                out[("cache", sample.labels["result"])] += sample.value
            elif name == "yuki_authz_http_requests":
                labels = sample.labels
                out[("http", labels["method"], labels["endpoint"], labels["status"])] += (
                    sample.value
                )
    return out


def counter_delta(
    after: Counter[tuple[str, ...]], before: Counter[tuple[str, ...]]
) -> Counter[tuple[str, ...]]:
    out: Counter[tuple[str, ...]] = Counter()
    for key, value in after.items():
        if value - before.get(key, 0):
            out[key] = value - before.get(key, 0)
    return out


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
        "30s",
        "-s",
        str(WRK_SCRIPT),
        server.base,
        "--",
        sc.method,
        sc.path,
        server.token,
    ]
    if sc.bodies_file is not None:
        args += [str(sc.bodies_file), str(sc.position), server.admin_token or "-"]
    cpu0 = server.cpu_seconds()
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120, check=False)
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
        "sent": res.get("sent", res["requests"]),
        "writes_sent": res.get("writes_sent", 0),
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
    lines: list[bytes],
    tokens: tuple[str, str],
    seconds: float,
    start: int,
    step: int,
    queue: Any,
) -> None:
    """Send lines start, start+step, ... of the stream (the connections share it, like wrk)."""
    import http.client

    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = sent = writes = 0
    i = start
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    end = time.perf_counter() + seconds
    check_headers = {"Authorization": f"Bearer {tokens[0]}", "Content-Type": "application/json"}
    while time.perf_counter() < end:
        line = lines[i % len(lines)] if lines else None
        i += step
        sent += 1
        verb, path, headers, body = method, sc_path, check_headers, line
        if line is not None and line.startswith(b"!"):
            verb, path, acting, text = line[1:].decode().split(" ", 3)
            headers = {**check_headers, "Authorization": f"Bearer {tokens[1]}"}
            headers["X-Acting-User"] = acting
            body = text.encode()
            writes += 1
        t0 = time.perf_counter()
        try:
            conn.request(verb, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 400:
                errors += 1
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
        except OSError:
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
        latencies.append(time.perf_counter() - t0)
    queue.put((latencies, errors, sent, writes))


def run_python_client(
    server: Server, sc: Scenario, seconds: float, connections: int
) -> dict[str, Any]:
    lines = sc.bodies_file.read_bytes().splitlines() if sc.bodies_file else []
    queue: Any = multiprocessing.Queue()
    tokens = (server.token, server.admin_token or "-")
    procs = [
        multiprocessing.Process(
            target=_client_process,
            args=(
                server.base,
                sc.path,
                sc.method,
                lines,
                tokens,
                seconds,
                sc.position + k,
                connections,
                queue,
            ),
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
    res = {
        "requests": len(lat),
        "duration_us": int(elapsed * 1e6),
        "bytes": 0,
        # Each connection went `step` lines at a time: together they covered this many lines.
        "sent": connections * max(r[2] for r in results),
        "writes_sent": sum(r[3] for r in results),
        "errors": {"status": sum(r[1] for r in results)},
        "latency_us": _latency_us(lat),
    }
    return _summarize(res, cpu1 - cpu0, "python-client")


def _latency_us(lat: list[float]) -> dict[str, float]:
    """Mean and percentiles, in µs, of latencies in seconds sorted ascending."""

    def pct(q: float) -> int:
        return int(lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6) if lat else 0

    mean = sum(lat) / len(lat) * 1e6 if lat else 0
    return {"mean": mean, "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99)}


def run_drained(server: Server, sc: Scenario, seconds: float, connections: int) -> dict[str, Any]:
    """Requests that take seconds each (batches of 1000): send for `seconds`, then let those in
    flight finish, and divide the answers by the time until the last one.

    wrk stops at its deadline and drops the requests in flight: with answers that take a second
    or more, that drops a large share of the work the server did, and understates the rate.
    """
    import http.client
    import threading

    lines = sc.bodies_file.read_bytes().splitlines() if sc.bodies_file else [b""]
    host, port = server.base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    lock = threading.Lock()
    state = {"next": sc.position, "sent": 0}
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    t0 = time.perf_counter()
    deadline = t0 + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            with lock:
                line = lines[state["next"] % len(lines)]
                state["next"] += 1
                state["sent"] += 1
            started = time.perf_counter()
            conn = http.client.HTTPConnection(host, int(port), timeout=300)
            try:
                conn.request(sc.method, sc.path, body=line or None, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status >= 400:
                    with lock:
                        errors["status"] += 1
            except OSError:
                with lock:
                    errors["read"] += 1
            finally:
                conn.close()
            with lock:
                latencies.append(time.perf_counter() - started)

    cpu0 = server.cpu_seconds()
    workers = [threading.Thread(target=worker) for _ in range(connections)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu1 = server.cpu_seconds()
    lat = sorted(latencies)
    res = {
        "requests": len(lat) - sum(errors.values()),
        "duration_us": int(elapsed * 1e6),
        "bytes": 0,
        "sent": state["sent"],
        "writes_sent": 0,
        "errors": {"status": errors["status"], "read": errors["read"]},
        "latency_us": _latency_us(lat),
    }
    return _summarize(res, cpu1 - cpu0, "python-client, drained")


def load_test(
    server: Server, sc: Scenario, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    """Load one scenario for `seconds`, continuing its stream; add what /metrics counted."""
    before = server.scrape()
    if sc.checks_per_request > 1:
        res = run_drained(server, sc, seconds, connections)
    elif wrk_available():
        res = run_wrk(server, sc, seconds, connections, threads)
    else:
        res = run_python_client(server, sc, seconds, connections)
    server.wait_idle()  # so that no answer of this run is counted in the next one
    after = server.scrape()
    res["start_line"] = sc.position
    sc.position += res["sent"]
    delta = counter_delta(after, before)
    res["answers"] = {
        f"{key[1]} {key[2]} {key[3]}": int(value)
        for key, value in sorted(delta.items())
        if key[0] == "http" and key[2] != "/metrics"
    }
    res["cache"] = {key[1]: int(value) for key, value in delta.items() if key[0] == "cache"}
    return res
