"""Route bodies. app.py only wires paths to these functions."""
