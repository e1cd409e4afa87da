"""The `yuki-authz` command: init-db is idempotent, import loads a world, serve runs gunicorn."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select

from service import cli as cli_module
from service.cli import DEMO_WORLD, cli, gunicorn_options
from service.db import db, head_revision

EXPECTED_TABLES = {
    "administrations",
    "alembic_version",
    "data_revision",
    "domain_user_administrations",
    "domain_user_roles",
    "domain_users",
    "domains",
    "portal_users",
    "portals",
    "staff_assignments",
}
needs_imports = pytest.mark.skipif(
    importlib.util.find_spec("service.imports") is None, reason="service.imports not written yet"
)


def run(args, database_url, **env):
    result = CliRunner().invoke(cli, args, env={"DATABASE_URL": database_url, **env})
    assert result.exit_code == 0, result.output
    return result.output


def test_init_db_creates_the_schema_then_does_nothing(empty_database_url, make_app):
    first = run(["init-db"], empty_database_url)
    assert f"migrated from empty to {head_revision()}" in first
    second = run(["init-db"], empty_database_url)
    assert "already at revision" in second
    app = make_app(DATABASE_URL=empty_database_url, LOAD_POLICY=False)
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) >= EXPECTED_TABLES


def test_init_db_twice_on_the_test_database(app, database_url):
    run(["init-db"], database_url)
    assert "already at revision" in run(["init-db"], database_url)


def test_init_db_needs_no_api_keys(empty_database_url):
    run(["init-db"], empty_database_url, AUTHZ_API_KEYS="", AUTHZ_DEV_MODE="0")


def test_init_db_reports_bad_settings_cleanly(empty_database_url):
    result = CliRunner().invoke(
        cli, ["init-db"], env={"DATABASE_URL": empty_database_url, "AUTHZ_DEV_MODE": "perhaps"}
    )
    assert result.exit_code == 1
    assert "AUTHZ_DEV_MODE" in result.output
    assert "Traceback" not in result.output


@needs_imports
def test_import_loads_the_demo_world(app, database_url, clean_db, db_session):
    from service import models

    output = run(["import", str(DEMO_WORLD)], database_url)
    world = json.loads(DEMO_WORLD.read_text())
    assert f"domains: {len(world['domains'])}" in output
    assert db_session.scalar(select(func.count()).select_from(models.Domain)) == 4
    assert db_session.scalar(select(func.count()).select_from(models.PortalUser)) == 5
    # Idempotent: a second import leaves the same rows.
    run(["import", str(DEMO_WORLD)], database_url)
    assert db_session.scalar(select(func.count()).select_from(models.DomainUser)) == 8


@needs_imports
def test_import_refuses_a_bad_world_and_changes_nothing(app, database_url, clean_db, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"portals": [{"id": "p 1", "name": "x"}]}))
    result = CliRunner().invoke(cli, ["import", str(bad)], env={"DATABASE_URL": database_url})
    assert result.exit_code == 1
    assert "import refused" in result.output
    assert "portals" in result.output


def test_import_refuses_a_file_that_is_not_json(database_url, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    result = CliRunner().invoke(cli, ["import", str(bad)], env={"DATABASE_URL": database_url})
    assert result.exit_code == 1
    assert "cannot read" in result.output


def test_serve_preloads_the_app_and_disposes_pools_after_fork(make_app, monkeypatch):
    app = make_app(LOAD_POLICY=False)
    options = gunicorn_options(app, bind="127.0.0.1:0", workers=3, threads=4)
    assert options["preload_app"] is True
    assert options["workers"] == 3
    assert options["worker_class"] == "gthread"
    disposed = []
    monkeypatch.setattr(
        "service.db.dispose_engines", lambda a, close=True: disposed.append((a, close))
    )
    options["post_fork"](None, None)
    assert disposed == [(app, False)]
    gunicorn_app = cli_module.GunicornApp(app, options)
    assert gunicorn_app.cfg.preload_app is True
    assert gunicorn_app.load() is app


def test_python_dash_m_service_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "service", "--help"], capture_output=True, text=True, check=True
    )
    assert "init-db" in result.stdout and "serve" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url, headers=None, data=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@needs_imports
def test_serve_demo_answers_over_http(empty_database_url, tmp_path):
    port = _free_port()
    board = tmp_path / "board"
    board.mkdir(mode=0o700)
    env = {
        **os.environ,
        "DATABASE_URL": empty_database_url,
        "AUTHZ_API_KEYS": "demo:admin:demo-secret",
        "AUTHZ_DEV_MODE": "0",
        # Its own revision board: `serve` starts with a fresh one, which would replace (and so
        # switch off) the board of the apps in this test process.
        "DECISION_CACHE_BOARD": str(board / "demo.board"),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    args = ["serve", "--demo", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    server = subprocess.Popen(
        [sys.executable, "-m", "service", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _get(f"{base}/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the server did not come up in 60 s"
            time.sleep(0.2)
        status, body = _get(f"{base}/readyz")
        assert status in (200, 503), body
        status, body = _get(f"{base}/v1/nope", headers={"Authorization": "Bearer demo-secret"})
        assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
        for _ in range(4):
            _get(f"{base}/healthz")
        status, body = _get(f"{base}/metrics")
        assert status == 200
        assert b'yuki_authz_http_requests_total{endpoint="/healthz"' in body
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "Demo world imported" in output
    assert f"{base}/docs" in output
    assert "Authorization: Bearer demo-secret" in output


def test_serve_tunes_the_collector_before_forking():
    import gc

    before = gc.get_threshold()
    try:
        cli_module.tune_gc()
        assert gc.get_threshold()[0] == cli_module.GC_YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0  # what the preloaded app built is left alone
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
