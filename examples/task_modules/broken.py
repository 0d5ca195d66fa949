"""A task module that fails to import (tests/integration/test_task_modules.py)."""

from __future__ import annotations

raise RuntimeError("billing is misconfigured")
