"""Persona's events come to the agent: a verified webhook receiver, an event store, subscriptions.

`signature` checks `Persona-Signature`; `endpoints` keeps each endpoint's signing secrets sealed at rest;
`store` keeps each verified event once, for as long as the configured retention; `hub` tells waiters and
subscribed MCP clients, on every replica, that an event about an object arrived; `receiver` is the HTTP
endpoint Persona delivers to, which audits every receipt, accepted or refused.
"""
