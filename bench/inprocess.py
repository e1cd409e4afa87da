"""In-process measurements, in a child process of the bench: `python -m bench.inprocess CFG OUT`.

A fresh process, so that the list walk's memory growth is not hidden by the generator's peak.
Order: list walks first (memory), then list first pages, decisions without SQL, authorize with
its SQL (statements counted), cached decisions, scaling against the small world, and a profile
of the hot path.

Two apps on the same database: every "uncached" measurement runs on one built with the decision
cache off (`DECISION_CACHE` False: `Authorizer.cache` is None), so it loads and decides every
time; the cached decisions run on one with the cache on (the service's default).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import gc
import hashlib
import io
import json
import pstats
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

AUTHZ_KEYS = "bench:check:in-process-only"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stats_us(values_s: list[float]) -> dict[str, float]:
    us = [v * 1e6 for v in values_s]
    return {
        "n": len(us),
        "median_us": statistics.median(us),
        "p90_us": _pct(us, 0.90),
        "p99_us": _pct(us, 0.99),
        "mean_us": statistics.fmean(us),
    }


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    """The kernel's high-water mark of this process's resident size (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current size (Linux >= 4.0); a child inherits its parent's peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Bench:
    def __init__(self, cfg: dict[str, Any]) -> None:
        from service import create_app
        from service.authz import Ref
        from service.db import db

        self.cfg = cfg
        self.Ref = Ref
        self.db = db
        # The uncached measurements: the decision cache off, so nothing is answered from it.
        self.app = create_app(
            {"DATABASE_URL": cfg["url"], "AUTHZ_API_KEYS": AUTHZ_KEYS, "DECISION_CACHE": False}
        )
        self.az = self.app.extensions["authz"]
        if self.az.cache is not None:
            raise RuntimeError("DECISION_CACHE=False left a decision cache on")
        # The cached decisions: the service's default (cache on), on a fresh revision board.
        self.cached_app = create_app(
            {
                "DATABASE_URL": cfg["url"],
                "AUTHZ_API_KEYS": AUTHZ_KEYS,
                "DECISION_CACHE": True,
                "DECISION_CACHE_RESET": True,
            }
        )
        self.caz = self.cached_app.extensions["authz"]
        if self.caz.cache is None:
            raise RuntimeError("DECISION_CACHE=True built no decision cache")
        self.statements: list[str] = []
        self.counting = False
        for app in (self.app, self.cached_app):
            with app.app_context():
                event.listen(db.engine, "before_cursor_execute", self._on_execute)
        self.now = dt.datetime.now(dt.UTC)
        self.checks = [self._check(b) for b in cfg["bodies"]]
        self.small_checks = [self._check(b) for b in cfg["small_bodies"]]

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.counting:
            self.statements.append(statement)

    def _check(self, body: dict[str, Any]) -> tuple[Any, str, Any, dt.datetime | None]:
        at = (body.get("context") or {}).get("at")
        return (
            self.Ref(**body["actor"]),
            body["action"],
            self.Ref(**body["resource"]),
            dt.datetime.fromisoformat(at) if at else None,
        )

    @contextmanager
    def ctx(self, app: Any = None) -> Iterator[Any]:
        with (app or self.app).app_context():
            try:
                yield self.db.session
            finally:
                self.db.session.remove()

    # -- list-resources -------------------------------------------------------------------
    def _walk(self, session: Any, actor: str, limit: int) -> dict[str, Any]:
        """Follow next_cursor to the end; check order and count without keeping the ids."""
        digest = hashlib.sha256()
        count = pages = 0
        previous = ""
        ascending = True
        cursor = None
        sample: list[str] = []
        rng = random.Random(11)
        self.az.engine.clear_filters()  # the walk builds its filter once, on its first page
        started = time.perf_counter()
        rss_peak = _rss_mb()
        while True:
            ids, cursor = self.az.list_resources(
                session, self.Ref("PortalUser", actor), "process", "Domain", self.now, limit, cursor
            )
            pages += 1
            rss_peak = max(rss_peak, _rss_mb())
            for oid in ids:
                if oid <= previous:
                    ascending = False
                previous = oid
                digest.update(oid.encode())
                digest.update(b"\n")
                count += 1
                # Reservoir sample of listed ids, spot-checked against authorize below.
                if len(sample) < 100:
                    sample.append(oid)
                elif rng.random() < 100 / count:
                    sample[rng.randrange(100)] = oid
            if cursor is None:
                break
        return {
            "seconds": time.perf_counter() - started,
            "rss_peak_mb": rss_peak,
            "pages": pages,
            "ids": count,
            "ascending_unique": ascending,
            "digest": digest.hexdigest(),
            "sample": sample,
        }

    def list_walks(self) -> dict[str, Any]:
        cfg = self.cfg
        out: dict[str, Any] = {}
        with self.ctx() as session:
            self.az.list_resources(
                session,
                self.Ref("PortalUser", cfg["backoffice"]),
                "process",
                "Domain",
                self.now,
                100,
                None,
            )  # warm-up
            gc.collect()
            reset = _reset_peak_rss()
            rss0 = _rss_mb()
            walk = self._walk(session, cfg["backoffice"], 1000)
            walk["rss_before_mb"], walk["rss_after_mb"] = rss0, _rss_mb()
            # The kernel's high-water mark since the reset catches peaks inside a page; the size
            # sampled after every page stands in where the mark cannot be reset.
            walk["peak_source"] = "VmHWM" if reset else "sampled"
            walk["peak_rss_mb"] = max(walk["rss_peak_mb"], _peak_rss_mb() if reset else 0.0)
            walk["memory_growth_mb"] = walk["peak_rss_mb"] - rss0
            out["walk_1000"] = walk
        with self.ctx() as session:
            tracemalloc.start()
            traced = self._walk(session, cfg["backoffice"], 1000)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out["walk_1000"]["tracemalloc_peak_mb"] = peak / 2**20
            out["walk_1000"]["tracemalloc_walk_seconds"] = traced["seconds"]
        if cfg.get("walk_100", True):
            with self.ctx() as session:
                out["walk_100"] = self._walk(session, cfg["backoffice"], 100)
        expected = cfg["expected_backoffice"]
        for walk in (w for k, w in out.items() if k.startswith("walk_")):
            walk["expected_ids"] = expected["count"]
            walk["complete"] = (
                walk["ids"] == expected["count"] and walk["digest"] == expected["digest"]
            )
        out["spot_checks"] = self._spot_check(out["walk_1000"]["sample"])
        return out

    def _spot_check(self, listed: list[str]) -> dict[str, Any]:
        """Listed ids must be allowed by authorize; ids the world says are not listed, denied."""
        actor = self.Ref("PortalUser", self.cfg["backoffice"])
        bad = []
        with self.ctx() as session:
            for oid in listed:
                if not self.az.authorize(
                    session, actor, "process", self.Ref("Domain", oid), self.now
                ).allowed:
                    bad.append(oid)
            for oid in self.cfg["not_listed_sample"]:
                if self.az.authorize(
                    session, actor, "process", self.Ref("Domain", oid), self.now
                ).allowed:
                    bad.append(oid)
        return {"checked": len(listed) + len(self.cfg["not_listed_sample"]), "disagree": bad}

    def list_first_pages(self, repeats: int, per_repeat: int) -> dict[str, Any]:
        """First pages, each repeat followed by a few authorizes: the ratio's two sides together."""
        cfg = self.cfg
        bo, sub = (
            self.Ref("PortalUser", cfg["backoffice"]),
            self.Ref("PortalUser", cfg["subcontractor"]),
        )
        cold: dict[str, list[float]] = {"backoffice": [], "subcontractor": []}
        warm: dict[str, list[float]] = {"backoffice": [], "subcontractor": []}
        authorize: list[float] = []
        sizes = {}
        k = 0
        for _ in range(repeats):
            for actor, key in ((bo, "backoffice"), (sub, "subcontractor")):
                # Cold: the policy's filter is built for this page (the engine keeps filters per
                # (actor facts, action, type, date)); warm: the same page again, filter kept.
                self.az.engine.clear_filters()
                for into in (cold[key], warm[key]):
                    with self.ctx() as session:
                        t0 = time.perf_counter()
                        ids, cursor = self.az.list_resources(
                            session, actor, "process", "Domain", self.now, 100, None
                        )
                        into.append(time.perf_counter() - t0)
                sizes[key] = {"ids": len(ids), "has_next": cursor is not None}
            for _ in range(per_repeat):
                authorize.append(self._time_authorize(self.az, self.checks[k % len(self.checks)]))
                k += 1
        return {
            "backoffice_first_page": _stats_us(cold["backoffice"]),
            "subcontractor_page": _stats_us(cold["subcontractor"]),
            "backoffice_first_page_warm": _stats_us(warm["backoffice"]),
            "subcontractor_page_warm": _stats_us(warm["subcontractor"]),
            "authorize_interleaved": _stats_us(authorize),
            "sizes": sizes,
        }

    # -- decisions ------------------------------------------------------------------------
    def _time_authorize(self, az: Any, check: tuple[Any, ...], app: Any = None) -> float:
        actor, action, res, at = check
        with self.ctx(app) as session:
            t0 = time.perf_counter()
            az.authorize(session, actor, action, res, at or self.now)
            return time.perf_counter() - t0

    def decide(self, n: int) -> dict[str, Any]:
        """PolicyEngine.decide on facts loaded beforehand: no SQL inside the timing."""
        from service.authz import facts, loader, policy_context

        checks = self.checks[:n]
        wanted: dict[str, set[str]] = {}
        for actor, _, res, _ in checks:
            wanted.setdefault(actor.type, set()).add(actor.id)
            wanted.setdefault(res.type, set()).add(res.id)
        with self.ctx() as session:
            loaded = {
                (t, i): obj
                for t, ids in wanted.items()
                for i, obj in loader.load(session, t, ids).items()
            }
        engine = self.az.engine
        prepared = []
        for actor, action, res, at in checks:
            a = loaded.get(tuple(actor)) or facts.Unknown("actor", *actor)
            r = loaded.get(tuple(res)) or facts.Unknown("resource", *res)
            prepared.append((a, action, r, policy_context(at or self.now)))
        for p in prepared[:50]:
            engine.decide(*p)  # warm-up
        times: list[float] = []
        allowed: list[float] = []
        denied: list[float] = []
        kinds: dict[tuple[str, str, str, bool], list[float]] = {}
        for p in prepared:
            t0 = time.perf_counter()
            d = engine.decide(*p)
            elapsed = time.perf_counter() - t0
            times.append(elapsed)
            (allowed if d.allowed else denied).append(elapsed)
            kind = (type(p[0]).__name__, p[1], type(p[2]).__name__, d.allowed)
            kinds.setdefault(kind, []).append(elapsed)
        return {
            "all": _stats_us(times),
            "allowed": _stats_us(allowed),
            "denied": _stats_us(denied),
            "allowed_share": len(allowed) / len(times),
            # Per check kind and outcome (kinds asked at least 10 times): what the engine costs
            # for each rule path, the cheapest included.
            "per_kind": sorted(
                (
                    {
                        "actor": a,
                        "action": action,
                        "resource": r,
                        "allowed": ok,
                        "checks": len(ts),
                        "median_us": statistics.median(ts) * 1e6,
                        "share_of_time": sum(ts) / sum(times),
                    }
                    for (a, action, r, ok), ts in kinds.items()
                    if len(ts) >= 10
                ),
                key=lambda k: k["median_us"],
            ),
        }

    def authorize(self, n: int) -> dict[str, Any]:
        """Authorizer.authorize with its SQL, one session per check (like one request each)."""
        checks = self.checks[:n]
        for c in checks[:50]:
            self._time_authorize(self.az, c)  # warm-up
        times: list[float] = []
        per_check: list[int] = []
        shapes: Counter[str] = Counter()
        for c in checks:
            self.statements.clear()
            self.counting = True
            times.append(self._time_authorize(self.az, c))
            self.counting = False
            per_check.append(len(self.statements))
            shapes.update(" ".join(s.split())[:160] for s in self.statements)
        out = {
            "timing": _stats_us(times),
            "sql_per_check_max": max(per_check),
            "sql_per_check_mean": statistics.fmean(per_check),
            "sql_per_check_hist": dict(Counter(per_check)),
            "sql_shapes": shapes.most_common(8),
        }
        wire = self._wire_commands(checks[:200])
        if wire:
            out["wire"] = wire
        return out

    def cached(self, n: int) -> dict[str, Any]:
        """Authorizer.authorize with the cache on, on checks it has already answered once.

        One pass fills the cache with the checks (each a miss, loading and deciding); the timed
        pass asks the same checks again, one per call and one session each like the uncached
        measurement, counting SQL statements and the cache's hits and misses around each call.
        """
        checks = self.checks[:n]
        cache = self.caz.cache
        warm0 = (cache.hits, cache.misses, cache.detached)
        for c in checks:
            self._time_authorize(self.caz, c, self.cached_app)
        warm = {
            "hits": cache.hits - warm0[0],
            "misses": cache.misses - warm0[1],
            "detached": cache.detached - warm0[2],
            "entries": len(cache.entries),
        }
        for c in checks[:50]:
            self._time_authorize(self.caz, c, self.cached_app)  # warm-up of the timed path
        times: list[float] = []
        statements = 0
        before = (cache.hits, cache.misses, cache.detached)
        for c in checks:
            self.statements.clear()
            self.counting = True
            times.append(self._time_authorize(self.caz, c, self.cached_app))
            self.counting = False
            statements += len(self.statements)
        hits, misses, detached = (
            cache.hits - before[0],
            cache.misses - before[1],
            cache.detached - before[2],
        )
        # Same checks, same answers as without the cache.
        disagree = 0
        for c in checks[:200]:
            actor, action, res, at = c
            with self.ctx(self.cached_app) as s1:
                cached = self.caz.authorize(s1, actor, action, res, at or self.now)
            with self.ctx() as s2:
                fresh = self.az.authorize(s2, actor, action, res, at or self.now)
            disagree += (cached.allowed, tuple(cached.reasons)) != (
                fresh.allowed,
                tuple(fresh.reasons),
            )
        return {
            "timing": _stats_us(times),
            "checks": len(checks),
            "distinct_checks": len({(a, b, r, self._day(at)) for a, b, r, at in checks}),
            "sql_statements": statements,
            "hits": hits,
            "misses": misses,
            "detached": detached,
            "warm": warm,
            "compared_with_uncached": min(200, len(checks)),
            "disagree_with_uncached": disagree,
        }

    def _day(self, at: dt.datetime | None) -> str:
        from service.authz import business_date

        return business_date(at or self.now)

    def _wire_commands(self, checks: list[tuple[Any, ...]]) -> dict[str, Any] | None:
        """Count what psycopg sends per check (statements, BEGIN/ROLLBACK, the pool's ping).

        SQLAlchemy's cursor events see only the statements; on PostgreSQL each of these commands
        is a round trip to the server. Wraps psycopg internals: skipped if they are not there.
        """
        if self.cfg["url"].split(":", 1)[0].split("+")[0] != "postgresql":
            return None
        try:
            import psycopg
            from psycopg import _cursor_base
        except ImportError:
            return None
        conn_cls, cur_cls = psycopg.Connection, _cursor_base.BaseCursor
        hooked = ("_execute_send", "_send_query_prepared")
        if not hasattr(conn_cls, "_exec_command") or not all(hasattr(cur_cls, h) for h in hooked):
            return None
        sent: list[str] = []
        orig_cmd, orig_send = conn_cls._exec_command, cur_cls._execute_send
        orig_prepared = cur_cls._send_query_prepared

        def exec_command(self_: Any, command: Any, *a: Any, **k: Any) -> Any:
            sent.append(bytes(command).decode(errors="replace").split()[0])
            return orig_cmd(self_, command, *a, **k)

        def execute_send(self_: Any, query: Any, *a: Any, **k: Any) -> Any:
            text = bytes(query.query).decode(errors="replace").strip()
            sent.append("ping (;)" if text == ";" else (text.split() or ["?"])[0])
            return orig_send(self_, query, *a, **k)

        def send_prepared(self_: Any, name: Any, query: Any, *a: Any, **k: Any) -> Any:
            # psycopg prepares a statement it has run 5 times on a connection, then sends it
            # this way: still one round trip per execution.
            text = bytes(query.query).decode(errors="replace").strip()
            sent.append(f"{(text.split() or ['?'])[0]} (prepared)")
            return orig_prepared(self_, name, query, *a, **k)

        conn_cls._exec_command, cur_cls._execute_send = exec_command, execute_send
        cur_cls._send_query_prepared = send_prepared
        per_check: list[int] = []
        kinds: Counter[str] = Counter()
        try:
            for c in checks:
                sent.clear()
                self._time_authorize(self.az, c)
                per_check.append(len(sent))
                kinds.update(sent)
        finally:
            conn_cls._exec_command, cur_cls._execute_send = orig_cmd, orig_send
            cur_cls._send_query_prepared = orig_prepared
        return {
            "checks": len(checks),
            "per_check_mean": statistics.fmean(per_check),
            "per_check_max": max(per_check),
            "kinds_per_check": {k: v / len(checks) for k, v in kinds.most_common()},
        }

    def scaling(self, blocks: int, per_block: int) -> dict[str, Any]:
        """Authorize on the big and the small world, alternating blocks of checks."""
        from service import create_app

        small_app = create_app(
            {
                "DATABASE_URL": self.cfg["small_url"],
                "AUTHZ_API_KEYS": AUTHZ_KEYS,
                "DECISION_CACHE": False,
            }
        )
        small_az = small_app.extensions["authz"]
        assert small_az.cache is None
        for c in self.small_checks[:50]:
            self._time_authorize(small_az, c, small_app)  # warm-up
        big: list[float] = []
        small: list[float] = []
        for b in range(blocks):
            for k in range(per_block):
                i = b * per_block + k
                big.append(self._time_authorize(self.az, self.checks[i % len(self.checks)]))
                small.append(
                    self._time_authorize(
                        small_az, self.small_checks[i % len(self.small_checks)], small_app
                    )
                )
        return {"big": _stats_us(big), "small": _stats_us(small)}

    # -- where the time goes --------------------------------------------------------------
    def profile(self, n: int) -> dict[str, Any]:
        """cProfile n authorizes; count oso queries and host callbacks per check."""
        import polar.query as pq

        counts: Counter[str] = Counter()
        originals: dict[str, Callable[..., Any]] = {}
        handlers = [name for name in vars(pq.Query) if name.startswith("handle_")]

        def counting(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(self_: Any, *args: Any, **kwargs: Any) -> Any:
                counts[name] += 1
                return fn(self_, *args, **kwargs)

            return wrapper

        for name in [*handlers, "__init__"]:
            originals[name] = getattr(pq.Query, name)
            setattr(pq.Query, name, counting(name, originals[name]))
        checks = self.checks[:n]
        per_kind: dict[str, Counter[str]] = {}
        try:
            for c in checks:
                before = counts.copy()
                self._time_authorize(self.az, c)
                kind = f"{c[0].type}->{c[2].type}"
                per_kind.setdefault(kind, Counter())["checks"] += 1
                per_kind[kind].update(counts - before)
        finally:
            for name, fn in originals.items():
                setattr(pq.Query, name, fn)
        profiler = cProfile.Profile()
        profiler.enable()
        for c in checks:
            self._time_authorize(self.az, c)
        profiler.disable()
        buf = io.StringIO()
        stats = pstats.Stats(profiler, stream=buf)
        split = _split(stats, len(checks))
        stats.sort_stats("tottime").print_stats(14)
        callbacks = sum(v for k, v in counts.items() if k.startswith("handle_"))
        return {
            "checks": len(checks),
            "oso_queries_per_check": counts["__init__"] / len(checks),
            "oso_callbacks_per_check": callbacks / len(checks),
            "oso_events_per_check": {
                k.removeprefix("handle_"): v / len(checks)
                for k, v in counts.items()
                if k.startswith("handle_")
            },
            "per_kind": {
                k: {
                    "checks": v["checks"],
                    "queries": v["__init__"] / v["checks"],
                    "callbacks": sum(x for name, x in v.items() if name.startswith("handle_"))
                    / v["checks"],
                }
                for k, v in sorted(per_kind.items())
            },
            "top_tottime": _trim_pstats(buf.getvalue()),
            "split_us_per_check": split,
        }

    def http_layer(self, n: int) -> dict[str, Any]:
        """Through Flask's test client: /healthz, /v1/authorize, and /v1/authorize with the
        decision replaced by a constant (what the HTTP layer alone costs), interleaved."""
        from service.authz.engine import Decision

        secret = AUTHZ_KEYS.rsplit(":", 1)[1]
        headers = {"Authorization": f"Bearer {secret}"}
        client = self.app.test_client()
        bodies = self.cfg["bodies"][:n]

        def constant(_session: Any, checks: list[Any]) -> list[Any]:
            return [Decision(True)] * len(checks)

        timings: dict[str, list[float]] = {"healthz": [], "authorize": [], "stubbed": []}
        try:
            for k, body in enumerate([*bodies[:20], *bodies]):
                t0 = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                t1 = time.perf_counter()
                assert client.post("/v1/authorize", json=body, headers=headers).status_code == 200
                t2 = time.perf_counter()
                self.az.authorize_many = constant
                assert client.post("/v1/authorize", json=body, headers=headers).status_code == 200
                t3 = time.perf_counter()
                del self.az.authorize_many  # back to the class's method
                if k >= 20:  # the first 20 warm up
                    timings["healthz"].append(t1 - t0)
                    timings["authorize"].append(t2 - t1)
                    timings["stubbed"].append(t3 - t2)
        finally:
            vars(self.az).pop("authorize_many", None)
        return {name: _stats_us(values) for name, values in timings.items()}


# (file suffix, function name) -> label: where an authorize spends its time, under cProfile.
_SPLIT = {
    ("service/authz/__init__.py", "authorize"): "authorize (total)",
    ("service/authz/__init__.py", "_load_refs"): "load facts (SQL + rows to facts)",
    ("service/authz/engine.py", "is_allowed"): "oso: allow query",
    ("service/authz/engine.py", "deny_reasons"): "oso: deny_reason query (denies only)",
    ("~", "<built-in method _polar_lib.polar_next_query_event>"): "oso: in the Polar VM (both)",
}


def _split(stats: pstats.Stats, checks: int) -> dict[str, float]:
    """Return cumulative µs per check of the functions in _SPLIT (cProfile overhead included)."""
    out: dict[str, float] = {}
    for (path, _line, func), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for (suffix, name), label in _SPLIT.items():
            if func == name and path.endswith(suffix):
                value = tottime if suffix == "~" else cumtime
                out[label] = out.get(label, 0.0) + value / checks * 1e6
    return {label: round(out.get(label, 0.0)) for label in _SPLIT.values()}


def _trim_pstats(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("ncalls")), 0)
    keep = []
    for ln in lines[start:]:
        if not ln.strip():
            continue
        keep.append(
            ln.replace(str(Path(sys.prefix)), "<venv>").replace(
                str(Path(__file__).resolve().parent.parent), "<repo>"
            )
        )
    return "\n".join(keep)


def main(argv: list[str]) -> None:
    cfg = json.loads(Path(argv[0]).read_text())
    sizes = cfg["sizes"]
    bench = Bench(cfg)
    out: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("lists", bench.list_walks),
        ("first_pages", lambda: bench.list_first_pages(sizes["list_repeats"], 10)),
        ("decide", lambda: bench.decide(sizes["checks"])),
        ("authorize", lambda: bench.authorize(sizes["checks"])),
        ("cached", lambda: bench.cached(sizes["checks"])),
        ("scaling", lambda: bench.scaling(sizes["scaling_blocks"], sizes["scaling_per_block"])),
        ("profile", lambda: bench.profile(sizes["profile_checks"])),
        ("http_layer", lambda: bench.http_layer(sizes["profile_checks"])),
    ]
    out["decision_cache"] = {
        "uncached_app": "off (DECISION_CACHE=False; Authorizer.cache is None)",
        "cached_app": f"on (size {bench.caz.cache.size:,}, board "
        f"{bench.cached_app.config['DECISION_CACHE_BOARD']})",
    }
    for name, step in steps:
        t0 = time.perf_counter()
        out[name] = step()
        out.setdefault("step_seconds", {})[name] = round(time.perf_counter() - t0, 1)
        print(f"    {name}: {out['step_seconds'][name]} s", flush=True)
    Path(argv[1]).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
