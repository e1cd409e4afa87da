"""World import (scope `admin`): upsert a whole world, all or nothing."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, fields
from sqlalchemy.exc import IntegrityError

from service.api import Blueprint
from service.api.errors import ApiError
from service.api.security import require_scope
from service.db import db
from service.imports import ImportError_, WorldSchema, import_world

blp = Blueprint("data", __name__, url_prefix="/v1", description="World data")


class ImportResponse(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    revision = fields.Integer(required=True)


@blp.route("/import", methods=["POST"])
@require_scope("admin")
@blp.doc(requestBody={"content": {"application/json": {"schema": WorldSchema}}})
@blp.response(200, ImportResponse)
def import_(*_: Any) -> dict[str, Any]:
    """Upsert a world (portals, users, domains, staff, administrations, domain users)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "Send the world as a JSON object.")
    try:
        result = import_world(db.session(), data)
        db.session.commit()
    except ImportError_ as exc:
        db.session.rollback()
        raise ApiError(400, "invalid_world", str(exc), exc.details) from None
    except IntegrityError:
        # A concurrent import wrote the same records first; nothing of this one was kept.
        db.session.rollback()
        raise ApiError(409, "conflict", "A concurrent write got there first; retry.") from None
    except Exception:
        db.session.rollback()
        raise
    return result
