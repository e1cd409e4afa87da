"""World import endpoint (owned by the core author)."""

from flask_smorest import Blueprint

blp = Blueprint("data", __name__, url_prefix="/v1", description="World data")
