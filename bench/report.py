"""Turn a bench result (the JSON in bench/out/) into bench/README.md and bench/throughput.png."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_LABEL = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


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


def _rows_for_db(db: str, r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    label = DB_LABEL[db]

    def add(tid: str, measure: str, value: str, inputs: str, target: str, verdict: str) -> None:
        rows.append(Row(tid, measure, label, value, inputs, target, verdict))

    http = r.get("http")
    if http:
        sc = http["scenarios"]
        h, a = sc["healthz"], sc["authorize"]
        ratio = a["rps"] / h["rps"]
        add(
            "1",
            "HTTP authorize throughput / constant-JSON throughput",
            f"**{ratio:.3f}\u00d7**",
            f"authorize {a['rps']:.0f} req/s (p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms)"
            f" ÷ /healthz {h['rps']:.0f} req/s (p50 {h['p50_ms']:.1f} ms, p99 "
            f"{h['p99_ms']:.1f} ms); server CPU {a['server_cpu_us_per_request']:.0f} vs "
            f"{h['server_cpu_us_per_request']:.0f} µs/request; read-only mix: no governed writes",
            "≥ 0.8\u00d7",
            _verdict(ratio >= 0.8),
        )
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
        f"{auth['timing']['n']} checks of the mix, one session each, SQL included; mean "
        f"{_ms(auth['timing']['mean_us'])}",
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
        f"(a deny runs the `deny_reason` query too)",
        "≤ 250 µs (lower bound of the above)",
        _verdict(dec["all"]["median_us"] <= 250),
    )
    add(
        "2",
        "SQL statements per uncached check (max; mean)",
        f"**{auth['sql_per_check_max']}** ({auth['sql_per_check_mean']:.2f})",
        "counted with a `before_cursor_execute` listener; distribution "
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
    add(
        "2",
        "Cached decision (median µs, SQL statements)",
        "—",
        "there is no decision cache yet",
        "≤ 20 µs, 0 SQL",
        "not measured",
    )
    fp = ip["first_pages"]
    base = fp["authorize_interleaved"]["median_us"]
    bo = fp["backoffice_first_page"]["median_us"]
    sub = fp["subcontractor_page"]["median_us"]
    add(
        "5",
        "list-resources, PortalBackoffice, first page of 100 / one uncached authorize",
        f"**{bo / base:.2f}\u00d7**",
        f"page median {_ms(bo)} over {fp['backoffice_first_page']['n']} repeats ÷ authorize median "
        f"{_ms(base)} over {fp['authorize_interleaved']['n']} checks interleaved with them",
        "≤ 3\u00d7",
        _verdict(bo / base <= 3),
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
            "`process` on Domain",
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
        f"page median {_ms(sub)} ({fp['sizes']['subcontractor']['ids']} ids) ÷ authorize median "
        f"{_ms(base)}",
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
        f" ({sc['small']['n']} checks), alternating blocks",
        "≤ 1.2\u00d7",
        _verdict(ratio <= 1.2),
    )
    return rows


NOT_MEASURED = [
    Row(
        "3",
        "Freshness across workers (write through one, check through another)",
        "all",
        "—",
        "not in this first bench",
        "never stale",
        "not measured",
    ),
    Row(
        "4",
        "`POST /v1/authorize/batch` (1000 checks) decisions/s ÷ single requests",
        "all",
        "—",
        "not in this first bench",
        "≥ 10\u00d7",
        "not measured",
    ),
]


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for db, r in results["dbs"].items():
        if r.get("skipped"):
            continue
        out.extend(_rows_for_db(db, r))
    out.extend(NOT_MEASURED)
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
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.8 / len(dbs)
    for k, db in enumerate(dbs):
        sc = results["dbs"][db]["http"]["scenarios"]
        xs = [i + k * width for i in range(len(scenarios))]
        bars = ax1.bar(xs, [sc[s]["rps"] for s in scenarios], width, label=DB_LABEL[db])
        ax1.bar_label(bars, fmt="%.0f", fontsize=8)
        p50 = [sc[s]["p50_ms"] for s in scenarios]
        p99 = [sc[s]["p99_ms"] for s in scenarios]
        ax2.bar(xs, p99, width, alpha=0.35, color=f"C{k}", label=f"{DB_LABEL[db]} p99")
        ax2.bar(xs, p50, width, color=f"C{k}", label=f"{DB_LABEL[db]} p50")
    centers = [i + width * (len(dbs) - 1) / 2 for i in range(len(scenarios))]
    for ax in (ax1, ax2):
        ax.set_xticks(centers, scenarios)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    ax1.set_title("Throughput (req/s, higher is better)")
    ax2.set_title("Latency p50 (solid) and p99 (light), ms, log scale")
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
                    "access log to a file",
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
                    f"route, then {cfg['http']['rounds']} rounds of {cfg['http']['seconds']} s "
                    "per route, routes alternating",
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
    add(
        f"{cfg['bodies']:,} authorize bodies pre-generated by `bench/workload.py`, shared by wrk "
        "(cycled by `bench/wrk.lua`) and the in-process measurements. Domains are drawn with a "
        f"Zipf law (s = {cfg['zipf_s']}, ranks shuffled over the ids), office staff likewise; half "
        "of an office employee's domain checks fall on domains where they hold a function. "
        "10 % carry a `context.at`. Mix:\n"
    )
    add(_table(["Kind", "Share"], [[k.replace("_", " "), f"{v} %"] for k, v in cfg["mix"].items()]))
    add(
        "\nThe 1 % of governed writes that target 1 asks for is **not** in this first bench's "
        "mix: it is read-only, so target 1 is measured on checks alone.\n"
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
                    f"{s['p50_ms']:.2f}",
                    f"{s['p90_ms']:.2f}",
                    f"{s['p99_ms']:.2f}",
                    f"{s['server_cpu_us_per_request']:.0f}",
                    str(s["requests"]),
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
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "server CPU µs/req",
                "requests",
                "errors",
            ],
            hb,
        )
    )
    add(
        "\n`list-resources` is the PortalBackoffice's first page of 100 (`process` on Domain), the "
        "same body every time. req/s is all requests over all rounds; the latency percentiles are "
        "the mean of the rounds' percentiles. Server CPU is user+system time of the gunicorn "
        "master and workers (from /proc) divided by the requests served.\n"
    )
    add("## Where the time goes\n")
    for db, r in results["dbs"].items():
        ip = r.get("inprocess")
        if not ip:
            continue
        p = ip["profile"]
        add(f"### {DB_LABEL[db]}\n")
        add(
            f"Over {p['checks']} authorizes of the mix: **{p['oso_queries_per_check']:.2f} oso "
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
        layer = ip.get("http_layer")
        if layer:
            h, a, s = layer["healthz"], layer["authorize"], layer["stubbed"]
            add(
                f"\nThe HTTP layer, through Flask's test client in one process ({h['n']} requests "
                "each, interleaved; medians): `GET /healthz` "
                f"{_ms(h['median_us'])}, `POST /v1/authorize` {_ms(a['median_us'])}, and the same "
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
        "- `PolicyEngine.decide` is timed on facts loaded beforehand; `Authorizer.authorize` "
        "includes loading them (connection checkout, SQL, rows to facts).\n"
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
