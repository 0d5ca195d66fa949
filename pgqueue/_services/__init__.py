"""The worker's background services, one module each, all on one base (`_base.Service`).

A new service: copy `promoter.py` (the smallest), give it a `run_once()` and an interval, and
add it to the list in `Worker._maintenance()` (or `WorkerOps.services()` if a setting turns it
on). docs/architecture.md, "The worker and its services".
"""
