"""Pure logic: plain data in, plain data out, tested without AWS."""
