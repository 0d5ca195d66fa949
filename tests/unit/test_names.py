"""Name limits on every Python path (pgqueue/_names.py): task and queue names at most 200 bytes of
UTF-8, unique keys at most 1,000, no control characters; each error names the field and the
limit. No database: the App points at a port nothing listens on, so an error proves the name was
refused before any I/O."""

from __future__ import annotations

import pytest

from pgqueue import App, JobRequest, WorkerSettings
from pgqueue._job import JobOptions
from pgqueue._names import (
    QUEUE_NAME_MAX_BYTES,
    TASK_NAME_MAX_BYTES,
    UNIQUE_KEY_MAX_BYTES,
    name_problem,
)
from pgqueue._registry import TaskConfig
from pgqueue.errors import ConfigurationError, TaskRegistrationError

NOWHERE = "postgresql://postgres@127.0.0.1:1/nowhere"


def test_the_limits() -> None:
    assert (TASK_NAME_MAX_BYTES, QUEUE_NAME_MAX_BYTES, UNIQUE_KEY_MAX_BYTES) == (200, 200, 1000)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("q" * 201, r"^queue name 'q{40}'… is 201 bytes long: the limit is 200 bytes \(UTF-8\)$"),
        ("é" * 101, r"is 202 bytes long: the limit is 200 bytes"),  # 101 characters, 202 bytes
        ("a\nb", r"has a control character \(U\+000A\) at position 1: names must be printable"),
        ("a\x00b", r"control character \(U\+0000\) at position 1"),
        ("a\x85", r"control character \(U\+0085\)"),  # C1 controls too
        ("a\x7f", r"control character \(U\+007F\)"),
        ("a\ud800", r"not valid Unicode text \(a lone surrogate at position 1\)"),
    ],
)
def test_bad_names_are_refused_naming_field_and_limit(value: str, message: str) -> None:
    problem = name_problem("queue name", value, 200)
    assert problem is not None
    assert len(problem) < 200 and "\n" not in problem  # one line, never the whole value
    with pytest.raises(ValueError, match=message):
        JobOptions(queue=value)


@pytest.mark.parametrize("value", ["q" * 200, "é" * 100, "mail.high-priority", "日本語", "a b"])
def test_names_within_the_limits_are_accepted(value: str) -> None:
    assert name_problem("queue name", value, 200) is None
    assert JobOptions(queue=value).queue == value


def test_every_python_path_refuses_an_oversized_or_control_name() -> None:
    app = App(NOWHERE)

    @app.task(name="known")
    def known() -> None: ...

    long = "x" * 201
    with pytest.raises(ValueError, match=r"^queue name .* 201 bytes long: the limit is 200"):
        known.using(queue=long)
    with pytest.raises(ValueError, match=r"^unique_key .* 1001 bytes long: the limit is 1000"):
        known.using(unique_key="k" * 1001)
    assert known.using(unique_key="k" * 1000).job().unique_key == "k" * 1000
    with pytest.raises(ValueError, match=r"^task name .* 201 bytes long: the limit is 200"):
        app.request(long, allow_unknown=True)
    with pytest.raises(ValueError, match=r"^queue name 'a\\tb' has a control character"):
        app.request("known", queue="a\tb")
    with pytest.raises(ValueError, match=r"^task name .* has a control character"):
        JobRequest(task="a\rb", args=(), kwargs={})
    with pytest.raises(ValueError, match=r"^queue name .* 201 bytes"):
        JobRequest(task="t", args=(), kwargs={}, queue=long)
    with pytest.raises(TaskRegistrationError, match=r"^cannot register the task: task name .* 201"):
        app.task(name=long)(lambda: None)
    with pytest.raises(TaskRegistrationError, match=r"^task t: queue name .* control character"):
        TaskConfig(name="t", queue="a\x1bb")
    with pytest.raises(ConfigurationError, match=r"^worker queues: queue name .* 201 bytes"):
        WorkerSettings(queues=("default", long))
    with pytest.raises(ConfigurationError, match=r"^worker queues: queue name .* control"):
        WorkerSettings.from_env({"PGQUEUE_QUEUES": "a\x07b"})
