"""Turn a bench result (the JSON in bench/out/) into bench/README.md and bench/throughput.png."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_LABEL = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
KIND_LABEL = {"bo_access": "Back Office Access", "shielded": "shield"}
SCENARIO_LABEL = {
    "healthz": "healthz\n(constant JSON)",
    "authorize": "authorize\n+1 % writes",
    "authorize-ro": "authorize\nreads only",
    "authorize-hits": "authorize\nall cache hits",
    "batch-1000": "batch of 1000\n(decisions/s)",
    "list-resources": "list-resources\nfirst page",
}


@dataclass
class Row:
    target_id: str
    measure: str
    db: str
    value: str
    inputs: str
    target: str
    verdict: str  # PASS, FAIL, "not measured", "info"


def _ms(us: float) -> str:
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in d.items()) or "none"


def _cheapest_kind(dec: dict[str, Any]) -> str:
    """The cheapest check kind's median decision: the engine's floor (see Where the time goes)."""
    kinds = dec.get("per_kind")
    if not kinds:
        return ""
    k = kinds[0]
    outcome = "allowed" if k["allowed"] else "denied"
    return (
        f"; the cheapest kind ({k['actor']} `{k['action']}` {k['resource']}, {outcome}, "
        f"{k['checks']} checks) {_ms(k['median_us'])}"
    )


def _http_rows(http: dict[str, Any], add: Callable[[str, str, str, str, str, str], None]) -> None:
    sc = http["scenarios"]
    h, a = sc["healthz"], sc["authorize"]
    ratio = a["rps"] / h["rps"]
    reads = a["answers"].get("POST /v1/authorize 200", 0)
    answered = sum(a["answers"].values())
    add(
        "1",
        "HTTP authorize throughput, mix with 1 % governed writes / constant-JSON throughput",
        f"**{ratio:.3f}\u00d7**",
        f"mix {a['rps']:.0f} req/s (p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms; "
        f"{reads:,} authorize + {a['writes']:,} governed writes answered; decision-cache hits "
        f"{_pct(a['hit_rate'])}) ÷ /healthz {h['rps']:.0f} req/s (p50 {h['p50_ms']:.1f} ms, p99 "
        f"{h['p99_ms']:.1f} ms), same server, rounds alternating; server CPU "
        f"{a['server_cpu_us_per_request']:.0f} vs {h['server_cpu_us_per_request']:.0f} µs/request",
        "≥ 0.8\u00d7",
        _verdict(ratio >= 0.8 and a["errors"] == 0),
    )
    share = a["writes"] / answered if answered else 0.0
    add(
        "1",
        "…answers of the mix by kind and status (errors must be 0; writes ~1 %)",
        f"**{a['errors']} errors**, writes {share:.2%}",
        f"{_counts(a['answers'])} (from /metrics); wrk socket/status errors {a['wrk_errors']}; "
        "writes: `PUT /v1/domains/<did>/shielded` flip-and-restore pairs by a "
        "PortalAdministrator on Zipf-drawn domains",
        "0 errors",
        _verdict(a["errors"] == 0 and a["writes"] > 0),
    )
    ro = sc.get("authorize-ro")
    if ro:
        add(
            "1",
            "…the same checks without writes (reads only) / constant-JSON throughput",
            f"{ro['rps'] / h['rps']:.3f}\u00d7",
            f"{ro['rps']:.0f} req/s (p50 {ro['p50_ms']:.1f} ms, p99 {ro['p99_ms']:.1f} ms), "
            f"decision-cache hits {_pct(ro['hit_rate'])}; errors {ro['errors']}",
            "— (the target's mix has writes)",
            "info",
        )
    hits = sc.get("authorize-hits")
    if hits:
        add(
            "1",
            "…the ceiling: a few checks asked over and over, every decision a cache hit (no "
            "SQL, no policy run) / constant-JSON throughput",
            f"{hits['rps'] / h['rps']:.3f}\u00d7",
            f"{hits['rps']:.0f} req/s (p50 {hits['p50_ms']:.1f} ms, p99 {hits['p99_ms']:.1f} ms), "
            f"decision-cache hits {_pct(hits['hit_rate'])}; errors {hits['errors']}; server "
            f"CPU {hits['server_cpu_us_per_request']:.0f} µs/request: what any decision engine "
            "could reach behind this HTTP layer",
            "— (what the HTTP layer allows)",
            "info",
        )
    fresh = http.get("freshness")
    if fresh:
        stale = fresh.get("stale_after", 0)
        after = fresh.get("checks_after", 0)
        cross = fresh.get("checks_after_by_other_worker", 0)
        hits = fresh.get("hits_before", 0)
        flips = (fresh.get("flips_seen", 0), fresh.get("flips_expected", 0))
        errors = fresh.get("errors", 0) + sum(
            v for k, v in fresh["write_statuses"].items() if k != "200"
        )
        proven = after > 0 and cross > 0 and hits > 0 and flips[0] == flips[1] > 0
        kinds = sorted({c["kind"] for c in fresh["candidates"]})
        add(
            "3",
            "Freshness across workers: answers that differ from the uncached truth after a write",
            f"**{stale} stale** of {after:,}",
            f"{fresh['writes']} governed writes ({' and '.join(KIND_LABEL[k] for k in kinds)}"
            f" flips on {len(fresh['candidates'])} domains; statuses "
            f"{_counts(fresh['write_statuses'])}) through the {fresh['workers']}-worker server; "
            f"after each, its checks asked {fresh['asks_per_check']}\u00d7 at once on new "
            f"connections, as before and on a date never asked (new decisions about objects "
            f"the workers know): {after:,} answers ({fresh.get('new_questions_after', 0):,} "
            f"new questions), {cross:,} of them by a worker other than the one "
            f"that served the write (in {fresh.get('rounds_checked_by_other_worker', 0)} of "
            f"{fresh['writes']} rounds). Before each write: {fresh.get('checks_before', 0):,} "
            f"asks, {hits:,} answered from the cache (every worker hit in "
            f"{fresh.get('rounds_every_worker_hit_before', 0)} rounds); the truth (decided "
            f"without cache after the write) flipped {flips[0]} of {flips[1]} checks; "
            f"request errors {errors}",
            "0 stale",
            _verdict(stale == 0 and errors == 0 and proven),
        )
    b, ro1 = sc.get("batch-1000"), sc.get("authorize-ro")
    if b and ro1 and b["decisions_per_s"] and ro1["decisions_per_s"]:
        ratio = b["decisions_per_s"] / ro1["decisions_per_s"]
        add(
            "4",
            "`POST /v1/authorize/batch` (1000 checks) decisions/s ÷ single `POST /v1/authorize`",
            f"**{ratio:.1f}\u00d7**",
            f"batch {b['decisions_per_s']:,.0f} decisions/s ({b['requests']} batches of "
            f"{b['checks_per_request']} checks, {b['stream']['lines']} distinct bodies"
            + (", cycled" if b["stream"]["wrapped"] else "")
            + f"; p50 {b['p50_ms'] / 1000:.2f} s; cache hits {_pct(b['hit_rate'])}; errors "
            f"{b['errors']}) ÷ single {ro1['decisions_per_s']:,.0f} decisions/s (reads-only "
            f"stream; cache hits {_pct(ro1['hit_rate'])}), same server, rounds alternating",
            "≥ 10\u00d7",
            _verdict(ratio >= 10 and b["errors"] == 0),
        )


def _rows_for_db(db: str, r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    label = DB_LABEL[db]

    def add(tid: str, measure: str, value: str, inputs: str, target: str, verdict: str) -> None:
        rows.append(Row(tid, measure, label, value, inputs, target, verdict))

    http = r.get("http")
    if http:
        _http_rows(http, add)
    else:
        for tid, measure, target in (
            ("1", "HTTP authorize throughput (mix with 1 % writes) / constant-JSON", "≥ 0.8\u00d7"),
            ("3", "Freshness across workers (write through one, check through another)", "0 stale"),
            ("4", "`POST /v1/authorize/batch` (1000 checks) decisions/s ÷ single", "≥ 10\u00d7"),
        ):
            add(tid, measure, "—", "HTTP measurements skipped (--no-http)", target, "not measured")
    gov = r.get("governed")
    if gov:
        add(
            "7",
            "Governed grant (role + ledger + audit, one transaction), median (p90)",
            f"**{gov['median_ms']:.1f} ms** ({gov['p90_ms']:.1f} ms)",
            f"{gov['grants']} Backoffice grants in turn on one domain through the app's test "
            f"client; statuses {gov['statuses']}; ledger {gov['ledger_items']}",
            "≤ 20 ms",
            _verdict(gov["median_ms"] <= 20),
        )
        add(
            "7",
            "…the grants charge exactly one included seat and one paid seat per further holder",
            "exact" if gov["exact"] else "NOT exact",
            "50 concurrent grants are proven exact by tests/integration/test_concurrent_grants.py",
            "exact",
            _verdict(gov["exact"]),
        )
    ip = r.get("inprocess")
    if not ip:
        return rows
    auth = ip["authorize"]
    dec = ip["decide"]
    add(
        "2",
        "Uncached decision in-process: `Authorizer.authorize` median (p90)",
        f"**{_ms(auth['timing']['median_us'])}** ({_ms(auth['timing']['p90_us'])})",
        f"{auth['timing']['n']} checks of the mix, one session each, SQL included, on an app "
        f"with the decision cache off (`DECISION_CACHE=0`); mean {_ms(auth['timing']['mean_us'])}",
        "≤ 250 µs",
        _verdict(auth["timing"]["median_us"] <= 250),
    )
    add(
        "2",
        "…of which `PolicyEngine.decide` on preloaded facts, median (p90)",
        f"**{_ms(dec['all']['median_us'])}** ({_ms(dec['all']['p90_us'])})",
        f"no SQL; mean {_ms(dec['all']['mean_us'])}; allowed {dec['allowed_share']:.0%} of "
        "checks: median "
        f"{_ms(dec['allowed']['median_us'])} allowed, {_ms(dec['denied']['median_us'])} denied "
        f"(a deny runs the `deny_reason` query too)" + _cheapest_kind(dec),
        "≤ 250 µs (lower bound of the above)",
        _verdict(dec["all"]["median_us"] <= 250),
    )
    add(
        "2",
        "SQL statements per uncached check (max; mean)",
        f"**{auth['sql_per_check_max']}** ({auth['sql_per_check_mean']:.2f})",
        "decision cache off; counted with a `before_cursor_execute` listener; distribution "
        + ", ".join(
            f"{k} stmt: {v}"
            for k, v in sorted(auth["sql_per_check_hist"].items(), key=lambda kv: int(kv[0]))
        ),
        "≤ 2",
        _verdict(auth["sql_per_check_max"] <= 2),
    )
    wire = auth.get("wire")
    if wire:
        add(
            "2",
            "…round trips to PostgreSQL per uncached check (mean; max)",
            f"{wire['per_check_mean']:.2f} ({wire['per_check_max']})",
            f"commands psycopg sends, over {wire['checks']} checks: "
            + ", ".join(f"{k} {v:.2f}" for k, v in wire["kinds_per_check"].items()),
            "— (the target counts statements)",
            "info",
        )
    cached = ip.get("cached")
    if cached:
        t = cached["timing"]
        add(
            "2",
            "Cached decision in-process: `Authorizer.authorize` median (p90), cache on",
            f"**{_ms(t['median_us'])}** ({_ms(t['p90_us'])})",
            f"the same {cached['checks']} checks ({cached['distinct_checks']} distinct), answered "
            f"once to fill the cache ({cached['warm']['misses']} misses), then timed one per call, "
            f"one session each; cache hits +{cached['hits']}, misses +{cached['misses']}; mean "
            f"{_ms(t['mean_us'])}; {cached['disagree_with_uncached']} of "
            f"{cached['compared_with_uncached']} answers differ from the uncached app's",
            "≤ 20 µs",
            _verdict(t["median_us"] <= 20 and cached["misses"] == 0),
        )
        add(
            "2",
            "SQL statements per cached check (total over the timed checks)",
            f"**{cached['sql_statements']}**",
            f"counted with the same `before_cursor_execute` listener over {cached['checks']} "
            f"cached checks; hits {cached['hits']} = checks {cached['checks']}",
            "0",
            _verdict(cached["sql_statements"] == 0 and cached["hits"] == cached["checks"]),
        )
    else:
        add("2", "Cached decision", "—", "not in this result", "≤ 20 µs, 0 SQL", "not measured")
    fp = ip["first_pages"]
    base = fp["authorize_interleaved"]["median_us"]
    bo = fp["backoffice_first_page"]["median_us"]
    sub = fp["subcontractor_page"]["median_us"]
    add(
        "5",
        "list-resources, PortalBackoffice, first page of 100 / one uncached authorize",
        f"**{bo / base:.2f}\u00d7**",
        f"page median {_ms(bo)} over {fp['backoffice_first_page']['n']} repeats, the list "
        f"filter built each time (kept filters cleared) ÷ uncached authorize median "
        f"{_ms(base)} over {fp['authorize_interleaved']['n']} checks interleaved with them "
        "(cache off)",
        "≤ 3\u00d7",
        _verdict(bo / base <= 3),
    )
    if "backoffice_first_page_warm" in fp:
        warm = fp["backoffice_first_page_warm"]["median_us"]
        add(
            "5",
            "…the same page with its filter kept (the actor's facts unchanged since the last list)",
            f"{warm / base:.2f}\u00d7",
            f"page median {_ms(warm)} ÷ uncached authorize median {_ms(base)}; the filter is a "
            "pure function of the policy, the actor's facts, the action, the type and the date",
            "≤ 3\u00d7",
            "info",
        )
    lists = ip["lists"]
    for key, size in (("walk_1000", 1000), ("walk_100", 100)):
        walk = lists.get(key)
        if not walk:
            continue
        add(
            "5",
            f"list-resources, PortalBackoffice, walk of every page (limit {size})",
            f"**{walk['seconds']:.2f} s**",
            f"{walk['pages']} pages, {walk['ids']} ids (expected {walk['expected_ids']}), action "
            "`process` on Domain; the list filter built on the first page, kept for the others",
            "≤ 2 s",
            _verdict(walk["seconds"] <= 2),
        )
        add(
            "5",
            f"…walk correctness (limit {size}): every allowed id once, ascending",
            _verdict(walk["complete"] and walk["ascending_unique"]),
            "ids strictly ascending across pages; count and SHA-256 of the id sequence equal to "
            "the set computed from the generated world",
            "exactly once, ascending",
            _verdict(walk["complete"] and walk["ascending_unique"]),
        )
    w = lists["walk_1000"]
    add(
        "5",
        "…peak memory growth of the process during the walk (limit 1000)",
        f"**{w['memory_growth_mb']:.1f} MB**",
        f"resident size {w['rss_before_mb']:.1f} MB before the walk, peak "
        f"{w['peak_rss_mb']:.1f} MB ("
        + (
            "kernel high-water mark VmHWM, reset before the walk"
            if w["peak_source"] == "VmHWM"
            else "sampled after each page"
        )
        + f"); tracemalloc peak of a second walk {w['tracemalloc_peak_mb']:.1f} MB",
        "≤ 50 MB",
        _verdict(w["memory_growth_mb"] <= 50),
    )
    spot = lists["spot_checks"]
    add(
        "5",
        "…listed vs authorize spot checks",
        _verdict(not spot["disagree"]),
        f"{spot['checked']} ids: a sample of listed ids must be allowed and a sample of unlisted "
        f"ones denied; disagreements: {len(spot['disagree'])}",
        "agree",
        _verdict(not spot["disagree"]),
    )
    add(
        "5",
        "list-resources, subcontractor (50 assigned domains), one page / one authorize",
        f"**{sub / base:.2f}\u00d7**",
        f"page median {_ms(sub)} ({fp['sizes']['subcontractor']['ids']} ids), filter built "
        f"each time ÷ uncached authorize median {_ms(base)}"
        + (
            f"; with the filter kept {_ms(fp['subcontractor_page_warm']['median_us'])}"
            if "subcontractor_page_warm" in fp
            else ""
        ),
        "≤ 3\u00d7",
        _verdict(sub / base <= 3),
    )
    sc = ip["scaling"]
    ratio = sc["big"]["median_us"] / sc["small"]["median_us"]
    add(
        "6",
        "Scaling: authorize median at the big world / at the small world",
        f"**{ratio:.2f}\u00d7**",
        f"{_ms(sc['big']['median_us'])} ({sc['big']['n']} checks) ÷ {_ms(sc['small']['median_us'])}"
        f" ({sc['small']['n']} checks), alternating blocks, decision cache off",
        "≤ 1.2\u00d7",
        _verdict(ratio <= 1.2),
    )
    return rows


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for db, r in results["dbs"].items():
        if r.get("skipped"):
            continue
        out.extend(_rows_for_db(db, r))
    return sorted(out, key=lambda row: row.target_id)  # stable: keeps db order within a target


def plot(results: dict[str, Any], path: Path) -> bool:
    """Draw req/s and p50/p99 per scenario and database; return False when there is no HTTP."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dbs = [db for db, r in results["dbs"].items() if r.get("http")]
    if not dbs:
        return False
    scenarios = list(results["dbs"][dbs[0]]["http"]["scenarios"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    width = 0.8 / len(dbs)

    def rate(s: dict[str, Any]) -> float:
        # A batch answers 1000 decisions: its bar is decisions/s, comparable with single checks.
        return float(s["decisions_per_s"] if s.get("checks_per_request", 1) > 1 else s["rps"])

    for k, db in enumerate(dbs):
        sc = results["dbs"][db]["http"]["scenarios"]
        xs = [i + k * width for i in range(len(scenarios))]
        bars = ax1.bar(xs, [rate(sc[s]) for s in scenarios], width, label=DB_LABEL[db])
        ax1.bar_label(bars, fmt="%.0f", fontsize=8)
        p50 = [sc[s]["p50_ms"] for s in scenarios]
        p99 = [sc[s]["p99_ms"] for s in scenarios]
        ax2.bar(xs, p99, width, alpha=0.35, color=f"C{k}", label=f"{DB_LABEL[db]} p99")
        ax2.bar(xs, p50, width, color=f"C{k}", label=f"{DB_LABEL[db]} p50")
    centers = [i + width * (len(dbs) - 1) / 2 for i in range(len(scenarios))]
    labels = [SCENARIO_LABEL.get(name, name) for name in scenarios]
    for ax, names in (
        (ax1, labels),
        (ax2, [n.replace("decisions/s", "per batch") for n in labels]),
    ):
        ax.set_xticks(centers, names, fontsize=8)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    ax1.set_title("Throughput: requests/s (batch: decisions/s), higher is better", fontsize=10)
    ax2.set_title("Latency p50 (solid) and p99 (light), ms, log scale", fontsize=10)
    ax2.set_yscale("log")
    http = results["config"]["http"]
    fig.suptitle(
        f"yuki-authz, {results['config']['domains']:,} domains; gunicorn "
        f"{http['workers']} workers \u00d7 {http['threads']} thread, "
        f"wrk -t{http['wrk_threads']} -c{http['connections']}, "
        f"{http['seconds']} s \u00d7 {http['rounds']} rounds — {results['meta']['date']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _table(headers: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items())


def markdown(results: dict[str, Any], plot_name: str | None) -> str:
    meta, cfg = results["meta"], results["config"]
    m = meta["machine"]
    out: list[str] = []
    add: Callable[[str], None] = out.append
    add("# yuki-authz benchmark\n")
    add(
        "Generated by `python -m bench` (`make bench`); every number below comes from the run "
        "described here, and is overwritten by the next one. Targets: `../shared/performance.md`. "
        "Ratios are measured within one run, on the same machine, because absolute times on these "
        "shared machines move by ±40% between runs.\n"
    )
    add("## The run\n")
    add(
        _table(
            ["", ""],
            [
                ["Command", f"`{meta['command']}`"],
                ["Date (UTC)", meta["date"]],
                [
                    "Code",
                    f"`{meta['git']}`"
                    + (
                        " — **files under service/ or policies/ changed during the run: its "
                        "numbers mix two versions of the code**"
                        if meta.get("code_changed_during_run")
                        else ""
                    ),
                ],
                ["Duration", f"{meta['duration_s'] / 60:.1f} min"],
                [
                    "Machine",
                    f"{m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gb']:.1f} GB RAM, "
                    f"{m['kernel']}",
                ],
                [
                    "Load average (1 min) at start / end",
                    f"{meta['load_before']} / {meta['load_after']} "
                    "(other work on the box shares the CPUs)",
                ],
                ["Software", ", ".join(f"{k} {v}" for k, v in m["versions"].items())],
                [
                    "Server",
                    f"{cfg['http']['launcher']}: gunicorn, {cfg['http']['workers']} sync "
                    f"workers \u00d7 {cfg['http']['threads']} thread, app preloaded, loopback, "
                    "access log to a file; decision cache on (the default); two API keys, "
                    "scope `check` for the queries and `admin` for the governed writes",
                ],
                [
                    "Load generator",
                    (
                        f"wrk -t{cfg['http']['wrk_threads']} -c{cfg['http']['connections']}"
                        if cfg["http"]["tool"] == "wrk"
                        else f"wrk not found: a Python client (http.client) in "
                        f"{cfg['http']['connections']} processes"
                    )
                    + f", {cfg['http']['warmup']} s warm-up per "
                    f"scenario, then {cfg['http']['rounds']} rounds of {cfg['http']['seconds']} s "
                    "per scenario, scenarios alternating (batches: a Python client on as many "
                    "connections that lets the answers in flight finish)",
                ],
            ],
        )
    )
    add("")
    add("## The world\n")
    wb, ws = results["world"]["big"], results["world"]["small"]
    add(
        f"Generated deterministically (seed {wb['seed']}) by `bench/world.py` and loaded with "
        "SQLAlchemy Core bulk inserts, then `ANALYZE` (SQLite) or `VACUUM (ANALYZE)` "
        "(PostgreSQL): the steady state autovacuum reaches by itself shortly after a bulk load "
        "(without the visibility map, PostgreSQL's list pages cost several times more).\n"
    )
    add(f"- Big world ({cfg['domains']:,} domains): {_fmt_counts(wb['counts'])}.")
    add(
        f"- Small world ({cfg['small_domains']:,} domains, same shape, for the scaling ratio): "
        f"{_fmt_counts(ws['counts'])}."
    )
    add(
        "- Portal users: 3 PortalAdministrator, 30 PortalBackoffice, 15 PortalDataEntry, 1 "
        "subcontractor (PortalBackoffice, scope `assigned`, 50 staff functions), 11 legacy "
        "PortalGuest (4 converted). Domains: plans Trial/Minimal/Small/Medium/Large/Unlimited "
        "4/14/24/30/16/12 %, 8 % legacy pricing, 12 % shielded, Back Office Access authorized on "
        "45 % of eligible domains, 3 % pending downgrades, 1 % guest discounts. One Management "
        "owner per domain (20 % also Backoffice), N/2 extra users with 1-2 roles (15 % limited to "
        "one administration)."
    )
    for db, r in results["dbs"].items():
        if r.get("skipped"):
            add(f"- {DB_LABEL[db]}: **skipped** — {r['skipped']}")
            continue
        add(
            f"- {DB_LABEL[db]}: schema by {r['schema']}; big world inserted in "
            f"{r['load']['big']['insert_seconds']} s ({r['load']['big']['rows']:,} rows), small in "
            f"{r['load']['small']['insert_seconds']} s."
        )
    add("")
    add("## The workload\n")
    hp = cfg["sizes"]["http"]
    streams = cfg.get("streams") or {}
    add(
        "Every check is drawn by `bench/workload.py` from one mix over the big world. Domains "
        f"follow a Zipf law (s = {cfg['zipf_s']}), office staff likewise; which domains and "
        "employees are the popular ones is fixed by the world's seed, so every stream below asks "
        "mostly about the same hot domains, as a real service's callers would. Half of an office "
        "employee's domain checks fall on domains where they hold a function; 10 % of the checks "
        "carry a `context.at`. Mix:\n"
    )
    add(_table(["Kind", "Share"], [[k.replace("_", " "), f"{v} %"] for k, v in cfg["mix"].items()]))
    add("")
    add(
        f"- In-process: {cfg['bodies']:,} checks drawn once; each measurement takes the first "
        f"{cfg['sizes']['checks']:,} (profile and HTTP layer: {cfg['sizes']['profile_checks']})."
    )
    mix = streams.get("mix")
    if mix:
        add(
            f"- HTTP `authorize` (target 1): a stream of {mix['lines']:,} requests, "
            f"{mix['authorize']:,} authorize bodies and {mix['writes']:,} governed writes "
            f"({mix['writes'] / mix['lines']:.0%}) at random places. A write is `PUT "
            "/v1/domains/<did>/shielded` by a PortalAdministrator (admin key, `X-Acting-User`) "
            "on a domain drawn from the same Zipf law; writes come in pairs that flip the "
            "domain's shield and then put it back, so the world keeps its shape. wrk "
            "(`bench/wrk.lua`) sends the lines in order and each run continues where the last "
            "one stopped: repeated checks come from the distribution, not from replaying a "
            "short list."
        )
    ro = streams.get("readonly")
    if ro:
        add(
            f"- HTTP `authorize-ro`: another {ro['lines']:,} authorize bodies of the same mix "
            "(other draws, same hot domains), no writes: the single-request side of target 4."
        )
    hits = streams.get("hits")
    if hits:
        add(
            f"- HTTP `authorize-hits`: the first {hits['distinct']} bodies of that stream, asked "
            "over and over: after the warm-up every decision is answered from the workers' "
            "caches, so this measures the HTTP layer alone (request parsing, validation, the "
            "API key, the decision log, the answer), the ceiling of target 1."
        )
    bt = streams.get("batches")
    if bt:
        add(
            f"- HTTP `batch-1000` (target 4): {bt['lines']} distinct bodies of "
            f"`POST /v1/authorize/batch`, {hp['batch_size']} checks of the mix each "
            f"({bt['checks']:,} checks in all). A batch takes a second or more, so this scenario "
            "is driven by a Python client that stops sending at the deadline and waits for the "
            "answers in flight (wrk would drop them), on the same number of connections."
        )
    if mix:
        add(
            f"- Freshness (target 3): {hp['freshness_writes']} governed writes after the load "
            "rounds, against the same server; see the section below."
        )
    add(
        "\nThe server starts with empty decision caches; the hit rates reported are the ones "
        "the measured runs saw (after the warm-up runs), from /metrics.\n"
    )
    add("## Results against the targets\n")
    body = [
        [
            r.target_id,
            r.measure,
            r.db,
            r.value,
            r.inputs,
            r.target,
            f"**{r.verdict}**" if r.verdict in ("PASS", "FAIL") else r.verdict,
        ]
        for r in rows(results)
    ]
    add(_table(["#", "Measure", "DB", "Value", "Inputs", "Target", "Verdict"], body))
    add("")
    if plot_name:
        add(f"![Throughput and latency per scenario]({plot_name})\n")
    add("## HTTP scenarios\n")
    hb = []
    for db, r in results["dbs"].items():
        if not r.get("http"):
            continue
        for name, s in r["http"]["scenarios"].items():
            rounds = " / ".join(f"{x['rps']:.0f}" for x in s["rounds"])
            hb.append(
                [
                    DB_LABEL[db],
                    name,
                    f"`{s['method']} {s['path']}`",
                    f"{s['rps']:.0f}",
                    rounds,
                    "—" if s.get("decisions_per_s") is None else f"{s['decisions_per_s']:.0f}",
                    _pct(s.get("hit_rate")),
                    f"{s['p50_ms']:.2f}",
                    f"{s['p90_ms']:.2f}",
                    f"{s['p99_ms']:.2f}",
                    f"{s['server_cpu_us_per_request']:.0f}",
                    str(s["requests"]),
                    str(s.get("writes", 0)),
                    str(s["errors"]),
                ]
            )
    add(
        _table(
            [
                "DB",
                "Scenario",
                "Request",
                "req/s",
                "req/s per round",
                "decisions/s",
                "cache hits",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "server CPU µs/req",
                "requests",
                "writes",
                "errors",
            ],
            hb,
        )
    )
    add(
        "\n`list-resources` is the PortalBackoffice's first page of 100 (`process` on Domain), the "
        "same body every time. req/s is all requests over all rounds (the `authorize` mix counts "
        "its writes too); decisions/s counts the 200 answers of authorize routes "
        "(\u00d7 1000 for a batch). The latency percentiles are the mean of the rounds' "
        "percentiles. Cache hits are the share of checks the workers answered from their "
        "decision caches, and errors the non-2xx answers plus wrk's socket errors, both from the "
        "server's /metrics scraped before and after each run (after the answers in flight have "
        "come back). Server CPU is user+system time of the gunicorn master and workers (from "
        "/proc) divided by the requests served.\n"
    )
    fresh_rows = []
    for db, r in results["dbs"].items():
        f = (r.get("http") or {}).get("freshness")
        if not f:
            continue
        fresh_rows.append(
            [
                DB_LABEL[db],
                str(f["writes"]),
                _counts(f["write_statuses"]),
                f"{f.get('checks_before', 0):,}",
                f"{f.get('hits_before', 0):,}",
                str(f.get("rounds_every_worker_hit_before", 0)),
                f"{f.get('checks_after', 0):,}",
                f"{f.get('new_questions_after', 0):,}",
                f"{f.get('checks_after_by_other_worker', 0):,}",
                f"{f.get('hits_after', 0):,} / {f.get('misses_after', 0):,}",
                f"{f.get('flips_seen', 0)} / {f.get('flips_expected', 0)}",
                f"**{f.get('stale_after', 0)}**",
                str(f.get("wrong_before", 0)),
            ]
        )
    if fresh_rows:
        add("## Freshness across workers\n")
        add(
            "After the load rounds, against the same 2-worker server (`bench/freshness.py`). "
            "Candidates alternate between two kinds of write: Back Office Access "
            "(`PUT /v1/domains/<did>/bo-access`, checks: the domain's owner, who holds the "
            "Backoffice role, may `process` / `data_entry` the domain) and shielding "
            "(`PUT /v1/domains/<did>/shielded`, checks: a PortalBackoffice with no staff function "
            "there may `open` the domain / `access` its first administration, whose facts hold "
            "the domain's). Each round asks the candidate's checks "
            "several times at once on new connections (sync workers answer one request each, so "
            "both take some) to fill both workers' caches, does the write as a "
            "PortalAdministrator, then at once asks the checks again, and the same checks on a "
            "date never asked before (new decisions about objects whose facts the workers may "
            "hold), and compares every answer "
            "with the decision an app without cache makes after the write. Which worker answered "
            "what comes from the per-worker counter files behind /metrics.\n"
        )
        add(
            _table(
                [
                    "DB",
                    "writes",
                    "write statuses",
                    "asks before",
                    "of them cache hits",
                    "rounds every worker hit",
                    "asks after",
                    "of them new questions",
                    "answered by the other worker",
                    "hits / misses after",
                    "truth flipped",
                    "stale after",
                    "wrong before",
                ],
                fresh_rows,
            )
        )
        add("")
    add("## Where the time goes\n")
    for db, r in results["dbs"].items():
        ip = r.get("inprocess")
        if not ip:
            continue
        p = ip["profile"]
        add(f"### {DB_LABEL[db]}\n")
        add(
            f"Over {p['checks']} uncached authorizes of the mix (decision cache off): "
            f"**{p['oso_queries_per_check']:.2f} oso "
            f"queries** and **{p['oso_callbacks_per_check']:.1f} host callbacks** per check ("
            + ", ".join(
                f"{k} {v:.1f}"
                for k, v in sorted(p["oso_events_per_check"].items(), key=lambda kv: -kv[1])
            )
            + ").\n"
        )
        add(
            _table(
                ["Check kind", "Checks", "oso queries / check", "callbacks / check"],
                [
                    [k, str(v["checks"]), f"{v['queries']:.2f}", f"{v['callbacks']:.1f}"]
                    for k, v in p["per_kind"].items()
                ],
            )
        )
        kinds = ip["decide"].get("per_kind")
        if kinds:
            add(
                "\n`PolicyEngine.decide` on preloaded facts, by check kind and outcome (kinds "
                "asked at least 10 times, cheapest first; a deny runs the `deny_reason` query "
                "after `allow`). The cheapest row is this engine's floor for one decision, "
                "before any SQL:\n"
            )
            add(
                _table(
                    ["Actor", "Action", "Resource", "Outcome", "Checks", "Median", "Share of time"],
                    [
                        [
                            k["actor"],
                            f"`{k['action']}`",
                            k["resource"],
                            "allowed" if k["allowed"] else "denied",
                            str(k["checks"]),
                            _ms(k["median_us"]),
                            f"{k['share_of_time']:.1%}",
                        ]
                        for k in kinds
                    ],
                )
            )
        layer = ip.get("http_layer")
        if layer:
            h, a, s = layer["healthz"], layer["authorize"], layer["stubbed"]
            add(
                f"\nThe HTTP layer, through Flask's test client in one process ({h['n']} requests "
                "each, interleaved; medians): `GET /healthz` "
                f"{_ms(h['median_us'])}, `POST /v1/authorize` {_ms(a['median_us'])} (decision "
                "cache off), and the same "
                f"authorize with the decision replaced by a constant {_ms(s['median_us'])}. So "
                f"parsing, validating, authenticating and serialising an authorize costs "
                f"{_ms(s['median_us'] - h['median_us'])} more than the constant route before any "
                "decision is made (the test client's own overhead is in all three)."
            )
        split = p.get("split_us_per_check")
        if split:
            add(
                "\nTime per check under cProfile (µs, profiler overhead included, so only the "
                "proportions count):\n"
            )
            add(_table(["Part", "µs / check"], [[k, f"{v:,}"] for k, v in split.items()]))
        add("\nSQL statements of the uncached checks (most frequent shapes):\n")
        add("```")
        for shape, n in ip["authorize"]["sql_shapes"]:
            add(f"{n:6d} \u00d7 {shape}")
        add("```\n")
        add("cProfile of the same checks, top functions by own time:\n")
        add("```")
        add(p["top_tottime"])
        add("```\n")
    add("## Method notes\n")
    add(
        "- In-process numbers come from a child process (`bench/inprocess.py`) that walks the "
        "lists first; the kernel's peak-RSS mark (VmHWM) is reset just before the walk, so the "
        "growth is the walk's own. Each check opens and removes its own session, like a "
        "request.\n"
        "- Uncached means an app built with `DECISION_CACHE` off (`Authorizer.cache` is None): "
        "the uncached authorize, its SQL count, the list ratios' denominator, scaling and the "
        "profile never touch a cache. The cached measurement uses a second app on the same "
        "database with the cache on (the default), filled by one pass over the same checks.\n"
        "- `PolicyEngine.decide` is timed on facts loaded beforehand; `Authorizer.authorize` "
        "includes loading them (connection checkout, SQL, rows to facts).\n"
        "- The bench's processes on one database (in-process child, governed child, server) map "
        "one revision board at a fixed path per database kind "
        "(`/dev/shm/yuki-authz-bench-<uid>/<kind>.board`), reset when the in-process child and "
        "`serve` start, so runs leave no board per temporary database behind.\n"
        "- The list ratios divide by the median of uncached authorizes interleaved with the list "
        "repeats (same minute, same noise).\n"
        "- The walk's completeness is checked against the set computed from the generated world "
        "(unshielded domains plus the employee's staff domains), and spot-checked against "
        "`authorize` in both directions.\n"
        "- `python -m bench --quick` is a smoke run on a small world with short wrk runs; its "
        "report goes to `bench/out/` unless `--out` is given."
    )
    return "\n".join(out) + "\n"


def write(results: dict[str, Any], readme: Path) -> Path | None:
    plot_path = readme.with_name("throughput.png")
    name = plot_path.name if plot(results, plot_path) else None
    readme.write_text(markdown(results, name), encoding="utf-8")
    return plot_path if name else None
