"""`python -m bench`: generate the worlds, measure, and write the report (bench/README.md).

python -m bench                      # full run, SQLite and PostgreSQL (~10-15 min on 2 cores)
python -m bench --quick              # smoke run (< 2 min), report in bench/out/
python -m bench --db sqlite --domains 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import secrets
import shlex
import sqlite3
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import freshness, report, workload
from . import world as worlds
from .http import Scenario, Server, load_test, wrk_available
from .world import OUT

HERE = Path(__file__).resolve().parent
WRK_THREADS = (
    1  # one load-generator thread is plenty at these rates, and leaves the CPUs to the server
)
REPO = HERE.parent

FULL = {
    "bodies": 4000,  # in-process checks are drawn from these
    "checks": 2000,
    "list_repeats": 30,
    "scaling_blocks": 6,
    "scaling_per_block": 100,
    "profile_checks": 300,
    "http": {
        "warmup": 3,
        "seconds": 10,
        "rounds": 3,
        "stream": 100_000,  # lines of each authorize stream (wrk continues it run after run)
        "write_share": 0.01,  # governed writes in the authorize mix
        "hit_checks": 100,  # distinct checks of the all-hits stream (the ceiling of target 1)
        "batches": 300,  # distinct batch bodies
        "batch_size": 1000,
        "freshness_writes": 200,
        "freshness_asks": 6,  # asks of each check at once, before and after each write
    },
}
QUICK = {
    "bodies": 1000,
    "checks": 200,
    "list_repeats": 5,
    "scaling_blocks": 2,
    "scaling_per_block": 50,
    "profile_checks": 50,
    "http": {
        "warmup": 1,
        "seconds": 2,
        "rounds": 1,
        "stream": 5000,
        "write_share": 0.01,
        "hit_checks": 100,
        "batches": 30,
        "batch_size": 1000,
        "freshness_writes": 20,
        "freshness_asks": 6,
    },
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument(
        "--domains",
        type=int,
        default=None,
        help="domains in the big world (default 100000; 3000 with --quick)",
    )
    p.add_argument(
        "--small-domains",
        type=int,
        default=None,
        help="domains in the world the scaling ratio compares with (default 1000; "
        "300 with --quick)",
    )
    p.add_argument("--quick", action="store_true", help="small world, short runs: a smoke check")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report path (default bench/README.md; bench/out/README-quick.md with "
        "--quick); the plot throughput.png is written beside it",
    )
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (default 1)")
    p.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    p.add_argument("--seconds", type=float, default=None, help="wrk seconds per route and round")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP measurements")
    p.add_argument("--keep-db", action="store_true", help="keep the bench databases at the end")
    p.add_argument("--seed", type=int, default=20_220_201)
    args = p.parse_args(argv)
    if args.domains is None:
        args.domains = 3000 if args.quick else 100_000
    if args.small_domains is None:
        args.small_domains = 300 if args.quick else 1000
    if args.out is None:
        args.out = OUT / "README-quick.md" if args.quick else HERE / "README.md"
    return args


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(ln.split()[1])
        for ln in Path("/proc/meminfo").read_text().splitlines()
        if ln.startswith("MemTotal")
    )
    versions = {"Python": platform.python_version(), "SQLite": sqlite3.sqlite_version}
    for pkg in ("oso", "SQLAlchemy", "Flask", "gunicorn", "psycopg"):
        try:
            versions[pkg] = version(pkg)
        except Exception:
            versions[pkg] = "?"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": mem_kb / 2**20,
        "kernel": f"{platform.system()} {platform.release()}",
        "versions": versions,
    }


def _postgres_version() -> str | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(worlds.PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar())
    except Exception:
        return None
    finally:
        engine.dispose()


def _wrk_version() -> str | None:
    if not wrk_available():
        return None
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).split()[1] if (out.stdout or out.stderr) else "?"


CODE_DIRS = ("service", "policies")


def _git() -> str:
    """Return the commit, and whether the code under service/ and policies/ differs from it."""

    def run(*a: str) -> str:
        return subprocess.run(
            ["git", *a], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = run("rev-parse", "--short", "HEAD") or "unknown"
    dirty = run("status", "--porcelain", "--", *CODE_DIRS)
    return head + (" with uncommitted changes under service/ or policies/" if dirty else "")


def _code_fingerprint() -> str:
    """Hash the working tree's files under service/ and policies/ (to notice edits mid-run)."""
    digest = hashlib.sha256()
    for top in CODE_DIRS:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def board_env(kind: str) -> dict[str, str]:
    """The revision board every process of the bench on `kind`'s database maps.

    In shared memory like the service's default, but at one fixed path per database kind, reused
    by every run (the processes that open it reset it: the in-process child and `serve`), so
    runs do not leave a board per temporary database behind.
    """
    shm = Path("/dev/shm")
    root = shm if shm.is_dir() else OUT
    return {
        "DECISION_CACHE_BOARD": str(root / f"yuki-authz-bench-{os.geteuid()}" / f"{kind}.board")
    }


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _write_stream(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _sum_counts(dicts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


def _sample_requests(server: Server, scenarios: list[Scenario]) -> dict[str, Any]:
    """One real answer per scenario (and one governed write pair) before any load."""
    samples = {}
    for sc in scenarios:
        lines = sc.bodies_file.read_bytes().splitlines() if sc.bodies_file else [b""]
        first = next((ln for ln in lines if not ln.startswith(b"!")), b"")
        status, answer = server.request_line(sc, first)
        if status != 200:
            raise RuntimeError(f"{sc.path} answered {status}: {answer!r}")
        samples[sc.name] = (
            {"results": answer["results"][:3], "of": len(answer["results"])}
            if sc.checks_per_request > 1
            else answer
        )
        writes = [ln for ln in lines if ln.startswith(b"!")][:2]  # a flip and its undo
        for line in writes:
            status, answer = server.request_line(sc, line)
            if status != 200:
                raise RuntimeError(
                    f"the governed write {line[:120]!r} answered {status}: {answer!r}"
                )
            samples[f"{sc.name} write"] = {"request": line.decode()[:200], "answer": answer}
    return samples


def run_http(
    kind: str,
    url: str,
    streams: dict[str, Path],
    list_body: dict[str, Any],
    big: worlds.World,
    args: argparse.Namespace,
    plan: dict[str, Any],
) -> dict[str, Any]:
    list_file = _write_stream(OUT / f"list-body-{kind}.jsonl", [json.dumps(list_body)])
    scenarios = [
        Scenario("healthz", "GET", "/healthz"),
        Scenario("authorize", "POST", "/v1/authorize", streams["mix"]),
        Scenario("authorize-ro", "POST", "/v1/authorize", streams["readonly"]),
        Scenario("authorize-hits", "POST", "/v1/authorize", streams["hits"]),
        Scenario(
            "batch-1000",
            "POST",
            "/v1/authorize/batch",
            streams["batches"],
            checks_per_request=plan["batch_size"],
        ),
        Scenario("list-resources", "POST", "/v1/list-resources", list_file),
    ]
    token, admin_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with Server(
        url,
        token,
        args.workers,
        args.threads,
        OUT / f"server-{kind}.log",
        admin_token=admin_token,
        extra_env=board_env(kind),
    ) as server:
        # One real answer per route before loading it: a 401 or 400 must not pass for speed.
        samples = _sample_requests(server, scenarios)
        for sc in scenarios:
            load_test(server, sc, plan["warmup"], args.connections, WRK_THREADS)
        per: dict[str, list[dict[str, Any]]] = {sc.name: [] for sc in scenarios}
        for rnd in range(plan["rounds"]):
            order = scenarios if rnd % 2 == 0 else list(reversed(scenarios))
            for sc in order:
                res = load_test(server, sc, plan["seconds"], args.connections, WRK_THREADS)
                cache = res["cache"]
                looked = sum(cache.values())
                log(
                    f"  {kind} round {rnd + 1} {sc.name}: {res['rps']:.0f} req/s, p50 "
                    f"{res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms, "
                    f"errors {res['error_count']}"
                    + (f", cache hits {cache.get('hit', 0) / looked:.0%}" if looked else "")
                    + (f", writes {res['writes_sent']}" if res["writes_sent"] else "")
                )
                per[sc.name].append(res)
        log(f"  {kind} freshness across workers: {plan['freshness_writes']} writes")
        fresh = freshness.run(
            server, big, url, plan["freshness_writes"], asks=plan["freshness_asks"]
        )
        log(
            f"  {kind} freshness: {fresh['writes']} writes, {fresh.get('checks_after', 0)} checks "
            f"after them, stale {fresh.get('stale_after', 0)}, "
            f"hits before {fresh.get('hits_before', 0)}/{fresh.get('checks_before', 0)}"
        )
        launcher = server.launcher
    out: dict[str, Any] = {
        "launcher": launcher,
        "samples": samples,
        "scenarios": {},
        "freshness": fresh,
    }
    for sc in scenarios:
        rounds = per[sc.name]
        reqs = sum(r["requests"] for r in rounds)
        secs = sum(r["seconds"] for r in rounds)
        cpu = sum(r["server_cpu_s"] for r in rounds)
        answers = _sum_counts([r["answers"] for r in rounds])
        cache = _sum_counts([r["cache"] for r in rounds])
        looked = sum(cache.values())
        route = f"{sc.method} {sc.path} "
        decisions = sum(v for k, v in answers.items() if k == route + "200")
        deciding = sc.path.startswith("/v1/authorize")
        writes = {k: v for k, v in answers.items() if k.startswith("PUT ")}
        bad = {k: v for k, v in answers.items() if not k.rsplit(" ", 1)[1].startswith("2")}
        lines = sum(1 for _ in sc.bodies_file.open()) if sc.bodies_file else 1
        counted = sum(answers.values())
        if not reqs <= counted <= reqs + len(rounds) * (args.connections + 1):
            # wrk does not count the answers in flight at its deadline; /metrics does (a few).
            log(
                f"  WARNING {kind} {sc.name}: /metrics counted {counted} answers, the load "
                f"generator {reqs}: the decision and hit counts of this scenario are suspect"
            )
        out["scenarios"][sc.name] = {
            "method": sc.method,
            "path": sc.path,
            "tool": rounds[0]["tool"],
            "requests": reqs,
            "seconds": secs,
            "rps": reqs / secs,
            "p50_ms": sum(r["p50_ms"] for r in rounds) / len(rounds),
            "p90_ms": sum(r["p90_ms"] for r in rounds) / len(rounds),
            "p99_ms": sum(r["p99_ms"] for r in rounds) / len(rounds),
            "server_cpu_us_per_request": cpu / reqs * 1e6,
            "errors": sum(r["error_count"] for r in rounds) + sum(bad.values()),
            "wrk_errors": sum(r["error_count"] for r in rounds),
            "answers": answers,
            "non_2xx": bad,
            "writes": sum(writes.values()),
            "write_answers": writes,
            "cache": cache,
            "hit_rate": cache.get("hit", 0) / looked if looked else None,
            "checks_per_request": sc.checks_per_request,
            "decisions": decisions * sc.checks_per_request if deciding else None,
            "decisions_per_s": decisions * sc.checks_per_request / secs if deciding else None,
            "stream": {
                "lines": lines,
                "measured_from_line": rounds[0]["start_line"],
                "sent_in_all_runs": sc.position,
                "wrapped": sc.position > lines,
            },
            "rounds": rounds,
        }
    return out


def run_inprocess(kind: str, cfg: dict[str, Any]) -> dict[str, Any]:
    cfg_path = OUT / f"inprocess-{kind}.json"
    res_path = OUT / f"inprocess-{kind}-result.json"
    cfg_path.write_text(json.dumps(cfg))
    res_path.unlink(missing_ok=True)
    env = {**os.environ, **board_env(kind), "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "bench.inprocess", str(cfg_path), str(res_path)],
        cwd=REPO,
        env=env,
        check=True,
    )
    return json.loads(res_path.read_text())


def run_governed(kind: str, url: str, grants: int) -> dict[str, Any]:
    out = OUT / f"governed-{kind}-result.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, **board_env(kind), "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "bench.governed", url, str(out), str(grants)],
        cwd=REPO,
        env=env,
        check=True,
    )
    return json.loads(out.read_text())


