"""The HTTP API: one module per resource, its routes beside its handlers (routing.py); app.py registers them."""
