"""Registers the suite's plugin, so `pytest conformance --base-url URL` works from anywhere."""

# pytest imports a plugin once per name, so `-p conformance.plugin` (as
# `python -m conformance` passes it) and this line never register it twice.
pytest_plugins = ["conformance.plugin", "conformance.explore.plugin"]
