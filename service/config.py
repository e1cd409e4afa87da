"""Settings from the environment, validated once at startup; tests pass a dict of overrides."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The repository root: the folder holding pyproject.toml, `policies/` and the `service` package.
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY_PATHS = ("policies/access.polar",)
MAX_BODY_BYTES = 1024 * 1024

SCOPE_CHECK = "check"
SCOPE_ADMIN = "admin"
SCOPES = (SCOPE_CHECK, SCOPE_ADMIN)
# What each key scope grants: admin implies check.
_GRANTS = {SCOPE_CHECK: frozenset({SCOPE_CHECK}), SCOPE_ADMIN: frozenset(SCOPES)}

_KEY_NAME = re.compile(r"\A[A-Za-z0-9._-]{1,64}\Z")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says which setting to fix and how."""


@dataclass(frozen=True)
class ApiKey:
    """One configured API key; the secret never appears in a repr or a log line."""

    name: str
    scope: str
    secret: str = field(repr=False)
    # SHA-256 of the secret: compared in constant time against the digest of the presented one.
    digest: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", hashlib.sha256(self.secret.encode()).digest())

    def allows(self, scope: str) -> bool:
        """Tell whether this key may call views that require `scope`."""
        return scope in _GRANTS[self.scope]


# The identity requests run under in development mode when no key is configured.
DEV_KEY = ApiKey(name="dev", scope=SCOPE_ADMIN, secret="")


def parse_api_keys(raw: str | Iterable[str | ApiKey] | None) -> tuple[ApiKey, ...]:
    """Parse `name:scope:secret` entries (a comma-separated string or a list) into keys."""
    if raw is None:
        return ()
    entries: Iterable[str | ApiKey] = raw.split(",") if isinstance(raw, str) else raw
    keys: list[ApiKey] = []
    for position, entry in enumerate(entries, start=1):
        key = entry if isinstance(entry, ApiKey) else _parse_key(entry.strip(), position)
        if key is None:
            continue
        if key.scope not in SCOPES:
            raise ConfigError(f"AUTHZ_API_KEYS entry {position}: unknown scope {key.scope!r}")
        keys.append(key)
    names = [key.name for key in keys]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"AUTHZ_API_KEYS: key names must be unique; repeated: {duplicates}")
    if len({key.digest for key in keys}) != len(keys):
        raise ConfigError("AUTHZ_API_KEYS: two keys share a secret; give each key its own secret")
    return tuple(keys)


def _parse_key(entry: str, position: int) -> ApiKey | None:
    if not entry:
        return None  # tolerate "a:check:x," and empty variables
    parts = entry.split(":", 2)
    where = f"AUTHZ_API_KEYS entry {position}"
    if len(parts) != 3:
        # Name the entry by position only: it may hold a secret.
        raise ConfigError(f"{where} is malformed: expected name:scope:secret")
    name, scope, secret = (part.strip() for part in parts)
    if not _KEY_NAME.match(name):
        raise ConfigError(f"{where}: the name must be 1-64 characters of A-Za-z0-9._-")
    if scope not in SCOPES:
        raise ConfigError(f"{where} ({name}): scope must be one of {', '.join(SCOPES)}")
    if not secret or any(ch.isspace() for ch in secret) or not secret.isprintable():
        raise ConfigError(f"{where} ({name}): the secret must be non-empty printable text")
    return ApiKey(name=name, scope=scope, secret=secret)


def parse_bool(name: str, value: Any) -> bool:
    """Read a boolean setting: 1/true/yes/on or 0/false/no/off (any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean: use 1/true/yes/on or 0/false/no/off")


def parse_count(name: str, value: Any) -> int:
    """Read a whole number setting, 0 or more."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number") from None
    if number < 0:
        raise ConfigError(f"{name}={value!r} must be 0 or more")
    return number


def default_board_path(database_url: str) -> str:
    """One revision board per database and host: in shared memory (/dev/shm) when there is one."""
    import tempfile

    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    # A folder of this user's own (mode 0700, owner checked by RevisionBoard) in shared memory.
    shm = "/dev/shm"  # noqa: S108 - see above: the board refuses a folder or file not ours
    root = shm if os.path.isdir(shm) else tempfile.gettempdir()
    return os.path.join(root, f"yuki-authz-{os.geteuid()}", f"{digest}.board")


