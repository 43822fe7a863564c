"""Pydantic models for every boundary: API inputs, stored items, queue bodies."""
