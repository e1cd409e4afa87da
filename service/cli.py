"""The `yuki-authz` command: init-db, import, serve, audit verify, convert-guests."""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

DEMO_WORLD = Path(__file__).with_name("demo_world.json")

# Commands that only touch the database need neither API keys nor the policy engine.
_DATA_ONLY = {"REQUIRE_API_KEYS": False, "LOAD_POLICY": False}


def _build_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    from service import create_app
    from service.config import ConfigError

    try:
        return create_app(overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """yuki-authz: policy-as-code authorization for Yuki's Back Office Access."""


@cli.command("init-db")
def init_db_command() -> None:
    """Create or migrate the schema of DATABASE_URL to the latest revision (idempotent)."""
    app = _build_app(_DATA_ONLY)
    try:
        _upgrade(app)
    finally:
        _dispose(app)


def _upgrade(app: Flask) -> None:
    from service.db import current_revision, upgrade_schema

    before = current_revision(app)
    upgrade_schema(app)
    after = current_revision(app)
    url = _safe_url(app)
    if before == after:
        click.echo(f"Schema already at revision {after} ({url}).")
    else:
        click.echo(f"Schema migrated from {before or 'empty'} to {after} ({url}).")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Load a world file (the format of POST /v1/import) into the database; print the counts."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"cannot read {file} as JSON: {exc}") from exc
    app = _build_app(_DATA_ONLY)
    try:
        result = _import(app, data)
    finally:
        _dispose(app)
    click.echo(f"Imported {file}:")
    for kind, count in _counts(result).items():
        click.echo(f"  {kind}: {count}")
    if "revision" in result:
        click.echo(f"  data revision: {result['revision']}")


def _counts(result: Mapping[str, Any]) -> dict[str, Any]:
    """Return the per-kind counts of an import answer ({"counts": {...}, ...} or flat)."""
    counts = result.get("counts", result)
    return dict(counts) if isinstance(counts, Mapping) else {"records": counts}


def _import(app: Flask, data: Any) -> dict[str, Any]:
    """Import `data` in one transaction, through the same function as POST /v1/import."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from service.db import db
    from service.imports import import_world

    with app.app_context():
        session = db.session()
        try:
            counts = import_world(session, data)
            session.commit()
        except ValueError as exc:  # the import's own validation error (service.imports)
            session.rollback()
            details = getattr(exc, "details", None)
            suffix = f"\n{json.dumps(details, indent=2, default=str)}" if details else ""
            raise click.ClickException(f"import refused: {exc}{suffix}") from exc
        except (OperationalError, ProgrammingError) as exc:
            session.rollback()
            raise click.ClickException(
                f"the database is not ready ({type(exc).__name__}): run `yuki-authz init-db` first"
            ) from exc
        finally:
            db.session.remove()
    return dict(counts)


@cli.group("audit")
def audit_group() -> None:
    """Inspect the audit trail."""


@audit_group.command("verify")
def audit_verify_command() -> None:
    """Check the audit chain end to end; name the first broken link (exit 1 when broken)."""
    from service import audit
    from service.db import db

    app = _build_app(_DATA_ONLY)
    try:
        with app.app_context():
            result = audit.verify(db.session())
    finally:
        _dispose(app)
    if result.ok:
        click.echo(f"Audit chain intact: {result.checked} events verified; head {result.head}.")
        return
    click.echo(
        f"Audit chain BROKEN at event {result.first_broken_id}: {result.problem} "
        f"({result.checked} events verified before it).",
        err=True,
    )
    sys.exit(1)


@cli.command("convert-guests")
@click.option("--portal", "portal_id", required=True, help="The portal whose guests to convert.")
@click.option(
    "--acting-user",
    required=True,
    help="The PortalAdministrator acting, as PortalUser:<id> (checked by the policy).",
)
@click.option("--dry-run", is_flag=True, help="Report what would be done; change nothing.")
def convert_guests_command(portal_id: str, acting_user: str, dry_run: bool) -> None:
    """Convert a portal's legacy guests to Back Office Access (domain.md section 4)."""
    from service import pricing
    from service.authz import Ref
    from service.db import db
    from service.operations import OperationContext, OperationError
    from service.operations.conversion import convert_guests
    from service.vocabulary import is_id

    kind, _, ident = acting_user.partition(":")
    if kind != "PortalUser" or not is_id(ident):
        raise click.BadParameter("use PortalUser:<id>", param_hint="--acting-user")
    app = _build_app({"REQUIRE_API_KEYS": False})
    try:
        with app.app_context():
            ctx = OperationContext(
                session=db.session(),
                authz=app.extensions["authz"],
                catalogue=pricing.Catalogue.load(app.config.get("PRICING_CATALOGUE")),
                actor=Ref("PortalUser", ident),
                api_key="cli",
            )
            try:
                result = convert_guests(ctx, portal_id, dry_run=dry_run)
            except OperationError as exc:
                raise click.ClickException(f"{exc.message} {json.dumps(exc.details)}") from exc
    finally:
        _dispose(app)
    click.echo(json.dumps(result.body, indent=2, sort_keys=True))


@cli.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads", default=1, show_default=True, type=click.IntRange(1, 64), help="Per worker."
)
@click.option("--timeout", default=30, show_default=True, type=click.IntRange(1, 3600))
@click.option("--demo", is_flag=True, help="Migrate the schema and import the demo world first.")
def serve_command(bind: str, workers: int, threads: int, timeout: int, demo: bool) -> None:
    """Serve the API with gunicorn; the app and its policy engine are built once, before forking."""
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers must pool their metrics for /metrics to report the whole server.
        metrics_dir = tempfile.mkdtemp(prefix="yuki-authz-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        atexit.register(_remove_in_process, metrics_dir, os.getpid())
    # A fresh revision board: slots a killed writer of an earlier run left in flight are gone.
    app = _build_app({"DECISION_CACHE_RESET": True})
    if demo:
        _upgrade(app)
        result = _import(app, json.loads(DEMO_WORLD.read_text(encoding="utf-8")))
        counts = _counts(result)
        click.echo("Demo world imported: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        _print_usage(app, bind)
    _dispose(app)  # no connection may cross the fork
    tune_gc()
    options = gunicorn_options(app, bind=bind, workers=workers, threads=threads, timeout=timeout)
    GunicornApp(app, options).run()


# The young generation's size before Python's collector runs (its default is 700 objects).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Before forking: freeze what the preloaded app built, and collect less often.

    The decision cache holds hundreds of thousands of objects that live for long; with the
    default thresholds the collector kept walking them (15% of a batch's time, with pauses of
    a quarter second). Frozen startup objects are never walked again (and their pages stay
    shared with the workers), and a larger young generation makes full collections rare.
    Reference cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _remove_in_process(path: str, pid: int) -> None:
    """Remove `path` when process `pid` (the master, not a forked worker) exits."""
    if os.getpid() == pid:
        shutil.rmtree(path, ignore_errors=True)


def gunicorn_options(
    app: Flask, *, bind: str, workers: int, threads: int, timeout: int = 30
) -> dict[str, Any]:
    """Return the gunicorn settings: preloaded app, fresh database pools in every worker."""
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": timeout,
        "preload_app": True,
        "post_fork": _post_fork_hook(app),
        "child_exit": _child_exit,
        "accesslog": "-",
        "proc_name": "yuki-authz",
        # gunicorn >= 25 opens a control socket at one fixed path per user; two servers on one
        # machine (a bench, a demo) would fight over it.
        "control_socket_disable": True,
    }


def _post_fork_hook(app: Flask) -> Callable[[Any, Any], None]:
    def post_fork(_server: Any, _worker: Any) -> None:
        from service.db import dispose_engines

        # The child must open its own connections; close=False leaves the parent's sockets alone.
        dispose_engines(app, close=False)

    return post_fork


def _child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


class GunicornApp(BaseApplication):
    """Gunicorn serving an app that already exists (built in the master: preload)."""

    def __init__(self, app: Flask, options: Mapping[str, Any]) -> None:
        self.application = app
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def _print_usage(app: Flask, bind: str) -> None:
    base = f"http://{bind}"
    keys = app.config["AUTHZ_API_KEYS"]
    headers = ["-H", "Content-Type: application/json"]
    if keys:
        # --demo is run by whoever set the key: show it so the examples work as pasted.
        headers += ["-H", f"Authorization: Bearer {keys[0].secret}"]

    def curl(actor: str, domain: str) -> str:
        body = {
            "actor": {"type": "DomainUser", "id": actor},
            "action": "process",
            "resource": {"type": "Domain", "id": domain},
        }
        return shlex.join(["curl", "-s", f"{base}/v1/authorize", *headers, "-d", json.dumps(body)])

    click.echo(
        "\nyuki-authz demo (world: service/demo_world.json)\n"
        f"  API docs:  {base}/docs   (OpenAPI: {base}/openapi.json)\n"
        f"  Health:    {base}/healthz  {base}/readyz  {base}/metrics\n"
        "  An Peeters (Back Office Access on a Medium plan) may book in bakkerij-peeters:\n"
        f"    {curl('du-2', 'd-1')}\n"
        "  Pierre Lambert may not: garage-lambert never authorized Back Office Access:\n"
        f"    {curl('du-5', 'd-2')}\n"
    )
    sys.stdout.flush()


def _dispose(app: Flask) -> None:
    from service.db import dispose_engines

    dispose_engines(app)


def _safe_url(app: Flask) -> str:
    from sqlalchemy.engine import make_url

    return make_url(app.config["DATABASE_URL"]).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> None:
    """Run the `yuki-authz` command line."""
    level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else logging.WARNING,
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
    )
    cli.main(args=argv, prog_name="yuki-authz")
