"""API edge: one FastAPI router per resource (docs/api.md); console/api.py includes them."""
