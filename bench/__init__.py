"""`make bench`: throughput, AWS calls per message, cold start, render cost and memory, printed as a table."""