def normalize_database_url(url: str) -> str:
    """Point plain PostgreSQL URLs at the psycopg 3 driver, the one installed."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_database_url(instance_path: str | os.PathLike[str]) -> str:
    """Return the SQLite file in the Flask instance folder."""
    return f"sqlite:///{Path(instance_path).resolve() / 'yuki-authz.sqlite'}"


def resolve_policy_paths(raw: str | Iterable[str | os.PathLike[str]]) -> list[str]:
    """Resolve comma-separated policy files, relative ones against the repository root."""
    items = raw.split(",") if isinstance(raw, str) else raw
    paths = [Path(str(item).strip()) for item in items if str(item).strip()]
    if not paths:
        raise ConfigError("POLICY_PATHS is empty: name at least one .polar file")
    return [str(path if path.is_absolute() else (REPO_ROOT / path).resolve()) for path in paths]


def load_settings(
    instance_path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build the Flask config: environment first, then `overrides` (tests) on top, validated."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})

    def setting(name: str, default: Any) -> Any:
        return overrides.pop(name) if name in overrides else env.get(name, default)

    raw_url = setting("DATABASE_URL", None) or default_database_url(instance_path)
    database_url = normalize_database_url(str(raw_url))
    settings: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(database_url),
        "AUTHZ_API_KEYS": parse_api_keys(setting("AUTHZ_API_KEYS", "")),
        "AUTHZ_DEV_MODE": parse_bool("AUTHZ_DEV_MODE", setting("AUTHZ_DEV_MODE", "")),
        "POLICY_PATHS": resolve_policy_paths(
            setting("POLICY_PATHS", ",".join(DEFAULT_POLICY_PATHS))
        ),
        # False only for commands that never serve a request (init-db, import).
        "REQUIRE_API_KEYS": parse_bool("REQUIRE_API_KEYS", setting("REQUIRE_API_KEYS", True)),
        # False skips building the policy engine (commands that only touch the database).
        "LOAD_POLICY": parse_bool("LOAD_POLICY", setting("LOAD_POLICY", True)),
        # The decision log: off, all or denies; and where its JSON lines go ("-" = stderr).
        "DECISION_LOG": str(setting("DECISION_LOG", "denies")).strip().lower(),
        "DECISION_LOG_PATH": setting("DECISION_LOG_PATH", "-"),
        # The decision cache (see service/authz/board.py): on or off, its size per process, and
        # the revision board file every process of this host that writes the database maps.
        "DECISION_CACHE": parse_bool("DECISION_CACHE", setting("DECISION_CACHE", True)),
        "DECISION_CACHE_SIZE": parse_count(
            "DECISION_CACHE_SIZE", setting("DECISION_CACHE_SIZE", 50_000)
        ),
        "DECISION_CACHE_BOARD": str(
            setting("DECISION_CACHE_BOARD", "") or default_board_path(database_url)
        ),
        # The price catalogue of the pricing module (default: service/catalogue.json).
        "PRICING_CATALOGUE": setting("PRICING_CATALOGUE", None),
        "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
        "JSON_SORT_KEYS": False,
        # flask-smorest / OpenAPI
        "API_TITLE": "yuki-authz",
        "API_VERSION": _package_version(),
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_REDOC_PATH": "docs",
        "OPENAPI_REDOC_URL": "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js",
    }
    # Anything else (TESTING, SECRET_KEY, ...) passes through untouched.
    settings.update(overrides)
    return settings


def check_keys(settings: Mapping[str, Any]) -> None:
    """Refuse to serve without keys unless development mode is explicitly on."""
    if settings["AUTHZ_API_KEYS"] or not settings["REQUIRE_API_KEYS"]:
        return
    if settings["AUTHZ_DEV_MODE"]:
        log.warning(
            "\n%s\nAUTHZ_DEV_MODE is on and AUTHZ_API_KEYS is empty: EVERY request is "
            "accepted WITHOUT a key, with admin scope.\n"
            "Never run like this outside a developer machine.\n%s",
            "!" * 78,
            "!" * 78,
        )
        return
    raise ConfigError(
        "No API keys configured: set AUTHZ_API_KEYS=name:scope:secret[,...] "
        "(scopes: check, admin), or set AUTHZ_DEV_MODE=1 on a developer machine "
        "to accept requests without a key."
    )


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        # Drop connections the server closed (restarts, idle timeouts) instead of failing a request.
        return {"pool_pre_ping": True}
    return {}


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("yuki-authz")
    except PackageNotFoundError:
        return "0.0.0"
