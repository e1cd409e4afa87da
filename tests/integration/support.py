"""Worlds and helpers for the governed-operation tests (tests/api/test_governed_*.py, integration).

A test loads a world through `POST /v1/import`, acts through the HTTP API as a named person
(`X-Acting-User`), and compares the database before and after with `rows()`:

    def test_something(client, admin_headers, clean_db, app):
        load(client, base_world())
        before = rows(app)
        response = act(client, "PUT", "/v1/domains/d-1/shielded", "PortalUser:u-bo", {...})
        assert_denied(response, ["not_portal_administrator"])
        assert rows(app) == before
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from service import audit, models
from service.db import db
from service.operations import base as operations_base
from tests.conftest import ADMIN_SECRET, CHECK_SECRET

BRUSSELS = ZoneInfo("Europe/Brussels")
ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}
CHECK = {"Authorization": f"Bearer {CHECK_SECRET}"}
CREATED = "2021-06-15T09:00:00+02:00"

# Tables whose rows are the service's state; the audit trail and the write gate are checked apart.
BOOKKEEPING = {"audit_events", "data_revision"}


# --- worlds ----------------------------------------------------------------------------------


def portal_user(uid: str, portal: str, role: str, scope: str = "portal", **extra: Any) -> dict:
    return {
        "id": uid,
        "portal_id": portal,
        "email": f"{uid}@office.example",
        "name": uid.title(),
        "role": role,
        "scope": scope,
        "created_at": CREATED,
        **extra,
    }


def domain(did: str, portal: str, plan: str, authorized: bool = True, **extra: Any) -> dict:
    return {
        "id": did,
        "portal_id": portal,
        "name": f"domain {did}",
        "plan": plan,
        "pricing_model": "bundle",
        "shielded": False,
        "bo_access_authorized": authorized,
        **extra,
    }


def domain_user(
    uid: str, did: str, roles: list[str], owner: bool = False, **extra: Any
) -> dict[str, Any]:
    return {
        "id": uid,
        "domain_id": did,
        "email": f"{uid}@client.example",
        "name": uid.title(),
        "roles": roles,
        "is_owner": owner,
        "administrations": [],
        **extra,
    }


BASE_WORLD: dict[str, list[dict[str, Any]]] = {
    "portals": [
        {"id": "p-1", "name": "Fiduciaire Dupont", "country": "BE"},
        {"id": "p-2", "name": "Bureau Ailleurs", "country": "BE"},
    ],
    "portal_users": [
        portal_user("u-admin", "p-1", "PortalAdministrator"),
        portal_user("u-admin2", "p-1", "PortalAdministrator"),
        portal_user("u-bo", "p-1", "PortalBackoffice"),
        portal_user("u-sub", "p-1", "PortalBackoffice", "assigned"),
        portal_user("u-de", "p-1", "PortalDataEntry"),
        portal_user("u-guest", "p-1", "PortalGuest"),
        portal_user("x-admin", "p-2", "PortalAdministrator"),
    ],
    "domains": [
        # Medium, authorized: Back Office Access works, extra users allowed.
        domain("d-1", "p-1", "Medium"),
        # Small, not yet authorized: eligible, but no extra users.
        domain("d-2", "p-1", "Small", authorized=False),
        # Minimal: never eligible.
        domain("d-min", "p-1", "Minimal", authorized=False),
        # Legacy pricing: never eligible.
        domain("d-leg", "p-1", "Medium", authorized=False, pricing_model="legacy_modules"),
        domain("d-x", "p-2", "Medium"),
    ],
    "administrations": [
        {"id": "a-1", "domain_id": "d-1", "name": "Bakkerij Peeters BV"},
        {"id": "a-x", "domain_id": "d-x", "name": "Elsewhere BV"},
    ],
    "staff": [
        {"domain_id": "d-1", "user_id": "u-bo", "function": "Responsible"},
        {"domain_id": "d-2", "user_id": "u-guest", "function": "Responsible"},
    ],
    "domain_users": [
        domain_user("du-boss", "d-1", ["Management"], owner=True),
        domain_user("du-ann", "d-1", ["Sales"]),
        domain_user("du-s", "d-2", ["Management"], owner=True),
        domain_user("du-m", "d-min", ["Management"], owner=True),
        domain_user("du-l", "d-leg", ["Management"], owner=True),
        domain_user("du-x", "d-x", ["Management"], owner=True),
    ],
}


def base_world() -> dict[str, list[dict[str, Any]]]:
    """Return a fresh copy of the base world (two portals, domains of every kind)."""
    return copy.deepcopy(BASE_WORLD)


def load(client: FlaskClient, world: dict[str, Any]) -> None:
    response = client.post("/v1/import", json=world, headers=ADMIN)
    assert response.status_code == 200, response.json


# --- requests --------------------------------------------------------------------------------


def headers(actor: str | None, key: str | None = None, auth: dict | None = None) -> dict:
    out = dict(ADMIN if auth is None else auth)
    if actor is not None:
        out["X-Acting-User"] = actor
    if key is not None:
        out["Idempotency-Key"] = key
    return out


def act(
    client: FlaskClient,
    method: str,
    path: str,
    actor: str | None,
    body: Any = None,
    key: str | None = None,
) -> Any:
    """Call a governed endpoint as `actor` ("PortalUser:u-1") with the admin key."""
    kwargs: dict[str, Any] = {"headers": headers(actor, key)}
    if body is not None:
        kwargs["json"] = body
    return client.open(path, method=method, **kwargs)


def get(client: FlaskClient, path: str, **query: Any) -> Any:
    response = client.get(path, headers=ADMIN, query_string=query)
    assert response.status_code == 200, response.json
    return response.json


# --- answers ---------------------------------------------------------------------------------


def replaced(seed: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of `seed` with the value at `path` (keys and indexes) set to `value`."""
    copied = copy.deepcopy(seed)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return copied


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.json
    assert set(response.json) == {"error"}, response.json
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error


