import pytest

from pgqueue import ConfigurationError, WorkerSettings
from pgqueue._progress import MAX_MESSAGE, check_progress
from pgqueue._retention import RetentionPolicy


def test_defaults_keep_dead_letters() -> None:
    s = WorkerSettings()
    assert (s.retention_succeeded, s.retention_cancelled, s.retention_dead) == (
        86400.0,
        604800.0,
        None,
    )
    assert s.maintenance is True and s.metrics_port is None
    assert [(st.value, age) for st, age in RetentionPolicy.from_settings(s).items()] == [
        ("succeeded", 86400.0),
        ("cancelled", 604800.0),
    ]


def test_environment_accepts_durations_and_keep() -> None:
    s = WorkerSettings.from_env(
        {
            "PGQUEUE_RETENTION_SUCCEEDED": "12h",
            "PGQUEUE_RETENTION_CANCELLED": "keep",
            "PGQUEUE_RETENTION_DEAD": "30d",
            "PGQUEUE_PRUNE_INTERVAL": "5m",
            "PGQUEUE_METRICS_PORT": "9100",
            "PGQUEUE_METRICS_HOST": "127.0.0.1",
            "PGQUEUE_MAINTENANCE": "false",
            "PGQUEUE_POLL_INTERVAL": "0.5",
        }
    )
    assert s.retention_succeeded == 43200.0
    assert s.retention_cancelled is None
    assert s.retention_dead == 2592000.0
    assert s.prune_interval == 300.0
    assert (s.metrics_port, s.metrics_host, s.maintenance) == (9100, "127.0.0.1", False)
    assert s.poll_interval == 0.5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("retention_succeeded", 0.0),
        ("prune_batch_size", 0),
        ("metrics_port", 70000),
        ("maintenance_lease_ttl", 0.0),
    ],
)
def test_bad_operations_settings(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=field):
        WorkerSettings(**{field: value})  # type: ignore[arg-type]


def test_progress_values_are_checked_and_messages_cut() -> None:
    assert check_progress(1, "x") == (1.0, "x")
    assert check_progress(None, None) == (None, None)
    value, message = check_progress(0.5, "m" * 5000)
    assert value == 0.5 and message is not None and len(message) == MAX_MESSAGE
    with pytest.raises(TypeError):
        check_progress("half", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        check_progress(True, None)
    with pytest.raises(ValueError, match="finite"):
        check_progress(float("nan"), None)
