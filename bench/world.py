"""Generate a deterministic world of N domains and load it with SQLAlchemy Core bulk inserts.

The shape follows performance.md: 1 portal, 60 portal users, N domains, 1.5 N domain users, about
two staff functions and 1.3 administrations per domain. The same seed gives the same world.
Databases are the bench's own: an SQLite file under bench/out/, or a PostgreSQL database
`yuki_bench_<pid>[_suffix]` created on 127.0.0.1:5432 and dropped by `drop_database`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

OUT = Path(__file__).resolve().parent / "out"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHUNK = 10_000

PORTAL_ID = "p-1"
FUNCTIONS = ("Responsible", "Backup", "Controller", "AccountManager")
PLANS = ("Trial", "Minimal", "Small", "Medium", "Large", "Unlimited")
PLAN_WEIGHTS = (4, 14, 24, 30, 16, 12)
ELIGIBLE = {"Small", "Medium", "Large", "Unlimited"}
EXTRA_ROLES = (
    "Backoffice",
    "Sales",
    "Purchase",
    "FinAdmin",
    "HRM",
    "Accountant",
    "ReadOnlyUser",
    "SecurityManager",
    "Procurement",
)
EXTRA_ROLE_WEIGHTS = (25, 18, 14, 12, 8, 8, 8, 4, 3)
GUEST_DOMAINS = 8  # each legacy guest is Responsible on this many domains
SUBCONTRACTOR_DOMAINS = 50


@dataclass
class World:
    """Rows per table (tuples in column order) plus the indexes the workload draws from."""

    n_domains: int
    seed: int
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Workload indexes.
    portal_users: dict[str, list[str]] = field(default_factory=dict)  # role key -> ids
    domain_ids: list[str] = field(default_factory=list)
    shielded: list[bool] = field(default_factory=list)
    users_by_domain: list[list[str]] = field(default_factory=list)
    adms_by_domain: list[list[str]] = field(default_factory=list)
    staff_of: dict[str, list[int]] = field(default_factory=dict)  # portal user -> domain indexes

    def counts(self) -> dict[str, int]:
        return {table: len(rows) for table, rows in self.rows.items()}

    @property
    def backoffice(self) -> str:
        """The PortalBackoffice (scope portal) whose lists the bench walks."""
        return self.portal_users["backoffice"][0]

    @property
    def subcontractor(self) -> str:
        return self.portal_users["subcontractor"][0]

    def expected_process_domains(self, user_id: str) -> list[str]:
        """Domains a non-converted office employee may `process`, computed from the rows.

        A PortalBackoffice with scope portal: every unshielded domain plus those where they hold a
        staff function; with scope assigned: only the latter. Used to verify the list walk.
        """
        assigned = set(self.staff_of.get(user_id, ()))
        if user_id in self.portal_users["subcontractor"]:
            keep = assigned
        else:
            keep = assigned | {i for i, s in enumerate(self.shielded) if not s}
        return sorted(self.domain_ids[i] for i in keep)


def ids_digest(ids: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for oid in ids:
        digest.update(oid.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def generate(n_domains: int, seed: int = 20_220_201) -> World:
    """Build the rows of a world with `n_domains` domains (deterministic for a seed)."""
    rng = random.Random(seed)
    w = World(n_domains=n_domains, seed=seed)
    utc = dt.UTC

    w.columns["portals"] = ("id", "name", "country")
    w.rows["portals"] = [(PORTAL_ID, "Fiduciaire Bench", "BE")]

    # 60 portal users: 3 administrators, 30 back-office, 15 data-entry, 1 subcontractor
    # (PortalBackoffice, scope assigned), 11 legacy guests of whom 4 are converted.
    w.columns["portal_users"] = (
        "id",
        "portal_id",
        "email",
        "name",
        "role",
        "scope",
        "created_at",
        "converted_at",
    )
    plan_users = [
        ("admin", "PortalAdministrator", "portal", 3),
        ("backoffice", "PortalBackoffice", "portal", 30),
        ("dataentry", "PortalDataEntry", "portal", 15),
        ("subcontractor", "PortalBackoffice", "assigned", 1),
        ("guest", "PortalGuest", "portal", 11),
    ]
    pu_rows = []
    for key, role, scope, count in plan_users:
        ids = w.portal_users.setdefault(key, [])
        for k in range(1, count + 1):
            uid = f"u-{key}-{k:02d}"
            ids.append(uid)
            created = dt.datetime(2019, 1, 7, 9, tzinfo=utc) + dt.timedelta(days=rng.randrange(900))
            converted = None
            if key == "guest" and k <= 4:
                converted = dt.datetime(2022, 1, 20, 9, tzinfo=utc)
            pu_rows.append(
                (
                    uid,
                    PORTAL_ID,
                    f"{uid}@office.test",
                    f"{role} {k}",
                    role,
                    scope,
                    created,
                    converted,
                )
            )
    w.rows["portal_users"] = pu_rows
    staff_pool = (
        w.portal_users["admin"] + w.portal_users["backoffice"] + w.portal_users["dataentry"]
    )

    # Domains with varied plans, pricing, shielding and authorization.
    w.columns["domains"] = (
        "id",
        "portal_id",
        "name",
        "plan",
        "pricing_model",
        "shielded",
        "bo_access_authorized",
        "pending_plan",
        "pending_plan_from",
        "guest_discount_percent",
        "guest_discount_months",
        "guest_discount_starts_on",
    )
    domains = []
    plans = rng.choices(PLANS, weights=PLAN_WEIGHTS, k=n_domains)
    for i in range(n_domains):
        did = f"d-{i + 1:06d}"
        plan = plans[i]
        pricing = "legacy_modules" if rng.random() < 0.08 else "bundle"
        shielded = rng.random() < 0.12
        eligible = pricing == "bundle" and plan in ELIGIBLE
        authorized = rng.random() < (0.45 if eligible else 0.10)
        pending = pending_from = None
        if rng.random() < 0.03 and plan not in ("Trial", "Minimal"):
            pending = PLANS[PLANS.index(plan) - rng.randint(1, 2)]
            pending_from = dt.date(rng.choice((2025, 2026, 2027, 2030)), rng.randint(1, 12), 1)
        discount = (None, None, None)
        if rng.random() < 0.01:
            starts = (
                dt.date(2022, rng.randint(1, 12), rng.randint(1, 28))
                if rng.random() < 0.7
                else None
            )
            discount = (50, 24, starts)
        domains.append(
            (
                did,
                PORTAL_ID,
                f"domain-{i + 1}",
                plan,
                pricing,
                shielded,
                authorized,
                pending,
                pending_from,
                *discount,
            )
        )
        w.domain_ids.append(did)
        w.shielded.append(shielded)
    w.rows["domains"] = domains

    # Staff functions: one to three per domain (two on average), held by office staff; guests are
    # Responsible on a few domains each, the subcontractor holds 50 functions.
    holders: list[dict[str, str]] = []
    for _ in range(n_domains):
        k = rng.choices((1, 2, 3), weights=(1, 2, 1))[0]
        fns = ["Responsible", *rng.sample(FUNCTIONS[1:], k - 1)]
        holders.append({fn: rng.choice(staff_pool) for fn in fns})
    picks = rng.sample(
        range(n_domains), len(w.portal_users["guest"]) * GUEST_DOMAINS + SUBCONTRACTOR_DOMAINS
    )
    for g, guest in enumerate(w.portal_users["guest"]):
        for i in picks[g * GUEST_DOMAINS : (g + 1) * GUEST_DOMAINS]:
            holders[i]["Responsible"] = guest
    for i in picks[-SUBCONTRACTOR_DOMAINS:]:
        holders[i][rng.choice(("Backup", "Controller"))] = w.subcontractor
    w.columns["staff_assignments"] = ("domain_id", "function", "user_id")
    staff_rows = []
    for i, fns in enumerate(holders):
        for fn, uid in fns.items():
            staff_rows.append((w.domain_ids[i], fn, uid))
            w.staff_of.setdefault(uid, []).append(i)
    w.rows["staff_assignments"] = staff_rows

    # Administrations: one per domain, a second for 20%, a third for 5%.
    w.columns["administrations"] = ("id", "domain_id", "name")
    adm_rows = []
    for did in w.domain_ids:
        count = 1 + (rng.random() < 0.20) + (rng.random() < 0.05)
        mine = []
        for _ in range(count):
            aid = f"a-{len(adm_rows) + 1:07d}"
            adm_rows.append((aid, did, f"Administration {len(adm_rows) + 1}"))
            mine.append(aid)
        w.adms_by_domain.append(mine)
    w.rows["administrations"] = adm_rows

    # Domain users: one Management owner per domain, then N/2 extra users on random domains.
    w.columns["domain_users"] = (
        "id",
        "domain_id",
        "email",
        "name",
        "is_owner",
        "all_administrations",
    )
    w.columns["domain_user_roles"] = ("user_id", "role")
    w.columns["domain_user_administrations"] = ("user_id", "administration_id")
    du_rows, role_rows, link_rows = [], [], []
    w.users_by_domain = [[] for _ in range(n_domains)]

    def add_user(i: int, owner: bool, roles: set[str], limited: bool) -> None:
        uid = f"du-{len(du_rows) + 1:07d}"
        adms = w.adms_by_domain[i]
        du_rows.append(
            (
                uid,
                w.domain_ids[i],
                f"{uid}@client.test",
                f"User {len(du_rows) + 1}",
                owner,
                not limited,
            )
        )
        role_rows.extend((uid, r) for r in sorted(roles))
        if limited:
            link_rows.append((uid, rng.choice(adms)))
        w.users_by_domain[i].append(uid)

    for i in range(n_domains):
        roles = {"Management"}
        if rng.random() < 0.20:
            roles.add("Backoffice")
        if rng.random() < 0.10:
            roles.add("FinAdmin")
        add_user(i, True, roles, False)
    for _ in range(n_domains // 2):
        i = rng.randrange(n_domains)
        roles = set(rng.choices(EXTRA_ROLES, weights=EXTRA_ROLE_WEIGHTS, k=rng.randint(1, 2)))
        add_user(i, False, roles, rng.random() < 0.15)
    w.rows["domain_users"] = du_rows
    w.rows["domain_user_roles"] = role_rows
    w.rows["domain_user_administrations"] = link_rows

    w.columns["data_revision"] = ("id", "value")
    w.rows["data_revision"] = [(1, 1)]
    return w


# -- databases ------------------------------------------------------------------------------
def database_url(kind: str, name: str) -> str:
    """Return the URL of the bench database `name` of kind sqlite|postgresql."""
    if kind == "sqlite":
        return f"sqlite:///{OUT / (name + '.sqlite')}"
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def bench_db_name(suffix: str) -> str:
    return f"yuki_bench_{os.getpid()}_{suffix}"


def create_database(kind: str, name: str) -> str:
    """Create an empty database and return its URL."""
    url = database_url(kind, name)
    if kind == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"{name}.sqlite"
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        return url
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url


def drop_database(kind: str, name: str) -> None:
    """Drop a database `create_database` made (idempotent)."""
    if kind == "sqlite":
        path = OUT / f"{name}.sqlite"
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def create_schema(url: str) -> str:
    """Create the schema with the project's migrations (or create_all); return which was used."""
    try:
        from service import create_app
        from service.db import upgrade_schema
    except ImportError:
        upgrade_schema = None
    if upgrade_schema is not None:
        app = create_app({"DATABASE_URL": url, "LOAD_POLICY": False, "REQUIRE_API_KEYS": False})
        upgrade_schema(app)
        from service.db import dispose_engines

        dispose_engines(app)
        return "alembic (service.db.upgrade_schema)"
    from service.models import Base

    engine = create_engine(url)
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    return "Base.metadata.create_all"