def assert_denied(response: Any, reasons: list[str]) -> dict[str, Any]:
    """A 403 in the error shape carrying exactly the policy's reasons."""
    error = assert_error(response, 403, "forbidden")
    assert error["details"]["reasons"] == reasons, error
    return error


def assert_invalid(response: Any, location: str, field: str) -> dict[str, Any]:
    """A 400 naming `field` under `location` ("json", "path", "headers", "query")."""
    error = assert_error(response, 400, "invalid_request")
    assert field in error["details"].get(location, {}), error
    return error


def money_change(amount: str, *items: tuple[str, str]) -> dict[str, Any]:
    """The run_rate_change shape of api.md."""
    return {
        "amount": amount,
        "currency": "EUR",
        "per": "month",
        "items": [{"item": item, "amount": value} for item, value in items],
    }


# --- the database ----------------------------------------------------------------------------


def rows(app: Flask, *, skip: set[str] = BOOKKEEPING) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every state table (the ledger and idempotency records included)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with app.app_context(), db.engine.connect() as connection:
        for table in models.Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            order = list(table.primary_key.columns)
            out[table.name] = [
                tuple(r) for r in connection.execute(select(table).order_by(*order)).all()
            ]
    return out


def audit_events(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        session = db.session()
        try:
            found = session.scalars(select(models.AuditEvent).order_by(models.AuditEvent.id))
            return [audit.as_dict(e) for e in found]
        finally:
            session.rollback()
            db.session.remove()


def ledger(app: Flask, domain_id: str | None = None) -> list[dict[str, Any]]:
    with app.app_context():
        session = db.session()
        try:
            stmt = select(models.LedgerEntry).order_by(models.LedgerEntry.id)
            if domain_id is not None:
                stmt = stmt.where(models.LedgerEntry.domain_id == domain_id)
            return [
                {
                    "domain_id": e.domain_id,
                    "item": e.item,
                    "amount": str(e.amount),
                    "actor": e.actor,
                    "operation": e.operation,
                    "audit_event_id": e.audit_event_id,
                }
                for e in session.scalars(stmt)
            ]
        finally:
            session.rollback()
            db.session.remove()


def verify_chain(app: Flask) -> audit.Verification:
    with app.app_context():
        session = db.session()
        try:
            return audit.verify(session)
        finally:
            session.rollback()
            db.session.remove()


def last_event(app: Flask) -> dict[str, Any]:
    events = audit_events(app)
    assert events, "no audit event was written"
    return events[-1]


def assert_audited(
    app: Flask,
    response: Any,
    *,
    operation: str,
    actor: str,
    outcome: str,
    reasons: list[str] | None = None,
    target: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The answer names the audit event the operation wrote, and the event says what happened."""
    event = last_event(app)
    if outcome == "allowed":
        assert response.json["audit_event_id"] == event["id"]
    else:
        assert response.json["error"]["details"]["audit_event_id"] == event["id"]
    assert event["operation"] == operation
    assert event["actor"] == actor
    assert event["outcome"] == outcome
    assert event["reasons"] == (reasons or [])
    assert event["api_key"] == "admin"
    if target is not None:
        assert (event["target"]["type"], event["target"]["id"]) == target
    return event


# --- time ------------------------------------------------------------------------------------


@contextmanager
def frozen_now(monkeypatch: pytest.MonkeyPatch, when: dt.datetime) -> Iterator[None]:
    """Make governed operations run at `when` (their `OperationContext.now`)."""

    class _Frozen(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> dt.datetime:  # type: ignore[override]
            return when.astimezone(tz) if tz is not None else when.replace(tzinfo=None)

    shim = types.SimpleNamespace(datetime=_Frozen, date=dt.date, timedelta=dt.timedelta, UTC=dt.UTC)
    with monkeypatch.context() as patch:
        patch.setattr(operations_base, "dt", shim)
        yield


def brussels(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BRUSSELS)  # type: ignore[misc]


def today_brussels() -> dt.date:
    return dt.datetime.now(BRUSSELS).date()


# --- whole cases -----------------------------------------------------------------------------


def deny_changes_nothing(
    app: Flask,
    client: FlaskClient,
    method: str,
    path: str,
    actor: str,
    body: Any,
    reasons: list[str],
    *,
    operation: str,
    target: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Act, expect the policy's 403 with `reasons`, no state change, and one denied event."""
    before, events = rows(app), len(audit_events(app))
    response = act(client, method, path, actor, body)
    assert_denied(response, reasons)
    assert rows(app) == before
    assert len(audit_events(app)) == events + 1
    return assert_audited(
        app,
        response,
        operation=operation,
        actor=actor,
        outcome="denied",
        reasons=reasons,
        target=target,
    )


def rejected_changes_nothing(
    app: Flask,
    client: FlaskClient,
    method: str,
    path: str,
    actor: str | None,
    body: Any,
    status: int,
    code: str,
    field: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Act, expect a client error (400/404/409), no state change and no audit event."""
    before, events = rows(app), len(audit_events(app))
    response = act(client, method, path, actor, body)
    error = assert_error(response, status, code)
    if field is not None:
        location, name = field
        assert name in error["details"].get(location, {}), error
    assert rows(app) == before
    assert len(audit_events(app)) == events
    return error


# --- concurrency -----------------------------------------------------------------------------

CONCURRENT_TIMEOUT = 60  # seconds for all the threads of one at_once together


def at_once(app: Flask, requests: list[tuple[Any, ...]]) -> list[Any]:
    """Send each (method, path, headers[, json body]) from its own thread, released together.

    Every thread has its own test client, so its own app context and database session. Returns,
    in request order, (status, json) or the exception the thread met.
    """
    barrier = threading.Barrier(len(requests))
    results: list[Any] = [None] * len(requests)

    def worker(index: int, method: str, path: str, headers: dict, body: Any = None) -> None:
        client = app.test_client()
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        try:
            barrier.wait(timeout=CONCURRENT_TIMEOUT)
            response = client.open(path, method=method, **kwargs)
            results[index] = (response.status_code, response.json)
        except BaseException as exc:  # reported by the test, not lost in the thread
            results[index] = exc

    threads = [
        threading.Thread(target=worker, args=(i, *request), daemon=True)
        for i, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + CONCURRENT_TIMEOUT
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "requests still running after the timeout"
    return results


@contextmanager
def statements_run(app: Flask) -> Iterator[list[tuple[str, Any]]]:
    """Collect what `app`'s engine sends inside the block: (statement, the DBAPI connection's
    autocommit flag, None where the driver has none)."""
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((statement, getattr(conn.connection.dbapi_connection, "autocommit", None)))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)
