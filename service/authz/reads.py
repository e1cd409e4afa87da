"""Remember a decision by the facts the policy actually read to reach it.

Polar evaluation is deterministic: given the same action and types, a check whose facts show the
same values at every attribute the policy read takes the same path and reaches the same decision.
And `policies/access.polar` treats ids as opaque (it compares them with each other only;
`tests/policy/test_policy_text.py` keeps it so), so "the same values" may rename ids
consistently. So each decision the policy computes is recorded with the attributes it read (its
*pattern*, e.g. the actor's `domain_id` and `roles`, the resource's `id`, `plan`, `shielded`), and
a later check is answered from memory when its own values at one of the recorded patterns, ids
renamed in order of appearance, match: Marie on her domain and Jan on his decide alike when the
facts the rule looked at match, whatever else differs (other staff, other dates).

The business date is one of those reads: in a memo run the policy's `ctx` is an object whose
`ctx.date` is read through Python like any fact. Most decisions never read it (only a pending
downgrade or a guest's creation date do), and those are shared by every date.

The memo is a pure function of the policy and the facts' content: fresh facts, loaded or taken
from the cache under the revision board's rules, make a fresh key. It can never be stale.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import facts

if TYPE_CHECKING:
    from .engine import Decision

_Read = tuple[str, str]  # (whose: "actor", "resource", "resource.domain", "ctx"; attribute)
_RECORD: contextvars.ContextVar[dict[_Read, None] | None] = contextvars.ContextVar(
    "authz_reads", default=None
)
_MISSING = 1 << 30


def _is_id(field: str) -> bool:
    return field == "id" or field.endswith("_id")


class Context:
    """The policy's `ctx` (`ctx.date`, a Brussels date "YYYY-MM-DD") as an object, not a dict:
    oso reads a dict's keys inside its VM, unseen, but an object's attributes through Python."""

    __slots__ = ("date",)

    def __init__(self, date: str) -> None:
        self.date = date


# -- recording ---------------------------------------------------------------------------------
def _recording_class(cls: type) -> type:
    """A subclass of a fact class that notes every field the policy reads (and where from)."""
    fields = frozenset(cls.__slots__)  # type: ignore[attr-defined]

    def __getattribute__(self: Any, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name in fields:
            reads = _RECORD.get()
            whose = object.__getattribute__(self, "_whose")
            if reads is not None:
                reads.setdefault((whose, name), None)
            if type(value) in _RECORDING:  # a nested fact: its reads are noted under its path
                # One recording copy per nested fact, so that two reads give the same object.
                nested = object.__getattribute__(self, "_nested")
                if name not in nested:
                    nested[name] = _recording(value, f"{whose}.{name}")
                return nested[name]
        return value

    return type(
        cls.__name__,  # the policy's class names (isinstance still holds: it is a subclass)
        (cls,),
        {"__slots__": ("_whose", "_nested"), "__getattribute__": __getattribute__},
    )


# The engine registers these with oso as classes of their own (see `engine._build`): oso then
# checks a rule's type specializers (`user: PortalUser`) in its VM, through the classes' MRO,
# instead of asking Python `isinstance` once per rule head (an FFI round trip each).
_RECORDING: dict[type, type] = {
    cls: _recording_class(cls)
    for cls in (
        facts.Portal,
        facts.PortalUser,
        facts.Domain,
        facts.Administration,
        facts.DomainUser,
        facts.Unknown,
        Context,
    )
}


def recording_classes() -> dict[str, type]:
    """The recording classes, by the name oso registers them under."""
    return {f"Recorded{base.__name__}": cls for base, cls in _RECORDING.items()}


def _recording(obj: Any, whose: str) -> Any:
    cls = _RECORDING[type(obj)]
    copy: Any = object.__new__(cls)
    for field in type(obj).__slots__:
        object.__setattr__(copy, field, getattr(obj, field))
    object.__setattr__(copy, "_whose", whose)
    object.__setattr__(copy, "_nested", {})
    return copy


# -- keys -------------------------------------------------------------------------------------
def _value(obj: Any, path: str) -> Any:
    """The object a read path names: "actor", "resource" or "resource.domain"."""
    _, *rest = path.split(".")
    for attribute in rest:
        obj = getattr(obj, attribute)
    return obj


class _Reader:
    """The values of one check's facts at successive reads, ids renamed in order of appearance."""

    __slots__ = ("actor", "ctx", "names", "resource")

    def __init__(self, actor: Any, resource: Any, ctx: Context) -> None:
        self.actor, self.resource, self.ctx = actor, resource, ctx
        self.names: dict[Any, int] = {}

    def _name(self, value: Any) -> Any:
        return None if value is None else self.names.setdefault(value, len(self.names))

    def value(self, read: _Read) -> Any:
        """The (renamed, hashable) value at `read`; AttributeError for another shape of fact."""
        whose, field = read
        if whose == "ctx":
            return getattr(self.ctx, field)
        root = self.actor if whose.startswith("actor") else self.resource
        value = getattr(_value(root, whose), field)
        if isinstance(value, list):
            return _list(value, self._name, self.names)
        if hasattr(value, "__slots__"):
            return type(value).__name__  # a nested fact: its own reads come next
        if _is_id(field):
            return self._name(value)
        return value