def _chunks(rows: list[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _loader_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=OFF")
            cur.close()

    return engine


INSERT_ORDER = (
    "portals",
    "portal_users",
    "domains",
    "administrations",
    "staff_assignments",
    "domain_users",
    "domain_user_roles",
    "domain_user_administrations",
    "data_revision",
)


def load(world: World, url: str) -> dict[str, Any]:
    """Insert every row (Core executemany in chunks, one transaction), then VACUUM/ANALYZE."""
    from service.models import Base

    engine = _loader_engine(url)
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            for table_name in INSERT_ORDER:
                table = Base.metadata.tables[table_name]
                if table_name == "data_revision":
                    conn.execute(table.delete())  # a migration may seed the row
                cols = world.columns[table_name]
                for chunk in _chunks(world.rows[table_name], CHUNK):
                    conn.execute(
                        table.insert(), [dict(zip(cols, row, strict=True)) for row in chunk]
                    )
        inserted = time.perf_counter() - started
        # The steady state of a live database: planner statistics (ANALYZE) and, on PostgreSQL,
        # the visibility map that index-only scans need (VACUUM), which autovacuum would reach
        # on its own a minute or so after a bulk load: measure that state, not its timing.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                text("VACUUM (ANALYZE)" if engine.dialect.name == "postgresql" else "ANALYZE")
            )
    finally:
        engine.dispose()
    return {
        "rows": sum(world.counts().values()),
        "insert_seconds": round(inserted, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
    }
