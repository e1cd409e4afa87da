"""The decision log: one JSON line per decision, for security reviewers and operators.

Modes (`DECISION_LOG`): `off`, `all`, or `denies` (only denied decisions). Lines go to
`DECISION_LOG_PATH` (`-` = standard error, the default). A line names the caller's key by its
name, never its secret. Writing is best effort: a failure is counted and reported once, and never
changes or delays a decision beyond the write attempt itself.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

log = logging.getLogger(__name__)

MODES = ("off", "all", "denies")


class DecisionLog:
    def __init__(self, mode: str = "off", stream: IO[str] | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"DECISION_LOG must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self._stream = stream
        self._lock = threading.Lock()
        self.failures = 0

    @classmethod
    def from_config(cls, mode: str, path: str | None) -> DecisionLog:
        if mode == "off":
            return cls("off")
        if not path or path == "-":
            return cls(mode, sys.stderr)
        return cls(mode, open(path, "a", encoding="utf-8", buffering=1))

    def wants(self, allowed: bool) -> bool:
        return self.mode == "all" or (self.mode == "denies" and not allowed)

    def write(self, record: dict[str, Any]) -> None:
        """Write one line; never raise."""
        self.write_many([record])

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        """Write one line per record, in one write (a batch's lines stay together); never raise."""
        if self.mode == "off" or self._stream is None:
            return
        try:
            text = "".join(
                json.dumps(record, separators=(",", ":"), sort_keys=True, default=str) + "\n"
                for record in records
            )
            if not text:
                return
            with self._lock:
                self._stream.write(text)
                self._stream.flush()
        except Exception:  # a full disk or a closed pipe must not change a decision
            self.failures += 1
            if self.failures == 1:
                log.exception("The decision log cannot be written; decisions go on unlogged")

    def decisions(
        self,
        made: Iterable[tuple[str, Any, str, Any, bool, Sequence[str]]],
        *,
        endpoint: str,
        policy_version: str,
        started: float,
        clock: Callable[[], float],
        caller: str | None,
        request_id: str | None,
    ) -> None:
        """Log the decisions of one request, each (decision_id, actor, action, resource,
        allowed, reasons), with the request's time and duration, in one write."""
        if self.mode == "off":
            return
        time = dt.datetime.now(dt.UTC).isoformat()
        duration_ms = round((clock() - started) * 1000, 3)
        self.write_many(
            {
                "kind": "decision",
                "endpoint": endpoint,
                "decision_id": decision_id,
                "time": time,
                "caller": caller,
                "actor": _ref(actor),
                "action": action,
                "resource": _ref(resource),
                "allowed": allowed,
                "reasons": list(reasons),
                "policy_version": policy_version,
                "duration_ms": duration_ms,
                "request_id": request_id,
            }
            for decision_id, actor, action, resource, allowed, reasons in made
            if self.wants(allowed)
        )

    def listing(
        self,
        *,
        endpoint: str,
        actor: Any,
        action: str,
        resource: Any,
        resource_type: str | None,
        count: int,
        policy_version: str,
        started: float,
        clock: Callable[[], float],
        caller: str | None,
        request_id: str | None,
    ) -> None:
        """Log one page of a list (lists are allowed sets; they count as `all` only)."""
        if self.mode != "all":
            return
        self.write(
            {
                "kind": "list",
                "endpoint": endpoint,
                "time": dt.datetime.now(dt.UTC).isoformat(),
                "caller": caller,
                "actor": _ref(actor),
                "action": action,
                "resource": _ref(resource),
                "resource_type": resource_type,
                "count": count,
                "policy_version": policy_version,
                "duration_ms": round((clock() - started) * 1000, 3),
                "request_id": request_id,
            }
        )


def _ref(ref: Any) -> dict[str, str] | None:
    if ref is None:
        return None
    return {"type": ref[0], "id": ref[1]}
