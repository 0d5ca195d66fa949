"""A small Django app for the tests: orders saved by a view that enqueues in the same
transaction, and Django tasks of each kind (sync, async, with context, failing)."""
