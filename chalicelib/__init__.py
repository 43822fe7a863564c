"""Outbound: record changes, API calls and schedules turned into delivered messages."""
