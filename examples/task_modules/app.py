"""The App alone: the task modules import it, it imports none of them."""

from __future__ import annotations

from pgqueue import App

app = App()
