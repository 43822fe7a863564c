"""The `outbound` operator CLI (bin/outbound): the same operations as the API, against any stage's API."""
