"""Test helpers that are plain functions, not fixtures (fixtures live in ``tests/conftest.py``)."""
