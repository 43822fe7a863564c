"""Triggers decide what to send and render it; they never talk to providers."""
