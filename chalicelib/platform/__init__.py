"""What every function stands on: settings, AWS clients, outbound HTTP, secrets, logs, metrics."""