def _list(
    items: list[dict[str, Any]], name: Callable[[Any], Any], names: dict[str, int]
) -> tuple[Any, ...]:
    """A list of dicts as a sorted tuple (the policy reads these lists as sets)."""

    def order(item: dict[str, Any]) -> tuple[Any, ...]:
        ids = tuple(names.get(v, _MISSING) for k, v in sorted(item.items()) if _is_id(k))
        return ids, repr([(k, v) for k, v in sorted(item.items()) if not _is_id(k)])

    canonical = [
        tuple((k, name(v) if _is_id(k) else v) for k, v in sorted(item.items()))
        for item in sorted(items, key=order)
    ]
    return tuple(sorted(canonical, key=repr))


# -- the memo ---------------------------------------------------------------------------------
class _Node:
    """A node of a bucket's tree: either the next read and a child per value, or a decision."""

    __slots__ = ("children", "decision", "read")

    def __init__(self) -> None:
        self.read: _Read | None = None
        self.children: dict[Any, _Node] = {}
        self.decision: Decision | None = None


class ReadsMemo:
    """Decisions per (types, action, same object?), in a tree of the reads that reached them.

    The policy reads deterministically: which attribute it reads next depends only on the values
    it has read so far. So the recorded reads of all the decisions of a bucket form one tree:
    each inner node names the next read, its children are that read's values (ids renamed), and
    a leaf holds the decision reached. A check walks the tree once, reading only along its path,
    however many patterns the bucket holds.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries = 0
        self._lock = threading.Lock()
        self._roots: dict[tuple[Any, ...], _Node] = {}

    def decide(
        self,
        decide: Callable[[Any, str, Any, Any], Decision],
        actor: Any,
        action: str,
        resource: Any,
        date: str,
    ) -> tuple[Decision, bool]:
        """Return the decision, and whether the memo answered it."""
        bucket_key = (type(actor), type(resource), action, actor is resource)
        ctx = Context(date)
        found = self._find(self._roots.get(bucket_key), _Reader(actor, resource, ctx))
        if found is not None:
            return found, True
        reads: dict[_Read, None] = {}
        token = _RECORD.set(reads)
        try:
            seen = _recording(actor, "actor")
            shown = seen if resource is actor else _recording(resource, "resource")
            decision = decide(seen, action, shown, _recording(ctx, "ctx"))
        finally:
            _RECORD.reset(token)
        self._store(bucket_key, tuple(reads), _Reader(actor, resource, ctx), decision)
        return decision, False

    @staticmethod
    def _find(node: _Node | None, reader: _Reader) -> Decision | None:
        try:
            while node is not None and node.read is not None:
                node = node.children.get(reader.value(node.read))
        except (AttributeError, TypeError):  # another shape of fact, or an unhashable value
            return None
        return None if node is None else node.decision

    def _store(
        self,
        bucket_key: tuple[Any, ...],
        pattern: tuple[_Read, ...],
        reader: _Reader,
        decision: Decision,
    ) -> None:
        with self._lock:
            if self.entries >= self.size:
                self._roots.clear()  # rare: start again rather than track ages
                self.entries = 0
            node = self._roots.setdefault(bucket_key, _Node())
            try:
                for read in pattern:
                    if node.decision is not None or node.read not in (None, read):
                        return  # not the path a deterministic policy takes: keep nothing
                    node.read = read
                    node = node.children.setdefault(reader.value(read), _Node())
            except (AttributeError, TypeError):
                return
            if node.read is None and node.decision is None:
                node.decision = decision
                self.entries += 1
