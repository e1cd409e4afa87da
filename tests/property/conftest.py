"""Property-test fixtures: the authorizer, and a random world imported into a clean database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from service.authz import Authorizer
from service.imports import import_world
from tests.property.decisions import world_for


@pytest.fixture
def authz(app: Flask) -> Authorizer:
    found = app.extensions.get("authz")
    assert found is not None, "the app was built without its policy engine"
    return found  # type: ignore[no-any-return]


@pytest.fixture
def seeded_world(db_session: Session, clean_db: None) -> Callable[[int], dict[str, Any]]:
    """Import the property-test world of a seed into the (emptied) database and return it."""

    def load(seed: int) -> dict[str, Any]:
        world = world_for(seed)
        import_world(db_session, world)
        db_session.commit()
        return world

    return load
