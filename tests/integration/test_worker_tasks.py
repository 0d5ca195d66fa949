"""Issue 14 item 12: workers record the task names they serve (pgqueue.workers.tasks, revision
0010_worker_tasks), so `pgqueue enqueue` warns about a task no live worker of its queue serves
(exit code unchanged, the job stored) and `pgqueue status` lists such tasks."""

from __future__ import annotations

from pgqueue import App
from tests.helpers import fetch, fetchval, running_worker
from tests.integration.test_ops_cli import cli, cli_json


def make_tasks(app: App) -> None:
    @app.task(name="mail.send")
    def send() -> None: ...

    @app.task(name="mail.bounce", queue="mail")
    def bounce() -> None: ...


async def test_a_worker_records_its_tasks_at_registration(dsn: str, app: App) -> None:
    make_tasks(app)
    async with running_worker(app, queues=("default", "mail")):
        [row] = await fetch(dsn, "SELECT tasks, queues FROM pgqueue.workers")
    assert (row["tasks"], row["queues"]) == (["mail.bounce", "mail.send"], ["default", "mail"])


async def test_enqueue_warns_about_a_task_no_live_worker_serves(dsn: str, app: App) -> None:
    make_tasks(app)
    rc, out, err = await cli(dsn, "enqueue", "mail.sned")
    assert rc == 0 and out.strip().isdigit()
    assert err == (
        "warning: no live worker serves queue 'default', so task 'mail.sned' waits until one "
        "starts (`pgqueue worker MODULE:APP --queue default`)\n"
    )
    async with running_worker(app, queues=("default",)):
        rc, out, err = await cli(dsn, "enqueue", "mail.sned")
        assert rc == 0 and out.strip().isdigit()
        assert err == (
            "warning: no live worker of queue 'default' serves task 'mail.sned' (1 serve other "
            "tasks): check the task name, or import its module in the worker (`pgqueue worker "
            "MODULE:APP --import MODULE`); the job waits until then\n"
        )
        assert await cli(dsn, "enqueue", "mail.send") == (0, f"{int(out) + 1}\n", "")
    # A live worker that reports no tasks (started before 0010_worker_tasks) may serve any: a
    # row as such a worker left it (the one above has stopped).
    await fetchval(
        dsn,
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, "
        "heartbeat_ttl) VALUES (gen_random_uuid(), 'old', 1, '{default}', 1, '0.1', '1 hour')",
    )
    rc, _, err = await cli(dsn, "enqueue", "mail.sned")
    assert (rc, err) == (0, "")
    # Every warned-about job was stored all the same.
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE task = 'mail.sned'") == 3


async def test_status_lists_tasks_no_live_worker_of_their_queue_serves(dsn: str, app: App) -> None:
    make_tasks(app)
    # Scheduled (waiting, not claimable yet), so the worker below leaves them where they are.
    waiting = [("mail.sned", "default"), ("mail.sned", "default"), ("mail.send", "default")]
    for task, queue in [*waiting, ("mail.bounce", "mail")]:
        await fetchval(
            dsn,
            "SELECT pgqueue.enqueue($1, queue => $2, run_at => now() + interval '1 hour')",
            task,
            queue,
        )
    await fetchval(dsn, "SELECT pgqueue.enqueue('nobody.serves', queue => 'elsewhere')")
    async with running_worker(app, queues=("default", "mail")):
        status = await cli_json(dsn, "status")
        assert status["unserved_tasks"] == [{"queue": "default", "task": "mail.sned", "jobs": 2}]
        assert status["unserved"] == ["elsewhere"]  # a queue nobody serves: its own line
        rc, out, _ = await cli(dsn, "status")
        assert rc == 0
        assert (
            "unserved: task mail.sned (queue default): 2 waiting jobs and no live worker of the "
            "queue serves the task (check the task name, or import its module in the worker: "
            "`pgqueue worker MODULE:APP --import MODULE`)"
        ) in " ".join(out.split())
        health = await cli_json(dsn, "status", "--queue", "default", "--fail-if-unserved", code=3)
        assert health["problems"] == [
            "task mail.sned (queue default): 2 waiting jobs and no live worker of the queue "
            "serves the task (check the task name, or import its module in the worker: "
            "`pgqueue worker MODULE:APP --import MODULE`)"
        ]
    # No live worker at all: the tasks are not repeated (their queues are unserved).
    assert (await cli_json(dsn, "status"))["unserved_tasks"] == []


async def test_before_0010_enqueue_and_status_warn_about_no_task(empty_db: str) -> None:
    """A schema whose workers do not record tasks yet: the job is stored and printed, status
    works, and neither says anything about tasks (they cannot know)."""
    from pgqueue import migrate

    await migrate.upgrade_async(empty_db, "0008_sql_files")
    rc, out, err = await cli(empty_db, "enqueue", "mail.sned")
    assert rc == 0 and out.strip().isdigit()
    assert err == ""
    assert (await cli_json(empty_db, "status"))["unserved_tasks"] == []
