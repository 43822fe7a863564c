"""What happens to a message after it left: operator actions, DLQ redrive, delivery reports, replies."""
