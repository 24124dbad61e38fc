"""pytest plugin for Discord tests (fixtures are added by the harness)."""
