"""The little that every Vool service shares: configuration, clock, database
session provider, outbox and inbox, the reliable event handler and error types."""
