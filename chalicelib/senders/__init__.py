"""Per-channel delivery: claim the record, speak the provider's wire API, record the outcome."""
