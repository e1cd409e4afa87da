"""Query endpoints: authorize, batch, list-resources, list-actors, actions (owned by the core author)."""

from flask_smorest import Blueprint

blp = Blueprint("queries", __name__, url_prefix="/v1", description="Authorization queries")
