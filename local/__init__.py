"""The local runtime: moto's server, the infra template deployed to it, the Chalice API, and the event
sources Lambda runs in AWS (stream pollers, SQS pollers, the scheduler) calling the same handlers."""
