"""Task registration: names, duplicates, `.using()` and argument checking, all without a database.

The App points at a port nothing listens on: any attempt to connect would fail with
DatabaseUnavailableError, so a TypeError proves the arguments were refused before any I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from pgqueue import App, JobRequest, RetryPolicy, Task
from pgqueue.errors import TaskRegistrationError, UnknownTaskError

NOWHERE = "postgresql://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
def app() -> Iterator[App]:
    yield App(NOWHERE)


def add(a: int, b: int = 1) -> int:
    return a + b


def test_default_name_is_module_and_qualname(app: App) -> None:
    task = app.task(add)
    assert task.name == f"{__name__}.add" == "tests.unit.test_registry.add"

    def inner(x: int) -> int:
        return x

    nested = app.task(inner)
    assert nested.name == f"{__name__}.test_default_name_is_module_and_qualname.<locals>.inner"
    assert app.registry.names() == sorted([task.name, nested.name])
    assert task.name in app.registry
    assert app.registry.get(task.name) is task
    assert app.registry.require(nested.name) is nested
    assert len(app.registry) == 2


def test_decorator_forms_and_options(app: App) -> None:
    @app.task
    async def plain(x: int) -> int:
        return x

    @app.task(name="custom.name", queue="emails", priority=5, max_attempts=7, timeout=2.5)
    def configured(x: int) -> int:
        return x

    assert isinstance(plain, Task)
    assert plain.is_async is True
    assert configured.is_async is False
    assert configured.name == "custom.name"
    assert configured.config.queue == "emails"
    assert configured.config.priority == 5
    assert configured.config.max_attempts == 7
    assert configured.config.timeout == 2.5
    assert configured.__name__ == "configured"
    # Calling the task runs the function directly, in-process.
    assert configured(4) == 4


def test_duplicate_explicit_name_raises_at_decoration_time(app: App) -> None:
    @app.task(name="send")
    def first() -> None: ...

    with pytest.raises(TaskRegistrationError) as caught:

        @app.task(name="send")
        def second() -> None: ...

    message = str(caught.value)
    assert "'send' is already registered" in message
    assert f"{__name__}.test_duplicate_explicit_name_raises_at_decoration_time.<locals>.first" in (
        message
    )
    assert app.registry.require("send").fn is first.fn
    assert len(app.registry) == 1


def test_defining_the_same_function_twice_raises(app: App) -> None:
    app.task(add)
    with pytest.raises(TaskRegistrationError, match="already registered"):
        app.task(add)
    with pytest.raises(TaskRegistrationError, match="already registered"):
        app.task(name=f"{__name__}.add")(lambda: None)


def test_separate_apps_have_separate_registries() -> None:
    one, two = App(NOWHERE), App(NOWHERE)
    one.task(add)
    two.task(add)
    assert one.registry.names() == two.registry.names() == [f"{__name__}.add"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"queue": ""}, "queue must not be empty"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"timeout": -1.0}, "timeout must be positive"),
    ],
)
def test_bad_task_options_raise(app: App, kwargs: dict[str, object], message: str) -> None:
    def fn() -> None: ...

    with pytest.raises(TaskRegistrationError, match=message):
        app.task(**kwargs)(fn)  # type: ignore[call-overload]
    assert len(app.registry) == 0


def test_an_empty_name_is_refused(app: App) -> None:
    def fn() -> None: ...

    with pytest.raises(TaskRegistrationError, match="must not be empty"):
        app.task(name="")(fn)
    assert len(app.registry) == 0


def test_non_functions_are_refused(app: App) -> None:
    class NotAFunction:
        pass

    def gen() -> Iterator[int]:
        yield 1

    async def agen():  # type: ignore[no-untyped-def]
        yield 1

    async def coro_fn() -> None: ...

    coro = coro_fn()
    try:
        for bad in (NotAFunction, gen, agen, coro, 42):
            with pytest.raises(TaskRegistrationError):
                app.task(bad)  # type: ignore[call-overload]
    finally:
        coro.close()
    assert len(app.registry) == 0


def test_job_builds_the_exact_request(app: App) -> None:
    task = app.task(queue="math", priority=3, max_attempts=4)(add)
    assert task.job(2, b=5) == JobRequest(
        task=f"{__name__}.add",
        args=(2,),
        kwargs={"b": 5},
        queue="math",
        priority=3,
        run_at=None,
        delay_seconds=None,
        max_attempts=4,
        unique_key=None,
    )


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1, 2, 3), {}), ((1,), {"c": 2}), ((1,), {"a": 2})],
    ids=["missing", "too-many", "unknown-kwarg", "duplicate"],
)
def test_job_checks_arguments_against_the_signature(
    app: App, args: tuple[int, ...], kwargs: dict[str, int]
) -> None:
    task = app.task(add)
    with pytest.raises(TypeError, match=f"arguments do not fit task {__name__}.add"):
        task.job(*args, **kwargs)


async def test_enqueue_with_bad_arguments_fails_before_touching_the_database(app: App) -> None:
    task = app.task(add)
    with pytest.raises(TypeError, match="arguments do not fit task"):
        await task.enqueue(1, 2, 3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="arguments do not fit task"):
        await task.using(queue="other").enqueue(b=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="arguments do not fit task"):
        await app.enqueue(task.name, [1, 2, 3])
    # Nothing opened a pool: the App was never connected.
    with pytest.raises(RuntimeError, match="not open"):
        _ = app.repository
    await app.close()


def test_enqueue_sync_with_bad_arguments_raises_type_error_first(app: App) -> None:
    task = app.task(add)
    with pytest.raises(TypeError, match="arguments do not fit task"):
        task.enqueue_sync()  # type: ignore[call-arg]


def test_using_returns_a_new_task_and_leaves_the_original_alone(app: App) -> None:
    task = app.task(queue="math", priority=1)(add)
    marker = object()
    bound = task.using(
        queue="urgent", priority=9, max_attempts=2, unique_key="k", connection=marker
    )
    assert bound is not task
    assert bound.name == task.name
    assert bound.job(1).queue == "urgent"
    assert bound.job(1).priority == 9
    assert bound.job(1).max_attempts == 2
    assert bound.job(1).unique_key == "k"
    assert bound._binding.connection is marker
    # The registered task is unchanged, and so is what the registry hands out.
    for original in (task, app.registry.require(task.name)):
        request = original.job(1)
        assert (request.queue, request.priority, request.max_attempts, request.unique_key) == (
            "math",
            1,
            None,
            None,
        )
        assert original._binding.connection is None


def test_using_chains_and_later_options_win(app: App) -> None:
    task = app.task(add)
    at = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    first = task.using(queue="a", priority=1, delay=30)
    second = first.using(priority=2, run_at=at)
    assert first.job(1).delay_seconds == 30.0
    assert first.job(1).run_at is None
    request = second.job(1)
    assert (request.queue, request.priority, request.run_at, request.delay_seconds) == (
        "a",
        2,
        at,
        None,
    )
    assert task.using(delay=dt.timedelta(minutes=2)).job(1).delay_seconds == 120.0
    assert task.using(priority=0).job(1).priority == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run_at": dt.datetime(2030, 1, 1)}, "timezone-aware"),
        ({"run_at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC), "delay": 5}, "either run_at or delay"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"queue": ""}, "queue name must not be empty"),
    ],
)
def test_using_rejects_bad_options(app: App, kwargs: dict[str, object], message: str) -> None:
    task = app.task(add)
    with pytest.raises(ValueError, match=message):
        task.using(**kwargs)  # type: ignore[arg-type]


def test_request_by_name(app: App) -> None:
    app.task(add)
    request = app.request(f"{__name__}.add", [1], {"b": 2}, queue="q", priority=4)
    assert (request.task, tuple(request.args), request.kwargs, request.queue, request.priority) == (
        f"{__name__}.add",
        (1,),
        {"b": 2},
        "q",
        4,
    )
    with pytest.raises(UnknownTaskError, match=r"no task named 'elsewhere\.task'"):
        app.request("elsewhere.task", [1])
    foreign = app.request("elsewhere.task", [1], {"k": 1}, allow_unknown=True)
    assert foreign == JobRequest(task="elsewhere.task", args=[1], kwargs={"k": 1})


def test_retry_policy_is_kept_on_the_config(app: App) -> None:
    policy = RetryPolicy(base=2.0, jitter=0.0)
    task = app.task(retry=policy)(add)
    assert task.config.retry is policy