def run_db(
    kind: str,
    big: worlds.World,
    small: worlds.World,
    bodies: list[dict[str, Any]],
    small_bodies: list[dict[str, Any]],
    streams: dict[str, Path],
    args: argparse.Namespace,
    plan: dict[str, Any],
    created: list[tuple[str, str]],
) -> dict[str, Any]:
    names = {key: worlds.bench_db_name(key) for key in ("big", "small")}
    res: dict[str, Any] = {"load": {}}
    urls = {}
    for key, w in (("big", big), ("small", small)):
        log(f"{kind}: creating {names[key]} and loading {w.n_domains:,} domains")
        urls[key] = worlds.create_database(kind, names[key])
        created.append((kind, names[key]))
        res["schema"] = worlds.create_schema(urls[key])
        res["load"][key] = worlds.load(w, urls[key])
        log(f"{kind}: {res['load'][key]}")

    expected = big.expected_process_domains(big.backoffice)
    expected_set = set(expected)
    rng = random.Random(5)
    unlisted = [d for d in big.domain_ids if d not in expected_set]
    cfg = {
        "url": urls["big"],
        "small_url": urls["small"],
        "bodies": bodies,
        "small_bodies": small_bodies,
        "backoffice": big.backoffice,
        "subcontractor": big.subcontractor,
        "expected_backoffice": {"count": len(expected), "digest": worlds.ids_digest(expected)},
        "not_listed_sample": rng.sample(unlisted, min(100, len(unlisted))),
        "sizes": plan,
        "walk_100": True,
    }
    log(f"{kind}: in-process measurements (child process)")
    res["inprocess"] = run_inprocess(kind, cfg)
    log(f"{kind}: governed grants (child process)")
    res["governed"] = run_governed(kind, urls["big"], 50 if args.quick else 200)
    if not args.no_http:
        log(f"{kind}: HTTP measurements")
        list_body = {
            "actor": {"type": "PortalUser", "id": big.backoffice},
            "action": "process",
            "resource_type": "Domain",
            "limit": 100,
            "cursor": None,
        }
        res["http"] = run_http(kind, urls["big"], streams, list_body, big, args, plan["http"])
    return res


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    plan = json.loads(json.dumps(QUICK if args.quick else FULL))
    if args.seconds:
        plan["http"]["seconds"] = args.seconds
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    meta: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "git": _git(),
        "code_fingerprint": _code_fingerprint(),
        "machine": machine(),
        "load_before": _loadavg(),
    }
    pg_version = _postgres_version() if "postgresql" in kinds else None
    if pg_version:
        meta["machine"]["versions"]["PostgreSQL"] = pg_version
    wrk = _wrk_version()
    meta["machine"]["versions"]["wrk"] = wrk or "missing (Python client fallback)"

    log(f"generating worlds: {args.domains:,} and {args.small_domains:,} domains")
    big = worlds.generate(args.domains, args.seed)
    small = worlds.generate(args.small_domains, args.seed)
    bodies = workload.make_bodies(big, plan["bodies"])
    small_bodies = workload.make_bodies(small, plan["bodies"])
    hp = plan["http"]
    streams: dict[str, Path] = {}
    stream_info: dict[str, Any] = {}
    if not args.no_http:
        log(f"generating the HTTP streams: 2 x {hp['stream']:,} lines, {hp['batches']} batches")
        mix, stream_info["mix"] = workload.make_stream(big, hp["stream"], 8, hp["write_share"])
        readonly, stream_info["readonly"] = workload.make_stream(big, hp["stream"], 9)
        # The ceiling of target 1: a few checks of the mix asked over and over, so that after
        # the warm-up every decision is a cache hit (no SQL, no oso): what any engine behind
        # this HTTP layer could reach at best.
        hits = readonly[: hp["hit_checks"]]
        stream_info["hits"] = {"lines": len(hits), "distinct": len(set(hits))}
        batches = workload.make_batches(big, hp["batches"], hp["batch_size"], 10)
        stream_info["batches"] = {"lines": len(batches), "checks": len(batches) * hp["batch_size"]}
        streams = {
            "mix": _write_stream(OUT / "stream-mix.txt", mix),
            "readonly": _write_stream(OUT / "stream-readonly.txt", readonly),
            "hits": _write_stream(OUT / "stream-hits.txt", hits),
            "batches": _write_stream(OUT / "stream-batches.txt", batches),
        }
        del mix, readonly, hits, batches
    results: dict[str, Any] = {
        "meta": meta,
        "config": {
            "domains": args.domains,
            "small_domains": args.small_domains,
            "quick": args.quick,
            "bodies": plan["bodies"],
            "streams": stream_info,
            "sizes": plan,
            "mix": workload.kinds_share(),
            "zipf_s": workload.ZIPF_S,
            "http": {
                **plan["http"],
                "workers": args.workers,
                "threads": args.threads,
                "connections": args.connections,
                "wrk_threads": WRK_THREADS,
                "tool": "wrk" if wrk else "python-client",
                "launcher": "?",
            },
        },
        "world": {
            "big": {"seed": args.seed, "counts": big.counts()},
            "small": {"seed": args.seed, "counts": small.counts()},
        },
        "dbs": {},
    }
    created: list[tuple[str, str]] = []
    try:
        for kind in kinds:
            if kind == "postgresql" and pg_version is None:
                results["dbs"][kind] = {
                    "skipped": "PostgreSQL is not reachable on 127.0.0.1:5432 as user postgres"
                }
                log("postgresql: skipped (not reachable)")
                continue
            results["dbs"][kind] = run_db(
                kind, big, small, bodies, small_bodies, streams, args, plan, created
            )
            http = results["dbs"][kind].get("http")
            if http:
                results["config"]["http"]["launcher"] = http["launcher"]
    finally:
        if not args.keep_db:
            for kind, name in created:
                worlds.drop_database(kind, name)
    meta["load_after"] = _loadavg()
    meta["code_changed_during_run"] = _code_fingerprint() != meta["code_fingerprint"]
    if meta["code_changed_during_run"]:
        log("WARNING: files under service/ or policies/ changed during the run")
    meta["duration_s"] = time.perf_counter() - started
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (OUT / f"results-{stamp}.json", OUT / "latest.json"):
        path.write_text(json.dumps(results, indent=1, default=str))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report.write(results, args.out)
    log(f"report: {args.out} ({meta['duration_s'] / 60:.1f} min)")
    for row in report.rows(results):
        log(f"  [{row.verdict}] #{row.target_id} {row.db}: {row.measure} = {row.value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
