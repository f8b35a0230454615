"""The little that every Vool service shares: configuration, clock, database
session provider, outbox and inbox, the reliable event handler, error types, and the
request id and trace context every worker carries (correlation, tracing)."""
