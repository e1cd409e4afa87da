"""Tell the revision board about every write, from the ORM session itself.

Operations and imports do not list what they change: `after_flush` sees every row a transaction
writes (new, changed, deleted) and marks the entities whose facts that row is part of as in flight
on the board before the transaction can commit; when the transaction ends, committed or rolled
back, the marks are closed. Bulk statements (`session.execute(delete(...))`) on a fact table mark
the whole board, because the rows they touch are not known. So does any other statement that may
write a fact table outside a session's flush (Core `engine.begin()` code, raw SQL), seen at the
cursor: its marks close when the connection goes back to the pool, after its transaction ended.

Which entities a row belongs to mirrors what `loader.py` loads for each type:

| Row | Facts it is part of |
|---|---|
| portals | the Portal |
| portal_users | the PortalUser |
| domains | the Domain, and every Administration of it (an Administration's facts hold its domain) |
| staff_assignments | the Domain (its staff list) and its administrations; the PortalUser too |
| administrations | the Administration; its Domain |
| domain_users, domain_user_roles, domain_user_administrations | the DomainUser |

Tables that hold no facts (audit, ledger, idempotency, the data revision) are ignored; a mapped
table missing from both lists marks the whole board, so a new table cannot be forgotten silently.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from sqlalchemy.pool import ConnectionPoolEntry

from service import models

from .board import GLOBAL, RevisionBoard, slot_of

# Mapped class -> (entity type, attribute holding that entity's id) for each entity it is part of.
ENTITIES: dict[type, tuple[tuple[str, str], ...]] = {
    models.Portal: (("Portal", "id"),),
    models.PortalUser: (("PortalUser", "id"),),
    models.Domain: (("Domain", "id"),),
    models.StaffAssignment: (("Domain", "domain_id"), ("PortalUser", "user_id")),
    models.Administration: (("Administration", "id"), ("Domain", "domain_id")),
    models.DomainUser: (("DomainUser", "id"),),
    models.DomainUserRole: (("DomainUser", "user_id"),),
    models.DomainUserAdministration: (("DomainUser", "user_id"),),
}
NOT_FACTS: frozenset[str] = frozenset(
    {"audit_events", "ledger_entries", "idempotency_records", "data_revision", "alembic_version"}
)
_SLOTS_KEY = "authz_board_slots"
_IN_FLUSH = (
    "authz_in_flush"  # on a connection: its statements come from a flush (reported precisely)
)
_PENDING = "authz_board_pending"  # on a connection: the board its statements marked (slot 0)
# Statements that can change rows or tables, and the table they name (when the text says it).
_WRITES = re.compile(
    r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM|MERGE\s+INTO|"
    r"TRUNCATE(?:\s+TABLE)?|DROP\s+TABLE|ALTER\s+TABLE|COPY)\s+(?:ONLY\s+)?[\"`]?(\w+)",
    re.IGNORECASE,
)
# Statements that write nothing, by how they start (upper case, leading blanks dropped).
_READS = (
    "SELECT",
    "SHOW",
    "EXPLAIN",
    "SET ",
    "PRAGMA",
    "BEGIN",
    "SAVEPOINT",
    "RELEASE",
    "ROLLBACK",
    "COMMIT",
)
_DML_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)

_boards: weakref.WeakKeyDictionary[Engine, RevisionBoard] = weakref.WeakKeyDictionary()
_installed = False


def watch(engine: Engine, board: RevisionBoard) -> None:
    """Report every ORM write made through `engine` to `board`."""
    global _installed
    if engine not in _boards:
        event.listen(engine, "before_cursor_execute", _before_cursor_execute)
        event.listen(engine.pool, "checkin", _on_checkin)
    _boards[engine] = board
    if not _installed:
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_flush_postexec", _after_flush_postexec)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
        _installed = True


def unwatch(engine: Engine) -> None:
    _boards.pop(engine, None)


def _board(session: Session) -> RevisionBoard | None:
    if not _boards:
        return None
    try:
        bind = session.get_bind()
    except Exception:  # an unbound session writes nowhere we watch
        return None
    engine = bind.engine if isinstance(bind, Connection) else bind
    return _boards.get(engine)


def _mark(session: Session, board: RevisionBoard, slots: Iterable[int]) -> None:
    _, marked = session.info.setdefault(_SLOTS_KEY, (board, set()))
    new = set(slots) - marked
    if new:
        board.begin(new)  # before the transaction can commit: readers stop trusting these slots
        marked |= new


def _values(obj: Any, attr: str) -> Iterator[str]:
    """The attribute's current value and any value it had before this flush."""
    history = inspect(obj).attrs[attr].history
    for value in chain(history.added or (), history.unchanged or (), history.deleted or ()):
        if value is not None:
            yield str(value)
    current = getattr(obj, attr, None)
    if current is not None:
        yield str(current)


def _before_flush(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    if _board(session) is not None:
        session.connection().info[_IN_FLUSH] = True


def _after_flush_postexec(session: Session, _flush: UOWTransaction) -> None:
    if _board(session) is not None:
        session.connection().info.pop(_IN_FLUSH, None)


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    board = _board(session)
    if board is None:
        return
    keys: set[tuple[str, str]] = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        entities = ENTITIES.get(type(obj))
        if entities is None:
            if obj.__table__.name not in NOT_FACTS:
                keys.add(("*", ""))
            continue
        for type_name, attr in entities:
            keys.update((type_name, value) for value in _values(obj, attr))
    if not keys:
        return
    if ("*", "") in keys:
        _mark(session, board, [GLOBAL])
        return
    domains = sorted(value for type_name, value in keys if type_name == "Domain")
    if domains:
        # An Administration's facts include its domain's: a domain's change is theirs too.
        adm = models.Administration
        rows = session.connection().execute(select(adm.id).where(adm.domain_id.in_(domains)))
        keys.update(("Administration", aid) for (aid,) in rows)
    _mark(session, board, (slot_of(t, i) for t, i in keys))


def _before_cursor_execute(
    conn: Connection, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    head = statement.lstrip()[:9].upper()
    if head.startswith(_READS) or conn.info.get(_IN_FLUSH):
        return
    match = _WRITES.match(statement)
    if match is None:
        if head.startswith("WITH") and not _DML_WORD.search(statement):
            return
        table = None  # a statement we cannot read: it may write anything
    else:
        table = match.group(1).lower()
    if table in NOT_FACTS or _PENDING in conn.info:
        return  # not a fact table, or slot 0 already marked until this connection comes back
    board = _boards.get(conn.engine)
    if board is not None:
        board.begin([GLOBAL])  # rows unknown: every cached decision waits for this write to end
        conn.info[_PENDING] = board


def _on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # Back in the pool: the connection's transaction is over (committed or rolled back).
    record.info.pop(_IN_FLUSH, None)
    board = record.info.pop(_PENDING, None)
    if board is not None:
        board.end([GLOBAL])


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint or subtransaction: the outer transaction decides
    found = session.info.pop(_SLOTS_KEY, None)
    if found is not None:
        board, slots = found
        board.end(slots)
