"""The mutants of `python -m tests.mutation`: each breaks one behaviour the tests must notice.

One entry per mutant: the file, the exact original text (found `count` times, every one
replaced), the replacement, what it breaks in one line, and the tests that should fail with it
(pytest node ids, the smaller the faster). `audited=True` marks the ones an outside audit found
surviving (issue 15): the run fails if any of them survives again.

Adding one: copy an entry, keep the original text short but unique (tests/unit/test_mutants.py
checks that it is found, that the tests it names exist, and that names are unique), then run
`python -m tests.mutation -k <its name>` to see it killed. Areas: claim, complete, rescue,
promote, enqueue, retry, cancel, unique, operations, services, dashboard, integrations, cli,
burst (burst mode and start-up order), otel (job metadata and tracing), limits, workflows,
pooler (behind a transaction pooler), bench (the benchmark harness).
The operations mutants show that the tests issue 15 found hollow can now fail.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mutant:
    name: str
    area: str
    file: str
    original: str
    replacement: str
    description: str
    kills: tuple[str, ...]
    count: int = 1
    audited: bool = False


CLAIM_SQL = "pgqueue/_sql/job_claim.sql"
COMPLETE_SQL = "pgqueue/_sql/job_complete_many.sql"
RESCUE_SQL = "pgqueue/_sql/job_rescue.sql"
PROMOTE_SQL = "pgqueue/_sql/job_promote_due.sql"
OPERATIONS = "migrations/versions/0003_operations.py"
EXECUTOR = "pgqueue/_executor.py"
READY = "pgqueue/_ready.py"
WORKER = "pgqueue/_worker.py"
NOTIFY = "migrations/versions/0007_notify_triggers.py"  # the triggers themselves
# Function bodies live in files since 0008_sql_files: the newest version of each is what runs.
NOTIFY_JOBS = "pgqueue/_sql/functions/notify_jobs.v2.sql"
# Completion notices and dependency resolution since 0016_finish_hooks: the one hook.
FINISHED = "pgqueue/_sql/functions/jobs_finished.v1.sql"
NOTIFY_V2 = "migrations/versions/0009_notify_v2.py"  # the split triggers
ENQUEUE_MANY = "pgqueue/_sql/functions/enqueue_many.v5.sql"
ENQUEUE_ONE = "pgqueue/_sql/functions/enqueue_one.v2.sql"  # 0018_enqueue_one_v2
ENQUEUE_BATCH = "pgqueue/_sql/functions/enqueue_batch.v1.sql"
ENQUEUE_PY = "pgqueue/_enqueue.py"
ENQUEUE_INPUT = "pgqueue/_sql/functions/enqueue_input.v4.sql"
CLAIM_LIMITED = "pgqueue/_sql/functions/claim_limited.v1.sql"
CANCEL = "pgqueue/_sql/functions/cancel.v3.sql"

T_CLAIM = "tests/integration/test_claim.py"
T_CLAIM_AHEAD = "tests/integration/test_claim_ahead.py"
T_READY = "tests/unit/test_ready.py"
T_RETRY = "tests/integration/test_retry_policy.py"
T_NOTIFY = "tests/integration/test_notifications.py"
T_RESCUE = "tests/integration/test_rescue.py"
T_WORKER = "tests/integration/test_worker.py"
T_RELIABILITY = "tests/integration/test_reliability.py"
T_ENQUEUE = "tests/integration/test_enqueue.py"
T_ROWS = "tests/integration/test_enqueue_paths_rows.py"
T_LANE = "tests/integration/test_enqueue_lane.py"
T_FAST = "tests/migrations/test_enqueue_fast_migration.py"
T_UNIQUE = "tests/integration/test_ops_unique.py"
T_RETENTION = "tests/integration/test_ops_retention.py"
T_OPS_CLI = "tests/integration/test_cli_operators.py"
T_DASH = "tests/integration/test_dashboard.py"
WEB = "pgqueue/web/_app.py"
T_FASTAPI = "tests/integration/test_fastapi.py"
T_OTEL = "tests/integration/test_otel.py"
T_CLI_POLISH = "tests/integration/test_cli_polish.py"
T_SERVICES = "tests/integration/test_services_clock.py"
T_OPS_CLI_STATUS = "tests/integration/test_ops_cli.py"
T_BURST = "tests/integration/test_burst.py"
T_LIMITS = "tests/integration/test_limits.py"
RESOLVE = "pgqueue/_sql/functions/resolve_waiting.v2.sql"
T_WORKFLOWS = "tests/integration/test_workflows.py"

MUTANTS: tuple[Mutant, ...] = (
    # -- claim ---------------------------------------------------------------------------------
    Mutant(
        "claim-priority-across-queues",
        "claim",
        CLAIM_SQL,
        "    ORDER BY c.priority DESC, c.run_at, c.id\n",
        "    ORDER BY c.run_at, c.id\n",
        "the claim ignores priority across queues (dropped from the outer merge)",
        (f"{T_CLAIM}::test_claim_takes_highest_priority_across_queues",),
        audited=True,
    ),
    Mutant(
        "claim-priority-within-a-queue",
        "claim",
        CLAIM_SQL,
        "        ORDER BY j.priority DESC, j.run_at, j.id\n",
        "        ORDER BY j.run_at, j.id\n",
        "the claim ignores priority within a queue",
        (f"{T_WORKER}::test_priority_order_with_one_slot",),
    ),
    Mutant(
        "claim-fifo",
        "claim",
        CLAIM_SQL,
        "        ORDER BY j.priority DESC, j.run_at, j.id\n",
        "        ORDER BY j.priority DESC, j.id DESC\n",
        "jobs of one priority are claimed newest first",
        (f"{T_WORKER}::test_priority_order_with_one_slot",),
    ),
    Mutant(
        "claim-oldest-first-across-queues",
        "claim",
        CLAIM_SQL,
        "    ORDER BY c.priority DESC, c.run_at, c.id\n",
        "    ORDER BY c.priority DESC, c.id DESC\n",
        "jobs of one priority in different queues are claimed newest first",
        (f"{T_CLAIM}::test_claim_takes_the_oldest_job_first_across_queues",),
    ),
    Mutant(
        "claim-waits-on-locked-rows",
        "claim",
        CLAIM_SQL,
        "        FOR UPDATE SKIP LOCKED\n",
        "        FOR UPDATE\n",
        "the claim waits on rows another transaction holds instead of skipping them",
        (f"{T_CLAIM}::test_claim_skips_jobs_locked_by_another_transaction",),
    ),
    Mutant(
        "claim-over-the-free-slots",
        "claim",
        CLAIM_SQL,
        "    ORDER BY c.priority DESC, c.run_at, c.id\n    LIMIT $2\n",
        "    ORDER BY c.priority DESC, c.run_at, c.id\n",
        "a claim over several queues takes up to the free slots from each of them",
        (f"{T_CLAIM}::test_claim_never_takes_more_than_the_free_slots_across_queues",),
    ),
    Mutant(
        "claim-any-state",
        "claim",
        CLAIM_SQL,
        "WHERE j.state = 'queued' AND j.queue = q.name",
        "WHERE j.state IN ('queued', 'scheduled') AND j.queue = q.name",
        "the claim takes scheduled jobs before their time",
        (f"{T_WORKER}::test_delayed_job_does_not_start_early",),
    ),
    Mutant(
        "claim-attempt-not-counted",
        "claim",
        CLAIM_SQL,
        "    attempts = j.attempts + 1,\n",
        "    attempts = j.attempts,\n",
        "a claim does not count the attempt",
        (f"{T_WORKER}::test_dead_letter_after_max_attempts",),
    ),
    Mutant(
        "claim-waits-for-the-disk",
        "claim",
        CLAIM_SQL,
        "      AND set_config('synchronous_commit', 'off', true) IS NOT NULL\n",
        "",
        "the claim's commit waits for the WAL flush again (a fifth of its time)",
        (
            f"{T_CLAIM}::test_a_claim_commits_without_waiting_for_the_disk",
            "tests/integration/test_faults.py::"
            "test_a_claim_lost_in_a_crash_leaves_its_job_queued_and_its_outcome_refused",
        ),
    ),
    Mutant(
        "claim-after-waits-for-the-disk",
        "claim",
        "pgqueue/_sql/job_claim_after.sql",
        "      AND set_config('synchronous_commit', 'off', true) IS NOT NULL\n",
        "",
        "the bounded claim's commit waits for the WAL flush again",
        (f"{T_CLAIM}::test_a_claim_commits_without_waiting_for_the_disk",),
    ),
    # -- complete ------------------------------------------------------------------------------
    Mutant(
        "complete-skips-the-disk",
        "complete",
        COMPLETE_SQL,
        "SELECT (SELECT count(*) FROM updated) AS recorded\n",
        "SELECT (SELECT count(*) FROM updated) AS recorded,\n"
        "       set_config('synchronous_commit', 'off', true) AS asynchronous\n",
        "outcomes commit without waiting for the disk: a crash of PostgreSQL can lose one the "
        "worker has forgotten",
        (
            f"{T_CLAIM}::test_an_outcome_waits_for_the_disk",
            "tests/integration/test_faults.py::"
            "test_a_claim_lost_in_a_crash_leaves_its_job_queued_and_its_outcome_refused",
        ),
    ),
    Mutant(
        "lost-claim-outcome-written",
        "complete",
        "pgqueue/_worker.py",
        "        if jobs and self._outcomes:\n",
        "        if False:\n",
        "an outcome of an attempt whose claim was lost is written for the job's new attempt",
        (
            "tests/integration/test_outcome_writer.py::"
            "test_an_outcome_whose_claim_was_lost_is_dropped_when_the_job_is_claimed_again",
        ),
    ),
    Mutant(
        "handed-back-job-supersedes-only-at-its-start",
        "complete",
        "pgqueue/_worker.py",
        "        self._attempts.supersede(jobs)\n",
        "",
        "a job handed back into hand leaves its earlier attempt running, to record an outcome "
        "under the new claim",
        (
            "tests/integration/test_claim_ahead.py::"
            "test_a_job_handed_back_into_hand_ends_its_earlier_attempt_at_the_claim",
        ),
    ),
    Mutant(
        "lost-claim-forgets-the-statement-under-way",
        "complete",
        "pgqueue/_services/flusher.py",
        "        for transition in self.pending[self._writing :]:\n",
        "        for transition in self.pending:\n",
        "forget drops outcomes the statement under way holds, and the flush then deletes others",
        (
            "tests/integration/test_outcome_writer.py::"
            "test_forget_leaves_the_outcomes_a_statement_under_way_holds",
        ),
    ),
    Mutant(
        "complete-no-worker-guard",
        "complete",
        COMPLETE_SQL,
        "      AND j.worker_id = o.worker\n",
        "",
        "an outcome from a worker that no longer holds the job is applied",
        (f"{T_RELIABILITY}::test_a_late_outcome_from_an_earlier_claim_changes_nothing",),
    ),
    Mutant(
        "complete-no-attempt-guard",
        "complete",
        COMPLETE_SQL,
        "      AND j.attempts = o.attempt\n",
        "",
        "an outcome of an earlier attempt is applied to a later one",
        (f"{T_RESCUE}::test_an_outcome_of_an_earlier_attempt_changes_nothing",),
    ),
    Mutant(
        "complete-done-notice-wrong-channel",
        "complete",
        FINISHED,
        "        PERFORM pg_notify('pgqueue_done', array_to_string(finished, ','));\n",
        "        PERFORM pg_notify('pgqueue_finished', array_to_string(finished, ','));\n",
        "the completion notice goes out on a channel nobody listens on",
        (
            f"{T_NOTIFY}::test_completion_notice_reaches_pgqueue_done_listeners",
            f"{T_WORKER}::test_results_are_woken_by_notify_not_polling",
        ),
        audited=True,
    ),
    Mutant(
        "complete-retry-wakes-nobody",
        "complete",
        NOTIFY_JOBS,
        "        PERFORM pg_notify('pgqueue_jobs', NEW.queue);\n",
        "        NULL;\n",
        "a job put back in the queue by an UPDATE (a retry due now, a rescue, a promotion) wakes no worker",
        (
            f"{T_NOTIFY}::test_a_retry_due_now_wakes_a_listening_worker",
            f"{T_NOTIFY}::test_a_promoted_job_wakes_a_listening_worker",
            f"{T_RESCUE}::test_a_rescued_job_wakes_a_listening_worker",
        ),
    ),
    Mutant(
        "complete-retry-at-once",
        "complete",
        COMPLETE_SQL,
        "THEN now() + make_interval(secs => o.run_in)",
        "THEN now()",
        "a retry is due at once whatever its delay",
        (f"{T_RETRY}::test_failed_job_waits_its_retry_policy_delay",),
    ),
    Mutant(
        "complete-retry-despite-cancel",
        "complete",
        COMPLETE_SQL,
        "            WHEN NOT o.finished AND j.cancel_requested_at IS NOT NULL THEN 'cancelled'\n",
        "",
        "a job whose cancel was requested is retried when its attempt fails",
        (f"{T_RELIABILITY}::test_a_job_failing_after_its_cancel_was_requested_is_not_retried",),
    ),
    Mutant(
        "complete-requeue-counts-the-attempt",
        "complete",
        COMPLETE_SQL,
        "THEN j.attempts - 1",
        "THEN j.attempts",
        "a job put back by a shutdown loses an attempt",
        (f"{T_WORKER}::test_stop_timeout_puts_unfinished_jobs_back_in_the_queue",),
    ),
    Mutant(
        "complete-dead-not-finished",
        "complete",
        COMPLETE_SQL,
        "CASE WHEN o.finished OR j.cancel_requested_at IS NOT NULL THEN now() END",
        "CASE WHEN j.cancel_requested_at IS NOT NULL THEN now() END",
        "a dead-lettered job gets no finished_at (retention and the views never see it)",
        (f"{T_RETRY}::test_a_job_out_of_attempts_is_dead_lettered_and_finished",),
    ),
    Mutant(
        "complete-unstorable-error-text",
        "complete",
        "pgqueue/_outcome.py",
        """    escaped = text.replace("\\x00", "\\\\x00").encode("utf-8", "backslashreplace").decode("utf-8")""",
        "    escaped = text",
        "an error message jsonb cannot store (a NUL) blocks the whole outcome batch",
        (
            "tests/integration/test_faults.py::test_an_unstorable_error_message_does_not_stop_outcomes",
        ),
    ),
    Mutant(
        "complete-retry-due-now-waits-for-promotion",
        "complete",
        "pgqueue/_transitions.py",
        "    target = JobState.RETRYING if run_in > 0 else JobState.QUEUED\n",
        "    target = JobState.RETRYING\n",
        "a retry due now waits for the next promotion instead of going straight to the queue",
        (
            "tests/unit/test_state_writers.py::"
            "test_a_retry_due_now_goes_straight_to_the_queue_and_a_later_one_waits",
        ),
    ),
    Mutant(
        "complete-interrupted-attempt-not-refunded",
        "complete",
        "pgqueue/_transitions.py",
        "error=error, refund_attempt=True",
        "error=error, refund_attempt=False",
        "an attempt interrupted by a shutdown counts against max_attempts",
        (f"{T_WORKER}::test_stop_timeout_puts_unfinished_jobs_back_in_the_queue",),
    ),
    # -- rescue --------------------------------------------------------------------------------
    Mutant(
        "rescue-ignores-pending-cancel",
        "rescue",
        RESCUE_SQL,
        "            WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'\n",
        "",
        "a rescued job whose cancel was requested goes back to the queue",
        (f"{T_RESCUE}::test_rescue_honours_pending_cancel",),
        audited=True,
    ),
    Mutant(
        "rescue-ignores-max-attempts",
        "rescue",
        RESCUE_SQL,
        "            WHEN j.max_attempts IS NOT NULL AND j.attempts >= j.max_attempts THEN 'dead'\n",
        "",
        "a rescued job out of attempts is queued again instead of dead-lettered",
        (
            f"{T_RESCUE}::test_rescue_dead_letters_a_job_out_of_attempts",
            f"{T_RELIABILITY}::test_lost_job_out_of_attempts_is_dead_lettered",
        ),
    ),
    Mutant(
        "rescue-ignores-the-workers-ttl",
        "rescue",
        RESCUE_SQL,
        "pg_postmaster_start_time()) >= now() - w.heartbeat_ttl",
        "pg_postmaster_start_time()) >= now() - interval '1 day'",
        "a worker silent for longer than its own ttl still protects its jobs",
        (f"{T_RESCUE}::test_rescue_judges_each_worker_by_its_own_ttl",),
    ),
    Mutant(
        "rescue-trusts-stopped-workers",
        "rescue",
        RESCUE_SQL,
        "            AND w.state IN ('running', 'stopping')\n",
        "",
        "a stopped or lost worker whose last beat is recent still protects its jobs",
        (f"{T_RESCUE}::test_rescue_judges_each_worker_by_its_own_ttl",),
    ),
    # -- promote -------------------------------------------------------------------------------
    Mutant(
        "promote-early",
        "promote",
        PROMOTE_SQL,
        "j.run_at <= coalesce($2::timestamptz, now())",
        "j.run_at <= coalesce($2::timestamptz, now()) + interval '1 hour'",
        "scheduled jobs are promoted before their run_at",
        (f"{T_WORKER}::test_delayed_job_does_not_start_early",),
    ),
    Mutant(
        "promote-forgets-retries",
        "promote",
        PROMOTE_SQL,
        "WHERE j.state IN ('scheduled', 'retrying') AND j.run_at <= coalesce(",
        "WHERE j.state = 'scheduled' AND j.run_at <= coalesce(",
        "retries that came due are never queued again",
        (f"{T_WORKER}::test_retry_then_success_records_errors",),
    ),
    # -- enqueue -------------------------------------------------------------------------------
    Mutant(
        "enqueue-notify-per-row",
        "enqueue",
        NOTIFY,
        "    REFERENCING NEW TABLE AS changed\n    FOR EACH STATEMENT",
        "    REFERENCING NEW TABLE AS changed\n    FOR EACH ROW",
        "the insert trigger runs (and sends its NOTIFYs) once per row, not once per statement",
        (f"{T_FAST}::test_upgrade_and_downgrade_of_0015",),
        audited=True,
    ),
    Mutant(
        "enqueue-notify-for-scheduled-rows",
        "enqueue",
        NOTIFY_JOBS,
        "FROM changed AS c WHERE c.state = 'queued') AS q;",
        "FROM changed AS c) AS q;",
        "inserting a scheduled job wakes the workers of its queue for nothing",
        (f"{T_FAST}::test_upgrade_and_downgrade_of_0015",),
    ),
    Mutant(
        "enqueue-ignores-delay",
        "enqueue",
        ENQUEUE_INPUT,
        "coalesce(x.run_at, now() + make_interval(secs => coalesce(x.delay, 0))),",
        "coalesce(x.run_at, now()),",
        "a delay given at enqueue is ignored",
        (f"{T_ROWS}::test_every_path_writes_the_same_row",),
    ),
    Mutant(
        "enqueue-never-scheduled",
        "enqueue",
        ENQUEUE_MANY,
        "WHEN b.run_at > now() THEN 'scheduled' ELSE 'queued' END",
        "ELSE 'queued' END",
        "a job for later is queued at once (the one insert of every enqueue path)",
        (f"{T_ROWS}::test_every_path_writes_the_same_row",),
    ),
    Mutant(
        "enqueue-one-never-scheduled",
        "enqueue",
        ENQUEUE_ONE,
        "CASE WHEN enqueue_one.run_at > now() THEN 'scheduled' ELSE 'queued' END",
        "'queued'",
        "a single job for later is queued at once (pgqueue.enqueue_one, 0015)",
        (f"{T_ENQUEUE}::test_options_priority_delay_run_at_max_attempts",),
    ),
    Mutant(
        "enqueue-one-wakes-for-scheduled",
        "enqueue",
        ENQUEUE_ONE,
        "CASE WHEN i.state = 'queued' THEN pg_notify",
        "CASE WHEN true THEN pg_notify",
        "a single scheduled job wakes the workers of its queue for nothing",
        (f"{T_ROWS}::test_only_queued_inserts_wake_a_listening_worker",),
    ),
    Mutant(
        "plain-insert-wakes-for-scheduled",
        "enqueue",
        "pgqueue/_sql/job_insert_one.sql",
        "CASE WHEN i.state = 'queued' THEN pg_notify",
        "CASE WHEN true THEN pg_notify",
        "a single scheduled job written by the plain INSERT wakes its queue's workers",
        (f"{T_ROWS}::test_only_queued_inserts_wake_a_listening_worker",),
    ),
    Mutant(
        "plain-job-insert-wakes-nobody",
        "enqueue",
        "pgqueue/_sql/job_insert_plain.sql",
        "SELECT i.id, pg_notify('pgqueue_jobs', i.queue) AS woken",
        "SELECT i.id, NULL AS woken",
        "a job enqueued without options wakes no listening worker",
        (f"{T_ROWS}::test_only_queued_inserts_wake_a_listening_worker",),
    ),
    Mutant(
        "plain-job-insert-ignores-task-limits",
        "enqueue",
        "pgqueue/_sql/job_insert_plain.sql",
        "(l.scope = 'task' AND l.name = v.task)",
        "false",
        "a job enqueued without options is not marked limited by its task's limit",
        (f"{T_ROWS}::test_an_enqueue_without_options_writes_the_row_of_its_job_request",),
    ),
    Mutant(
        "plain-job-insert-ignores-queue-limits",
        "enqueue",
        "pgqueue/_sql/job_insert_plain.sql",
        "(l.scope = 'queue' AND l.name = v.queue)",
        "false",
        "a job enqueued without options is not marked limited by its queue's limit",
        (f"{T_ROWS}::test_an_enqueue_without_options_writes_the_row_of_its_job_request",),
    ),
    Mutant(
        "plain-job-insert-scans-the-limits",
        "enqueue",
        "pgqueue/_sql/job_insert_plain.sql",
        "(l.scope = 'task' AND l.name = v.task)",
        "(l.scope || ':' || l.name = 'task:' || v.task)",
        "a job enqueued without options reads the whole of pgqueue.limits, however many rows",
        (
            "tests/plans/test_limits_plan.py::test_a_single_enqueue_finds_its_limits_by_the_primary_key",
        ),
    ),
    Mutant(
        "claim-connection-plans-every-call",
        "claim",
        "pgqueue/_repository/claim_connection.py",
        '            await conn.execute(query("session_force_generic_plans"))',
        "            pass",
        "the worker's claim is planned again at every call, as on the pool",
        (
            "tests/integration/test_claim_connection.py::test_a_workers_claims_are_planned_once_on_its_claim_connection",
        ),
    ),
    Mutant(
        "claim-connection-kept-after-the-server-dropped-it",
        "claim",
        "pgqueue/_repository/claim_connection.py",
        "        if conn is not None and _open(conn):",
        "        if conn is not None:",
        "a worker whose claim connection the server closed while idle fails its next claim first",
        (
            "tests/integration/test_claim_connection.py::"
            "test_a_claim_connection_the_server_dropped_while_idle_is_replaced_at_once",
        ),
    ),
    Mutant(
        "claim-connection-kept-after-the-worker-stopped",
        "claim",
        "pgqueue/_worker.py",
        "                await serving.claims.close()",
        "                pass",
        "a stopped worker keeps one of the App's pool connections until the App closes",
        (
            "tests/integration/test_claim_connection.py::test_a_workers_claims_are_planned_once_on_its_claim_connection",
        ),
    ),
    Mutant(
        "claim-connection-not-handed-back-at-close",
        "claim",
        "pgqueue/_repository/driver.py",
        "            for lent in list(self.lent):",
        "            for lent in ():",
        "closing an App under a running worker waits for ever on its claim connection",
        (
            "tests/integration/test_claim_connection.py::test_an_app_closed_under_a_running_worker_takes_its_claim_connection_back",
        ),
    ),
    Mutant(
        "claim-connection-keeps-its-setting-in-the-pool",
        "claim",
        "pgqueue/_repository/claim_connection.py",
        '                await conn.execute(query("session_default_plans"))',
        "                pass",
        "the pool gets the claim connection back with generic plans forced on it",
        (
            "tests/integration/test_claim_connection.py::test_the_claim_connection_goes_back_to_the_pool_with_its_setting_undone",
        ),
    ),
    Mutant(
        "claim-connection-failed-call-goes-back-as-it-is",
        "claim",
        "pgqueue/_repository/claim_connection.py",
        "            await _retire(conn)  # maybe mid-statement: the pool opens another",
        "            pass",
        "a claim connection whose call timed out goes back to the pool, setting and all",
        (
            "tests/integration/test_claim_connection.py::test_a_claim_connection_whose_call_failed_never_goes_back_with_its_setting",
        ),
    ),
    Mutant(
        "claim-connection-close-skips-the-claim-under-way",
        "claim",
        "pgqueue/_repository/claim_connection.py",
        "            async with self._lock:\n                # A RESET",
        "            if True:\n                # A RESET",
        "closing the App mid-claim hands the connection back with the claim's answer to come",
        (
            "tests/integration/test_claim_connection.py::test_close_waits_for_the_claim_under_way_then_refuses_calls",
        ),
    ),
    Mutant(
        "claim-connection-drops-a-failed-claim-without-its-cancel",
        "claim",
        "pgqueue/_repository/claim_connection.py",
        "        await close_gracefully(conn, RETIRE_TIMEOUT)",
        "        conn.terminate()",
        "a timed-out claim's connection is cut before its cancel reaches the server: the claim "
        "commits, its jobs stay running for nobody",
        (
            "tests/integration/test_claim_connection.py::"
            "test_a_claim_connection_whose_call_failed_never_goes_back_with_its_setting",
        ),
    ),
    Mutant(
        "claim-connection-close-not-shielded",
        "claim",
        "pgqueue/_repository/claim_connection.py",
        "        await asyncio.shield(self._close())",
        "        await self._close()",
        "a close cancelled while it waits for the claim leaves the connection held for ever",
        (
            "tests/integration/test_claim_connection.py::"
            "test_a_close_cancelled_while_it_waits_still_gives_the_connection_back",
        ),
    ),
    Mutant(
        "claim-connection-lends-the-whole-pool",
        "claim",
        "pgqueue/_repository/claim_connection.py",
        "pool.get_max_size() - len(lent) <= KEEP_IN_POOL",
        "pool.get_max_size() <= KEEP_IN_POOL",
        "workers on one App lend out the whole pool: outcomes wait for a connection for ever",
        (
            "tests/integration/test_claim_connection.py::test_workers_on_one_app_leave_two_pool_connections_unlent",
        ),
    ),
    Mutant(
        "plain-insert-takes-args-of-any-type",
        "enqueue",
        "pgqueue/_sql/job_insert_one.sql",
        "CASE jsonb_typeof(v.args) WHEN 'array' THEN v.args WHEN 'null' THEN '[]'::jsonb END",
        "v.args",
        "the plain INSERT stores args that are not a JSON array (enqueue_one refuses them)",
        (f"{T_ROWS}::test_a_bad_job_refused_by_the_plain_insert_gets_enqueue_ones_message",),
    ),
    Mutant(
        "plain-insert-given-up-on-a-bad-job",
        "enqueue",
        "pgqueue/_repository/jobs.py",
        "        except (asyncpg.CheckViolationError, asyncpg.NotNullViolationError):\n            return None",
        "        except (asyncpg.CheckViolationError, asyncpg.NotNullViolationError):\n            self.insert_one = False\n            return None",
        "one bad job turns the plain INSERT off for the App's lifetime",
        (f"{T_ROWS}::test_a_bad_job_refused_by_the_plain_insert_gets_enqueue_ones_message",),
    ),
    Mutant(
        "enqueue-batch-wakes-for-scheduled",
        "enqueue",
        ENQUEUE_BATCH,
        "FROM inserted AS w WHERE w.state = 'queued'",
        "FROM inserted AS w",
        "a plain batch wakes the workers of a queue it only scheduled jobs on",
        (f"{T_ROWS}::test_only_queued_inserts_wake_a_listening_worker",),
    ),
    Mutant(
        "enqueue-batch-takes-args-of-any-type",
        "enqueue",
        ENQUEUE_BATCH,
        "WHEN 'array' THEN u.args WHEN 'null' THEN '[]'::jsonb END",
        "WHEN 'null' THEN '[]'::jsonb ELSE u.args END",
        "a plain batch stores args that are not a JSON array (enqueue_many refuses them)",
        (f"{T_ROWS}::test_bad_input_gets_the_same_message_from_a_batch",),
    ),
    Mutant(
        "enqueue-batch-takes-unique-keys",
        "enqueue",
        ENQUEUE_PY,
        "or list(map(_UNIQUE_KEY, requests)).count(None) != n",
        "or False",
        "a batch with unique keys goes to enqueue_batch, which drops the keys",
        (f"{T_ROWS}::test_a_unique_key_is_one_key_across_both_functions",),
    ),
    Mutant(
        "enqueue-one-valid-check-skips-max-attempts",
        "enqueue",
        ENQUEUE_ONE,
        "        OR max_attempts < 1\n",
        "",
        "enqueue_one v2's one-expression check lets max_attempts 0 through to the table's CHECK "
        "(another message than enqueue_many's)",
        (f"{T_ROWS}::test_bad_input_gets_the_same_message_from_both",),
    ),
    Mutant(
        "lane-watchdog-never-cancels",
        "enqueue",
        "pgqueue/_repository/driver.py",
        "            caller.cancel()\n",
        "",
        "a lane call past command_timeout is never abandoned: the enqueue hangs on the lock",
        (f"{T_LANE}::test_a_lane_call_past_command_timeout_is_cancelled_on_the_server_and_raises",),
    ),
    Mutant(
        "lane-watchdog-cancels-before-the-calls-bound",
        "enqueue",
        "pgqueue/_repository/driver.py",
        "        if left > 0:\n            self._watch_in(left)",
        "        if False:\n            self._watch_in(left)",
        "the watchdog armed by an earlier call cancels the next one before its command_timeout",
        (f"{T_LANE}::test_a_lane_call_past_command_timeout_is_cancelled_on_the_server_and_raises",),
    ),
    Mutant(
        "lane-terminates-before-the-cancel-is-sent",
        "enqueue",
        "pgqueue/_repository/driver.py",
        "self._retiring = asyncio.ensure_future(self._retire(conn))",
        "conn.terminate()",
        "a timed-out lane call's statement goes on: the row is written once the lock goes",
        (f"{T_LANE}::test_a_lane_call_past_command_timeout_is_cancelled_on_the_server_and_raises",),
    ),
    Mutant(
        "plain-enqueue-drops-the-tasks-attempts",
        "enqueue",
        ENQUEUE_PY,
        "return (task, args_json, kwargs_json, queue, priority, max_attempts)",
        "return (task, args_json, kwargs_json, queue, priority, None)",
        "task.enqueue() without options writes no max_attempts: the task's own is lost",
        (f"{T_ROWS}::test_an_enqueue_without_options_writes_the_row_of_its_job_request",),
    ),
    Mutant(
        "plain-enqueue-ignores-the-tasks-queue",
        "enqueue",
        "pgqueue/_registry.py",
        "                config.queue,\n                config.priority,",
        "                DEFAULT_QUEUE,\n                config.priority,",
        "task.enqueue() without options writes the default queue, not the task's",
        (f"{T_ROWS}::test_an_enqueue_without_options_writes_the_row_of_its_job_request",),
    ),
    Mutant(
        "plain-batch-insert-ignores-limits",
        "enqueue",
        "pgqueue/_sql/job_insert_batch.sql",
        "b.task = ANY (lim.tasks) OR b.queue = ANY (lim.queues)",
        "false",
        "a batch written by the owner's plain INSERT is never limited: its task's limits are skipped",
        (f"{T_ROWS}::test_every_path_writes_the_same_row",),
    ),
    Mutant(
        "plain-batch-insert-wakes-nobody",
        "enqueue",
        "pgqueue/_sql/job_insert_batch.sql",
        "count(pg_notify('pgqueue_jobs', w.queue))",
        "count(w.queue)",
        "a batch written by the owner's plain INSERT wakes no worker",
        (f"{T_ROWS}::test_a_bad_job_in_a_plain_batch_fails_it_whole_through_the_app",),
    ),
    Mutant(
        "enqueue-one-empty-kwargs-as-array",
        "enqueue",
        "pgqueue/_enqueue.py",
        """kwargs_json = "{}" if""",
        """kwargs_json = "[]" if""",
        "a single job without keyword arguments is sent with kwargs [] (refused as not an object)",
        (
            "tests/integration/test_enqueue_lane.py::"
            "test_single_enqueues_take_the_lane_within_the_pool_size",
        ),
    ),
    Mutant(
        "enqueue-many-wakes-for-scheduled",
        "enqueue",
        ENQUEUE_MANY,
        "FROM inserted AS ins WHERE ins.state = 'queued')",
        "FROM inserted AS ins)",
        "a batch's scheduled jobs wake the workers of their queue for nothing",
        (f"{T_ROWS}::test_only_queued_inserts_wake_a_listening_worker",),
    ),
    Mutant(
        "enqueue-accepts-zero-attempts",
        "enqueue",
        ENQUEUE_MANY,
        """                OR (e.job ->> 'max_attempts')::numeric < 1\n""",
        "",
        "enqueue_many lets max_attempts < 1 through to the table's CHECK (an unclear error)",
        (f"{T_ENQUEUE}::test_sql_function_rejects_bad_shapes",),
    ),
    # -- unique keys ---------------------------------------------------------------------------
    Mutant(
        "unique-later-job-of-a-batch-wins",
        "unique",
        ENQUEUE_MANY,
        "            ORDER BY i.unique_key, i.n\n        ) AS l;",
        "            ORDER BY i.unique_key, i.n DESC\n        ) AS l;",
        "within one batch the last job of a key is inserted, not the first",
        (f"{T_UNIQUE}::test_duplicates_within_one_batch",),
    ),
    Mutant(
        "unique-key-ignored-on-requeue",
        "unique",
        "pgqueue/_sql/functions/requeue_dead.v1.sql",
        "          AND (j.unique_key IS NULL OR NOT EXISTS (",
        "          AND (true OR NOT EXISTS (",
        "requeueing a dead job ignores that its key is held by a live job",
        (f"{T_RETENTION}::test_requeue_dead_respects_unique_keys",),
    ),
    Mutant(
        "unique-scheduled-jobs-hold-no-key",
        "unique",
        OPERATIONS,
        """UNIQUE_PREDICATE = f"unique_key IS NOT NULL AND state IN ({ACTIVE})\"""",
        """UNIQUE_PREDICATE = "unique_key IS NOT NULL AND state IN ('queued', 'running')\"""",
        "a scheduled or retrying job does not hold its unique key",
        (f"{T_UNIQUE}::test_scheduled_and_retrying_jobs_hold_their_key",),
    ),
    # -- retry policy --------------------------------------------------------------------------
    Mutant(
        "retry-policy-ignored",
        "retry",
        EXECUTOR,
        "wait = delay if delay is not None else task.config.retry.delay(attempt)",
        "wait = delay if delay is not None else 0.0",
        "a failed job is retried at once, whatever its task's retry policy says",
        (f"{T_RETRY}::test_failed_job_waits_its_retry_policy_delay",),
        audited=True,
    ),
    Mutant(
        "retry-explicit-delay-ignored",
        "retry",
        EXECUTOR,
        '"retry", happened, None, log, delay)',
        '"retry", happened, None, log, None)',
        "Retry(delay=...) raised by a task is ignored in favour of the policy",
        (f"{T_RETRY}::test_retry_raised_by_the_task_overrides_the_policy",),
    ),
    Mutant(
        "retry-one-attempt-too-many",
        "retry",
        EXECUTOR,
        "        if attempt >= max_attempts or task is None:\n",
        "        if attempt > max_attempts or task is None:\n",
        "a job gets one attempt more than max_attempts",
        (f"{T_WORKER}::test_dead_letter_after_max_attempts",),
    ),
    Mutant(
        "retry-job-max-attempts-ignored",
        "retry",
        EXECUTOR,
        "return job.max_attempts or configured or self.default_max_attempts",
        "return configured or job.max_attempts or self.default_max_attempts",
        "max_attempts given at enqueue loses to the task's",
        (f"{T_RETRY}::test_max_attempts_given_at_enqueue_beats_the_tasks",),
    ),
    Mutant(
        "retry-backoff-off-by-one",
        "retry",
        "pgqueue/_retry.py",
        "self.factor ** max(0, attempt - 1)",
        "self.factor ** max(0, attempt)",
        "the backoff starts one step too far (the first retry waits base * factor)",
        (f"{T_RETRY}::test_failed_job_waits_its_retry_policy_delay",),
    ),
    # -- cancel --------------------------------------------------------------------------------
    Mutant(
        "cancel-scheduled-job-not-cancelled",
        "cancel",
        CANCEL,
        "    IF current IN ('scheduled', 'queued', 'retrying', 'waiting') THEN",
        "    IF current IN ('queued', 'waiting') THEN",
        "pgqueue.cancel leaves a scheduled or retrying job alone",
        (f"{T_RELIABILITY}::test_cancel_from_sql",),
    ),
    Mutant(
        "cancel-running-job-not-told",
        "cancel",
        CANCEL,
        "        PERFORM pg_notify('pgqueue_cancel', job_id::text);\n",
        "",
        "cancelling a running job tells no worker (only the heartbeat's backstop finds it)",
        (f"{T_NOTIFY}::test_a_running_job_is_cancelled_by_notification_before_the_heartbeat",),
    ),
    Mutant(
        "cancel-waiting-takes-running-jobs",
        "cancel",
        "pgqueue/_sql/job_cancel_waiting.sql",
        "AND j.state IN ('queued', 'scheduled', 'retrying', 'waiting')",
        "AND j.state IN ('queued', 'scheduled', 'retrying', 'waiting', 'running')",
        "an operator's cancel marks running jobs cancelled under their worker",
        (f"{T_RETENTION}::test_cancel_and_retry",),
    ),
    Mutant(
        "finish-hook-rescue-forgets-the-dead",
        "rescue",
        RESCUE_SQL,
        "SELECT r.id FROM rescued AS r WHERE r.state IN ('dead', 'cancelled')",
        "SELECT r.id FROM rescued AS r WHERE r.state = 'cancelled'",
        "a job the rescue dead-letters wakes no result waiter and leaves its children waiting",
        (f"{T_RESCUE}::test_a_rescued_dead_parent_wakes_its_waiter_and_cancels_its_child",),
    ),
    Mutant(
        "finish-hook-complete-hands-over-retries",
        "complete",
        COMPLETE_SQL,
        "SELECT u.id FROM updated AS u WHERE u.finished",
        "SELECT u.id FROM updated AS u",
        "a completion batch tells result waiters of jobs that only went round for a retry",
        (f"{T_NOTIFY}::test_a_retry_sends_no_completion_notice",),
    ),
    Mutant(
        "finish-hook-operators-cancel-forgets",
        "cancel",
        "pgqueue/_sql/job_cancel_waiting.sql",
        "    SELECT pgqueue.jobs_finished(ARRAY(SELECT c.id FROM cancelled AS c))\n",
        "    SELECT NULL\n",
        "the operators' cancel wakes no result waiter and leaves what waits on the jobs waiting",
        (
            "tests/unit/test_finish_hooks.py::test_every_statement_that_finishes_jobs_calls_the_hook",
        ),
    ),
    Mutant(
        "notify-done-ids-in-one-payload",
        "complete",
        FINISHED,
        "SELECT u.id, u.n / 300 AS chunk",
        "SELECT u.id, u.n / 30000 AS chunk",
        "the ids of a large batch go in one payload, which outgrows NOTIFY's 8000-byte limit",
        (f"{T_NOTIFY}::test_the_finish_hook_tells_each_finished_job_once_per_statement",),
    ),
    Mutant(
        "claim-ahead-no-coalescing",
        "claim",
        READY,
        "        if self.jobs and room < limit // 2:\n",
        "        if False:\n",
        "a worker holding claimed-ahead jobs claims again for every freed slot (claims of one)",
        (f"{T_READY}::test_jobs_in_hand_wait_for_half_of_the_room",),
    ),
    Mutant(
        "claim-ahead-kept-at-stop",
        "claim",
        WORKER,
        "            self._outcomes.append(interrupted(job, why))\n",
        "            pass\n",
        "a stop leaves the jobs claimed ahead running under a stopped worker until a rescue",
        (f"{T_CLAIM_AHEAD}::test_a_stop_puts_the_jobs_claimed_ahead_back_uncounted",),
    ),
    Mutant(
        "claim-ahead-cancel-ignored",
        "claim",
        WORKER,
        "        job = self._ready.remove(job_id)\n",
        "        job = None\n",
        "a cancel request for a job claimed ahead is not honoured until the job has run",
        (f"{T_CLAIM_AHEAD}::test_a_job_claimed_ahead_is_cancelled_without_running",),
    ),
    Mutant(
        "finish-hook-never-called-by-the-completion",
        "complete",
        COMPLETE_SQL,
        "    SELECT pgqueue.jobs_finished(ARRAY(SELECT u.id FROM updated AS u WHERE u.finished))\n",
        "    SELECT NULL\n",
        "a completion batch hands nobody its finished ids: no completion notice at all",
        (
            f"{T_NOTIFY}::test_completion_notice_reaches_pgqueue_done_listeners",
            f"{T_WORKER}::test_results_are_woken_by_notify_not_polling",
        ),
    ),
    Mutant(
        "notify-finishing-on-every-update",
        "complete",
        NOTIFY_V2,
        "    AFTER UPDATE OF finished_at ON pgqueue.jobs\n",
        "    AFTER UPDATE ON pgqueue.jobs\n",
        "every UPDATE (a claim, a progress report) runs the completion query again",
        (
            "tests/migrations/test_notify_v2_migration.py::test_upgrade_splits_the_update_trigger_and_downgrade_restores_0008",
        ),
    ),
    Mutant(
        "notify-queued-row-trigger-wrong-state",
        "complete",
        NOTIFY_V2,
        "    FOR EACH ROW WHEN (NEW.state = 'queued')\n",
        "    FOR EACH ROW WHEN (NEW.state = 'scheduled')\n",
        "a job an UPDATE puts back in the queue wakes no worker",
        (
            f"{T_NOTIFY}::test_a_promoted_job_wakes_a_listening_worker",
            f"{T_NOTIFY}::test_the_finish_hook_tells_each_finished_job_once_per_statement",
        ),
    ),
    # -- operations (the tests issue 15 found hollow can fail) --------------------------------
    Mutant(
        "ops-worker-view-unguarded",
        "operations",
        OPERATIONS,
        "        op.execute(_if_workers_table(statement))",
        "        op.execute(statement)",
        "revision 0003 fails on a database without the workers table",
        (
            "tests/migrations/test_ops_migration.py::test_worker_view_only_where_the_workers_table_exists",
        ),
    ),
    Mutant(
        "ops-status-without-workers-table",
        "operations",
        "pgqueue/_monitoring.py",
        """        if not await self.repository.worker_stats_present():\n            return None""",
        """        if not await self.repository.worker_stats_present():\n            return []""",
        "status reports no workers (not unknown) when the workers table is missing",
        ("tests/integration/test_ops_views.py::test_status_without_workers_table",),
    ),
    Mutant(
        "ops-purge-takes-any-finished-job",
        "operations",
        "pgqueue/_sql/functions/purge_dead.v1.sql",
        "        WHERE j.state = 'dead'\n",
        "        WHERE j.state IN ('dead', 'succeeded')\n",
        "purging dead letters deletes succeeded jobs too",
        (f"{T_RETENTION}::test_purge_dead",),
    ),
    Mutant(
        "dlq-error-kind-filter-ignored",
        "operations",
        "pgqueue/_sql/functions/requeue_dead.v1.sql",
        "          AND (error_kind IS NULL OR j.errors -> -1 ->> 'kind' = error_kind)\n",
        "          AND (error_kind IS NULL OR j.errors -> 0 ->> 'kind' = error_kind)\n",
        "pgqueue.requeue_dead filters on the first error's kind, not the last one's",
        (
            "tests/integration/test_dead_letter_functions.py::test_sql_requeue_by_id_and_by_each_filter",
        ),
    ),
    Mutant(
        "dlq-purge-died-after-ignored",
        "operations",
        "pgqueue/_sql/functions/purge_dead.v1.sql",
        "          AND (died_after IS NULL OR j.finished_at > died_after)\n",
        "          AND (died_after IS NULL OR true)\n",
        "pgqueue.purge_dead ignores died_after (and so app.purge_dead(died_after=...))",
        (
            "tests/integration/test_dead_letter_functions.py::test_sql_purge_by_filter_deletes_only_dead_letters",
        ),
    ),
    Mutant(
        "dlq-bare-call-purges-everything",
        "operations",
        "pgqueue/_sql/functions/purge_dead.v1.sql",
        "        AND NOT coalesce(all_dead, false) THEN",
        "        AND false THEN",
        "a bare SELECT pgqueue.purge_dead() deletes every dead letter instead of refusing",
        (
            "tests/integration/test_dead_letter_functions.py::test_a_bare_call_is_refused_with_a_hint",
        ),
    ),
    Mutant(
        "worker-tasks-not-written",
        "operations",
        "pgqueue/_worker.py",
        "            tasks=tuple(self.parts.registry.names()),\n",
        "            tasks=(),\n",
        "a worker records no task names, so enqueue and status warn about nothing",
        (
            "tests/integration/test_worker_tasks.py::test_a_worker_records_its_tasks_at_registration",
        ),
    ),
    Mutant(
        "unserved-tasks-of-unserved-queues-repeated",
        "operations",
        "pgqueue/_sql/task_unserved_list.sql",
        "  AND EXISTS (SELECT 1 FROM live AS l WHERE j.queue = ANY (l.queues))\n",
        "",
        "status repeats every task of a queue no live worker serves as an unserved task",
        (
            "tests/integration/test_worker_tasks.py"
            "::test_status_lists_tasks_no_live_worker_of_their_queue_serves",
        ),
    ),
    Mutant(
        "enqueue-warning-despite-unknown-workers",
        "operations",
        "pgqueue/_monitoring.py",
        "        if self.knowing or self.unknown:",
        "        if self.knowing:",
        "pgqueue enqueue warns although a live worker that lists no tasks may serve the task",
        (
            "tests/integration/test_worker_tasks.py::test_enqueue_warns_about_a_task_no_live_worker_serves",
        ),
    ),
    Mutant(
        "ops-lease-taken-before-expiry",
        "operations",
        "pgqueue/_sql/lease_acquire.sql",
        "WHERE l.holder = excluded.holder OR l.expires_at < now()",
        "WHERE l.holder = excluded.holder OR l.expires_at < now() + interval '1 hour'",
        "another worker takes the maintenance lease before it expired",
        (f"{T_RETENTION}::test_lease_is_taken_over_after_expiry",),
    ),
    Mutant(
        "cli-plain-table-numbers-left",
        "cli",
        "pgqueue/_cli/_render.py",
        '" " + (c.rjust(w) if r else c.ljust(w))',
        '" " + c.ljust(w)',
        "piped tables align numbers left, unlike the same table on a terminal",
        ("tests/unit/test_cli_render.py::test_plain_layout_is_riches",),
    ),
    Mutant(
        "cli-plain-table-never-wraps",
        "cli",
        "pgqueue/_cli/_render.py",
        "if total > width or",
        "if False and total > width or",
        "a piped table wider than the output is printed unwrapped instead of by rich",
        ("tests/unit/test_cli_render.py::test_what_rich_would_lay_out_differently_goes_to_rich",),
    ),
    Mutant(
        "ops-retention-generic-plan-scans-the-table",
        "ops",
        "pgqueue/_sql/job_prune.sql",
        "      AND j.state IN ('succeeded', 'dead', 'cancelled')\n",
        "",
        "retention's generic plan cannot use jobs_finished_idx and scans the whole table",
        (
            "tests/plans/test_ops_plans.py::"
            "test_retention_reads_the_finished_index_in_its_generic_plan_too",
        ),
    ),
    Mutant(
        "ops-retention-count-generic-plan-scans-the-table",
        "ops",
        "pgqueue/_sql/job_prune_count.sql",
        "  AND j.state IN ('succeeded', 'dead', 'cancelled')\n",
        "",
        "the prune dry run's generic plan scans the whole table",
        (
            "tests/plans/test_ops_plans.py::"
            "test_retention_reads_the_finished_index_in_its_generic_plan_too",
        ),
    ),
    Mutant(
        "ops-retention-dead-flag-ignored",
        "operations",
        "pgqueue/_cli/_ops_options.py",
        'for name in ("retention_succeeded", "retention_cancelled", "retention_dead", "prune_interval"):',
        'for name in ("retention_succeeded", "retention_cancelled", "prune_interval"):',
        "pgqueue worker --retention-dead is accepted and ignored",
        (f"{T_OPS_CLI}::test_retention_flags_decide_which_finished_jobs_remain",),
    ),
    Mutant(
        "ops-workers-lists-stopped-ones",
        "operations",
        "pgqueue/_sql/worker_list.sql",
        "WHERE $1::boolean OR w.state IN ('running', 'stopping')",
        "WHERE true",
        "pgqueue workers lists stopped and lost workers without --all",
        (f"{T_OPS_CLI}::test_workers_lists_running_workers_and_all_with_the_flag",),
    ),
    Mutant(
        "ops-dead-letter-task-filter-dropped",
        "operations",
        "pgqueue/_admin.py",
        "_ids(which.ids), which.task, which.queue, which.error_kind, before, which.died_after",
        "_ids(which.ids), None, which.queue, which.error_kind, before, which.died_after",
        "an operator action on dead letters ignores the task filter (the repository's scope)",
        (f"{T_RETENTION}::test_requeue_dead_by_filter_and_all",),
    ),
    Mutant(
        "ops-lease-held-whatever-the-answer",
        "operations",
        "pgqueue/_repository/leases.py",
        "        return row is not None",
        "        return True",
        "a worker believes it holds the lease when another holds it",
        (f"{T_RETENTION}::test_lease_is_taken_over_after_expiry",),
    ),
    Mutant(
        "ops-progress-time-dropped",
        "operations",
        "pgqueue/_progress.py",
        "        at=at if isinstance(at, str) else None,",
        "        at=None,",
        "a progress event loses the time it was reported",
        ("tests/integration/test_ops_cli.py::test_watch_prints_progress_live",),
    ),
    # -- dashboard (issue 13) ------------------------------------------------------------------
    Mutant(
        "dashboard-unescaped",
        "dashboard",
        WEB,
        "            autoescape=True,",
        "            autoescape=False,",
        "a task named <script>...</script> becomes markup on the dashboard",
        (f"{T_DASH}::test_pages_render_and_every_job_field_is_escaped",),
    ),
    Mutant(
        "dashboard-actions-on-by-default",
        "dashboard",
        WEB,
        "    actions: bool = False,",
        "    actions: bool = True,",
        "create_app() lets anyone requeue and purge unless told otherwise",
        (f"{T_DASH}::test_actions_are_off_unless_enabled",),
    ),
    Mutant(
        "dashboard-csrf-token-not-compared",
        "dashboard",
        "pgqueue/web/_security.py",
        "    if not hmac.compare_digest(cookie.encode(), form_token.encode()):",
        "    if False:",
        "a form with any token (a forged one) is accepted",
        (f"{T_DASH}::test_requeue_needs_the_forms_csrf_token_and_a_same_site_origin",),
    ),
    Mutant(
        "dashboard-token-not-checked",
        "dashboard",
        "pgqueue/web/_security.py",
        "        return given is not None and hmac.compare_digest(given.encode(), self._expected)",
        "        return True",
        "--token lets in requests without the token",
        (f"{T_DASH}::test_token_auth",),
    ),
    Mutant(
        "dashboard-payloads-shown",
        "dashboard",
        WEB,
        '            data["args"] = data["kwargs"] = data["result"] = None',
        "            pass",
        "--hide-payloads still sends arguments and results in the JSON",
        (f"{T_DASH}::test_hide_payloads_keeps_arguments_and_results_off_everything",),
    ),
    Mutant(
        "dashboard-job-page-unbounded",
        "dashboard",
        "pgqueue/_sql/dashboard_job_page.sql",
        "  AND j.id >= $5::bigint",
        "  AND $5::bigint IS NOT NULL",
        "a job page with a rare filter scans the whole history",
        (f"{T_DASH}::test_a_rare_filter_scans_a_bounded_window_and_says_how_far_it_got",),
    ),
    # -- integrations (pgqueue.contrib) --------------------------------------------------------
    Mutant(
        "fastapi-request-without-transaction",
        "integrations",
        "pgqueue/contrib/fastapi.py",
        "        return handle.begin()\n",
        "        return contextlib.nullcontext(handle)\n",
        "a request's session never commits: its order and its job are lost",
        (f"{T_FASTAPI}::test_an_order_and_its_job_commit_together",),
    ),
    Mutant(
        "fastapi-lifespan-leaves-app-closed",
        "integrations",
        "pgqueue/contrib/fastapi.py",
        "        async with queue:\n",
        "        async with contextlib.nullcontext():\n",
        "the lifespan neither opens nor closes the App",
        (f"{T_FASTAPI}::test_the_lifespan_opens_and_closes_the_app",),
    ),
    # -- cli -----------------------------------------------------------------------------------
    Mutant(
        "cli-command-line-flags-ignored",
        "cli",
        "pgqueue/settings.py",
        "values.update({k: v for k, v in (_COMMAND_LINE.get() or {}).items() if v is not None})",
        "values.update({})",
        "pgqueue worker --dsn/--command-timeout no longer reach the App the module builds",
        ("tests/unit/test_app_settings.py::test_environment_then_arguments_then_command_line",),
    ),
    Mutant(
        "cli-cancel-missing-job-exit-1",
        "cli",
        "pgqueue/_cli/workers.py",
        'fail(f"no job with id {job_id}", EXIT_NOT_FOUND)',
        'fail(f"no job with id {job_id}", 1)',
        "pgqueue cancel of a missing job leaves the one table of exit codes again",
        (f"{T_CLI_POLISH}::test_a_missing_job_is_exit_4_from_every_command",),
    ),
    Mutant(
        "cli-traceback-keeps-pgqueue-frames",
        "cli",
        "pgqueue/_cli/jobs.py",
        'if leading and path.parent.name == "pgqueue" and path.stem in own:',
        "if False:",
        "jobs show starts each traceback with pgqueue's own frames again",
        (f"{T_CLI_POLISH}::test_jobs_show_gives_the_real_maximum_and_starts_at_the_users_frame",),
    ),
    Mutant(
        "cli-migrate-says-nothing-applied",
        "cli",
        "pgqueue/_cli/core.py",
        "    if not applied:\n",
        "    if True:\n",
        "pgqueue migrate says there was nothing to apply after applying revisions",
        ("tests/integration/test_cli.py::test_migrate_on_an_empty_database",),
    ),
    # -- services (the background loops on pgqueue/_services/_base.py) --------------------------
    Mutant(
        "services-rescue-pass-without-the-reap",
        "services",
        "pgqueue/_repository/__init__.py",
        "                lost, _pruned = await self.reap_workers(retention_seconds, connection=conn)\n",
        "                lost = 0\n",
        "a rescue pass puts a silent worker's jobs back but leaves its row running",
        (
            "tests/integration/test_lost_worker.py::"
            "test_one_rescue_pass_marks_lost_the_worker_of_every_job_it_rescues",
        ),
    ),
    Mutant(
        "services-rescuer-judges-while-cut-off",
        "services",
        "pgqueue/_services/rescuer.py",
        "        if self.cut_off():\n            self.skipped += 1\n            return\n",
        "",
        "a worker whose own heartbeats do not get through still marks others lost",
        (f"{T_SERVICES}::test_a_rescuer_whose_own_beats_are_a_ttl_old_rescues_nothing",),
    ),
    Mutant(
        "services-promoter-ignores-the-clock",
        "services",
        "pgqueue/_services/promoter.py",
        "promote_due(now=self.clock.now_override())",
        "promote_due()",
        "promotion ignores the injected database time (tests of schedules must sleep)",
        (f"{T_SERVICES}::test_a_job_scheduled_an_hour_ahead_is_promoted_when_the_clock_says_so",),
    ),
    Mutant(
        "services-cancel-flood-unbounded",
        "services",
        "pgqueue/_services/cancel_check.py",
        "await self.clock.sleep(max(0.0, NOTIFIED_INTERVAL - since))",
        "await self.clock.sleep(0.0)",
        "every forged cancel notification costs a read of the table",
        (
            "tests/integration/test_notify_is_a_hint.py"
            "::test_a_flood_of_forged_cancel_notifications_costs_one_read_per_interval",
        ),
    ),
    Mutant(
        "services-pruner-prunes-as-follower",
        "services",
        "pgqueue/_services/maintenance.py",
        "        if not self.lease.held:\n            return  # the leader pokes",
        "        if False:\n            return  # the leader pokes",
        "every worker prunes, not only the maintenance leader",
        (f"{T_RETENTION}::test_one_elected_worker_prunes",),
    ),
    Mutant(
        "services-backoff-never-reset",
        "services",
        "pgqueue/_services/_base.py",
        "        self.passes += 1\n        self.backoff.reset()\n",
        "        self.passes += 1\n",
        "after an outage a service keeps its longest backoff instead of its interval",
        ("tests/unit/test_services.py::test_errors_back_off_and_never_end_the_loop",),
    ),
    Mutant(
        "services-poke-during-a-pass-lost",
        "services",
        "pgqueue/_services/_base.py",
        "            self._wake.clear()\n            delay = await self.run_guarded()\n",
        "            delay = await self.run_guarded()\n            self._wake.clear()\n",
        "a wake-up that arrives while a pass runs is dropped until the next interval",
        ("tests/unit/test_services.py::test_a_poke_during_a_pass_is_not_lost",),
    ),
    Mutant(
        "integrations-imports-flag-ignored",
        "integrations",
        "pgqueue/_cli/core.py",
        "            imports=imports or None,\n",
        "",
        "`pgqueue worker --import MODULE` imports nothing: the module's tasks are not served",
        (
            "tests/integration/test_task_modules.py::test_imported_modules_tasks_are_served_and_a_missing_one_is_named",
        ),
    ),
    Mutant(
        "integrations-unregistered-tasks-not-excluded",
        "integrations",
        "pgqueue/_sql/job_waiting_unregistered.sql",
        "  AND j.task <> ALL($2::text[])\n",
        "",
        "the start-up report names tasks the imported modules do register",
        (
            "tests/integration/test_task_modules.py::test_imported_modules_tasks_are_served_and_a_missing_one_is_named",
        ),
    ),
    Mutant(
        "payload-refused-shape-remembered",
        "integrations",
        "pgqueue/_payloads.py",
        "    if shape not in typed.fitting:\n        typed.signature.bind(*args, **kwargs)\n",
        "    if shape not in typed.fitting:\n        typed.fitting.add(shape)\n"
        "        typed.signature.bind(*args, **kwargs)\n",
        "arguments that did not fit a task once are taken as fitting the next time: the task "
        "itself raises TypeError and the job is retried instead of dead-lettered as a payload",
        (
            "tests/unit/test_payloads.py::"
            "test_a_shape_that_bound_once_is_not_bound_again_and_one_that_failed_always_is",
        ),
    ),
    Mutant(
        "result-none-skips-the-limit",
        "integrations",
        EXECUTOR,
        "limit >= len(_NULL)):",
        "limit >= 1):",
        "a task returning None succeeds under a max_result_bytes too small for its JSON (null)",
        (
            "tests/unit/test_outcome_bounds.py::"
            "test_a_none_result_is_null_and_still_held_to_the_limit",
        ),
    ),
    Mutant(
        "integrations-typed-payloads-not-rebuilt",
        "integrations",
        "pgqueue/_payloads.py",
        "    return _each_typed(fn, args, kwargs, lambda name, cls, value: _load(cls, value, name))",
        "    return args, kwargs",
        "a task annotated with a model gets a dict, and bad payloads run instead of dead-lettering",
        (
            "tests/integration/test_typed_payloads.py::test_a_payload_that_does_not_validate_is_dead_lettered_with_field_errors",
        ),
    ),
    Mutant(
        "integrations-typed-result-not-rebuilt",
        "integrations",
        "pgqueue/_payloads.py",
        'return value if cls is None else _load(cls, value, "result")',
        "return value",
        "app.result(job_id, task=...) returns the stored dict, not the annotated model",
        (
            "tests/integration/test_typed_payloads.py::test_models_and_dataclasses_round_trip_as_json",
        ),
    ),
    # -- operations: unserved queues (issue 14 item 3) -------------------------------------
    Mutant(
        "operations-stopping-worker-serves",
        "operations",
        "pgqueue/_monitoring.py",
        'if w.alive and w.state == "running" for q in w.queues}',
        "if w.alive for q in w.queues}",
        "a stopping worker (it claims nothing more) counts as serving its queues in status",
        (f"{T_OPS_CLI_STATUS}::test_status_flags_queues_no_live_worker_serves",),
    ),
    Mutant(
        "operations-worker-silent-on-unserved-queue",
        "operations",
        "pgqueue/_worker.py",
        "            if queue not in self.settings.queues:\n",
        "            if queue in ():\n",
        "a worker no longer says which of the app's queues it leaves alone",
        (
            "tests/integration/test_unserved_queues.py"
            "::test_worker_names_the_app_queues_it_does_not_serve",
        ),
    ),
    # -- operations: worker stats (issue 14 item 14) ---------------------------------------
    Mutant(
        "operations-counts-wait-a-whole-heartbeat",
        "operations",
        "pgqueue/_services/heartbeat.py",
        "if not self._failing and self._counts_moved():",
        "if False:",
        "jobs done show in pgqueue workers only after a whole heartbeat interval again",
        (
            "tests/integration/test_worker_stats_fresh.py"
            "::test_counts_reach_the_database_well_within_one_heartbeat",
        ),
    ),
    # -- operations: periodic catch-up after a leader change (issue 14 item 15) --------------
    Mutant(
        "operations-frequent-cron-bursts",
        "operations",
        "pgqueue/_periodic.py",
        "min(timedelta(seconds=self.grace), MAX_LATE_PERIODS * period)",
        "timedelta(seconds=self.grace)",
        "a 2 s cron held up 30 s runs all fifteen late ticks at once again",
        (
            "tests/unit/test_ops_periodic.py::test_a_frequent_cron_held_up_runs_a_bounded_few_late_ticks",
        ),
    ),
    Mutant(
        "operations-stopped-worker-uptime-grows",
        "operations",
        "pgqueue/_sql/worker_list.sql",
        "ELSE coalesce(w.stopped_at, w.last_heartbeat) END",
        "ELSE now() END",
        "a stopped worker's uptime keeps counting after it stopped",
        (f"{T_OPS_CLI}::test_workers_lists_running_workers_and_all_with_the_flag",),
    ),
    # -- burst (issue 18 goal 5) -----------------------------------------------------------------
    Mutant(
        "burst-stops-before-settling",
        "burst",
        "pgqueue/_worker.py",
        "        if settled:\n            logger.info(\n",
        "        if True:\n            logger.info(\n",
        "burst mode stops on the first empty claim, before outcomes queue retries due now",
        (f"{T_BURST}::test_burst_waits_for_retries_due_now_and_promotions",),
    ),
    Mutant(
        "burst-skips-promotion",
        "burst",
        "pgqueue/_worker.py",
        "            await serving.repository.promote_due(now=self.clock.now_override())\n",
        "            pass\n",
        "burst mode stops while a scheduled job is due but not yet promoted",
        (f"{T_BURST}::test_burst_waits_for_retries_due_now_and_promotions",),
    ),
    Mutant(
        "burst-never-woken-by-the-last-attempt",
        "burst",
        "pgqueue/_worker.py",
        "            self._wake.set()  # the last attempt ended: see whether anything is left\n",
        "            pass\n",
        "burst mode waits a whole poll interval after the last job instead of stopping",
        (f"{T_BURST}::test_burst_runs_every_job_then_stops",),
    ),
    # -- start-up (issue 18 goal 6) ---------------------------------------------------------
    Mutant(
        "startup-services-before-the-first-claim",
        "burst",
        "pgqueue/_worker.py",
        "        if self._stop_requested:\n            self._start_services(serving)\n        else:\n",
        "        self._start_services(serving)\n        if not self._stop_requested:\n",
        "the services' first passes start before the first claim and delay the first job",
        (
            "tests/integration/test_startup_order.py"
            "::test_the_first_claim_and_its_job_go_before_the_services",
        ),
    ),
    # -- job metadata and tracing (issue 16, pgqueue.contrib.otel) ----------------------------
    Mutant(
        "otel-claim-drops-metadata",
        "otel",
        CLAIM_SQL,
        "j.metadata::text AS metadata",
        "'{}'::text AS metadata",
        "the worker never sees the enqueuer's trace context: every attempt is a root span",
        (f"{T_OTEL}::test_the_execution_span_is_a_child_of_the_enqueuers_trace",),
    ),
    Mutant(
        "otel-enqueue-many-drops-metadata",
        "otel",
        ENQUEUE_MANY,
        "b.run_at, b.max_attempts, b.unique_key, b.metadata, b.limit_key,\n",
        "b.run_at, b.max_attempts, b.unique_key, '{}'::jsonb, b.limit_key,\n",
        "the one insert of every enqueue path stores no metadata",
        (
            f"{T_OTEL}::test_every_enqueue_path_stores_the_trace_context",
            f"{T_ROWS}::test_every_path_writes_the_same_row",
        ),
    ),
    Mutant(
        "otel-rescue-forgets-the-lost-attempt",
        "otel",
        RESCUE_SQL,
        "jsonb_build_object('pgqueue.lost_attempt', j.attempts)",
        "'{}'::jsonb",
        "the attempt after a rescue does not say that the one before it was lost",
        (f"{T_OTEL}::test_a_rescued_job_shows_the_given_up_attempt_and_the_rescued_one",),
    ),
    Mutant(
        "otel-hook-metadata-over-the-jobs-own",
        "otel",
        "pgqueue/_hooks.py",
        "metadata={**self.metadata, **(job.metadata or {})}",
        "metadata={**(job.metadata or {}), **self.metadata}",
        "an instrumentation's keys overwrite the metadata a job was given explicitly",
        (f"{T_OTEL}::test_a_jobs_own_metadata_wins_over_the_instrumentations",),
    ),
    # -- flow control (issue 11, docs/limits.md) ---------------------------------------------
    Mutant(
        "limits-claims-without-the-lock",
        "limits",
        CLAIM_LIMITED,
        "    IF NOT pg_try_advisory_xact_lock(7021880391127512064) THEN\n",
        "    IF false THEN\n",
        "two limited claims at one moment each see the slots free and together exceed the limit",
        (f"{T_LIMITS}::test_two_claims_at_the_same_moment_never_exceed_the_limit",),
    ),
    Mutant(
        "limits-running-jobs-not-counted",
        "limits",
        CLAIM_LIMITED,
        "coalesce(m.concurrency - m.busy, n)",
        "coalesce(m.concurrency, n)",
        "a concurrency limit ignores the jobs already running: every claim takes a full limit",
        (f"{T_LIMITS}::test_two_claims_at_the_same_moment_never_exceed_the_limit",),
    ),
    Mutant(
        "limits-keys-share-one-count",
        "limits",
        CLAIM_LIMITED,
        "(s.scope = 'task' AND r.task = s.name AND r.key = s.key)",
        "(s.scope = 'task' AND r.task = s.name)",
        "the jobs of one key count against every key of the task: one tenant starves the others",
        (f"{T_LIMITS}::test_each_key_gets_its_own_limit",),
    ),
    Mutant(
        "limits-rate-tokens-never-taken",
        "limits",
        CLAIM_LIMITED,
        "r.tokens - coalesce(t.n, 0) AS tokens",
        "r.tokens AS tokens",
        "a rate limit never runs out: its bucket stays full whatever starts",
        (f"{T_LIMITS}::test_a_rate_lets_its_burst_start_then_one_job_per_interval",),
    ),
    Mutant(
        "limits-plain-claim-takes-limited-jobs",
        "limits",
        CLAIM_SQL,
        " AND NOT j.limited\n",
        "\n",
        "the plain claim takes limited jobs past their limits",
        (f"{T_LIMITS}::test_concurrency_limit_holds_across_two_workers",),
    ),
    # -- workflows (issue 12) -------------------------------------------------------------------
    Mutant(
        "workflows-children-not-locked-before-their-parents-are-read",
        "workflows",
        RESOLVE,
        "        ORDER BY j.id\n        FOR UPDATE\n",
        "        ORDER BY j.id\n",
        "two parents finishing in concurrent transactions both miss the child, which waits forever",
        (
            f"{T_WORKFLOWS}::test_two_parents_finishing_in_concurrent_transactions_queue_the_child_"
            "once",
        ),
    ),
    Mutant(
        "workflows-parents-not-locked-at-enqueue",
        "workflows",
        ENQUEUE_MANY,
        "WHERE p.id = ANY (parents) ORDER BY p.id FOR SHARE;",
        "WHERE p.id = ANY (parents) ORDER BY p.id;",
        "a child enqueued while its parent's completion commits waits forever",
        (f"{T_WORKFLOWS}::test_a_child_enqueued_while_its_parent_finishes_is_never_stranded",),
    ),
    Mutant(
        "workflows-run-anyway-policy-ignored",
        "workflows",
        RESOLVE,
        "              AND d.needs_success\n",
        "",
        'a child with on_parent_failure="run" is cancelled like the others',
        (
            f"{T_WORKFLOWS}::test_a_callback_with_on_parent_failure_run_runs_with_none_for_the_failed",
        ),
    ),
    Mutant(
        "workflows-only-successes-resolve",
        "workflows",
        FINISHED,
        "WHERE j.id = ANY (finished) AND j.state IN ('dead', 'cancelled')",
        "WHERE j.id = ANY (finished) AND j.state IN ('dead')",
        "a parent ending cancelled leaves its children waiting forever",
        (f"{T_WORKFLOWS}::test_cancelling_a_parent_cancels_what_waits_on_it",),
    ),
    Mutant(
        "workflows-cascade-not-handed-to-the-hook",
        "workflows",
        RESOLVE,
        "        PERFORM pgqueue.jobs_finished(gone);\n",
        "        NULL;\n",
        "a child cancelled because its parent failed tells no waiter, and what runs anyway waits",
        (f"{T_WORKFLOWS}::test_a_cascaded_cancel_tells_its_waiters_and_resolves_its_own_children",),
    ),
    Mutant(
        "workflows-children-enqueued-queued",
        "workflows",
        ENQUEUE_MANY,
        "                            THEN 'waiting'\n",
        "                            THEN 'queued'\n",
        "a job with parents is claimable at once, before its parents ran",
        (f"{T_WORKFLOWS}::test_a_chain_runs_in_order_over_two_workers",),
    ),
    Mutant(
        "workflows-prune-takes-a-parent-still-needed",
        "workflows",
        "pgqueue/_sql/job_prune.sql",
        "          WHERE d.parent_id = j.id\n",
        "          WHERE d.parent_id = j.id AND false\n",
        "retention deletes a parent whose child still waits on it",
        (f"{T_WORKFLOWS}::test_retention_keeps_a_parent_whose_child_has_not_finished",),
    ),
    Mutant(
        "limits-queue-limit-not-marked-at-enqueue",
        "limits",
        "pgqueue/_sql/job_insert_batch.sql",
        "b.task = ANY (lim.tasks) OR b.queue = ANY (lim.queues)",
        "b.task = ANY (lim.tasks)",
        "a job of a task without limits in a limited queue is not marked limited, so the plain "
        "claim takes it past the queue's limit",
        (f"{T_LIMITS}::test_a_queue_limit_counts_every_task_of_the_queue",),
    ),
    # -- behind a transaction pooler (issue 18 goal 8, docs/pgbouncer.md) --------------------
    Mutant(
        "pooler-keeps-the-statement-cache",
        "pooler",
        "pgqueue/_repository/driver.py",
        "statement_cache_size=100 if prepared_statements else 0,",
        "statement_cache_size=100,",
        "behind PgBouncer in transaction mode the pool's named statements vanish between transactions",
        (
            "tests/integration/test_pgbouncer.py::test_200_jobs_through_pgbouncer_in_transaction_mode",
        ),
    ),
    Mutant(
        "pooler-listens-through-the-pooler",
        "pooler",
        "pgqueue/_client.py",
        'self.listens = settings.pooler != "transaction" or settings.listen_dsn is not None',
        "self.listens = True",
        "an App behind a transaction pooler LISTENs through it (and never says it polls)",
        (
            "tests/unit/test_app_settings.py"
            "::test_an_app_behind_a_transaction_pooler_listens_only_on_a_listen_dsn",
            "tests/integration/test_pgbouncer.py::test_200_jobs_through_pgbouncer_in_transaction_mode",
        ),
    ),
    Mutant(
        "pooler-listen-dsn-ignored",
        "pooler",
        "pgqueue/_client.py",
        "Listener(self.settings.listen_dsn or self.dsn)",
        "Listener(self.dsn)",
        "the LISTEN connection goes through the pooler even when a direct listen_dsn is given",
        (
            "tests/unit/test_app_settings.py"
            "::test_an_app_behind_a_transaction_pooler_listens_only_on_a_listen_dsn",
        ),
    ),
    Mutant(
        "claim-default-concurrency-10",
        "claim",
        "pgqueue/settings.py",
        "    concurrency: int = 50\n",
        "    concurrency: int = 10\n",
        "a plain worker runs at the old default of 10, claiming ten jobs per round trip",
        (
            "tests/unit/test_default_concurrency.py"
            "::test_the_default_is_fifty_from_every_entry_point",
        ),
    ),
    Mutant(
        "claim-sync-threads-ignored",
        "claim",
        "pgqueue/settings.py",
        "return self.sync_threads or self.concurrency",
        "return self.concurrency",
        "sync_threads no longer limits the threads of plain def tasks",
        (
            "tests/unit/test_default_concurrency.py::test_sync_threads_follow_concurrency_unless_set",
        ),
    ),
    Mutant(
        "bench-peers-leaves-jobs",
        "bench",
        "benchmarks/peers.py",
        "        finally:\n            await _flush(url)\n",
        "        finally:\n            pass\n",
        "the peers harness leaves arq's jobs and results behind in Redis after a measurement",
        ("tests/integration/test_bench_peers.py::test_redis_peers_rows_beside_pgqueue",),
    ),
    Mutant(
        "bench-peers-no-durable-floor",
        "bench",
        "benchmarks/peers.py",
        "            senders[RAW] = await stack.enter_async_context(_raw_enqueuer(base))\n",
        "            pass\n",
        "the single enqueue no longer times the durable floor beside the peers",
        ("tests/integration/test_bench_peers.py::test_redis_peers_rows_beside_pgqueue",),
    ),
    Mutant(
        "bench-peers-durable-redis-not-durable",
        "bench",
        "benchmarks/peers.py",
        '*("--appendonly", "yes", "--appendfsync", "always"),',
        '*("--appendonly", "yes", "--appendfsync", "everysec"),',
        "arq's durable row is timed on a Redis that fsyncs once a second, not every write",
        ("tests/integration/test_bench_peers.py::test_the_durable_redis_fsyncs_every_write",),
    ),
    Mutant(
        "bench-peers-async-commit-not-off",
        "bench",
        "benchmarks/peers.py",
        'ASYNC_COMMIT_OPTIONS = "options=-c%20synchronous_commit%3Doff"',
        'ASYNC_COMMIT_OPTIONS = "options=-c%20synchronous_commit%3Don"',
        "the opt-in row is timed with the server's durable commits, not synchronous_commit off",
        (
            "tests/integration/test_bench_peers.py"
            "::test_the_async_commit_row_connects_with_synchronous_commit_off",
        ),
    ),
    Mutant(
        "bench-peers-async-commit-default-dsn",
        "bench",
        "benchmarks/peers.py",
        '_enqueuer("pgqueue", async_commit_dsn(dsn))',
        '_enqueuer("pgqueue", dsn)',
        "the opt-in row times pgqueue on a DSN without the option",
        (
            "tests/integration/test_bench_peers.py"
            "::test_the_async_commit_row_times_pgqueue_on_the_opt_in_dsn",
        ),
    ),
    Mutant(
        "bench-latency-one-side-after-the-other",
        "bench",
        "benchmarks/workloads.py",
        "            for block in _blocks(samples, blocks):\n"
        "                await _paced(block, spacing, send_raw)\n"
        "                await asyncio.sleep(spacing)\n"
        "                await _paced(block, spacing, send_ours)\n",
        "            for block in [samples]:\n"
        "                await _paced(block, spacing, send_raw)\n"
        "                await asyncio.sleep(spacing)\n"
        "                await _paced(block, spacing, send_ours)\n",
        "the latency probes are taken all raw, then all pgqueue, not in alternating blocks",
        (
            "tests/integration/test_bench_latency.py"
            "::test_the_probes_alternate_block_by_block_after_each_sides_warm_up",
        ),
    ),
    Mutant(
        "bench-peers-skip-crashes",
        "bench",
        "benchmarks/peers.py",
        "    running = tuple(s for s in systems if s not in skipped)\n",
        "    running = systems\n",
        "without Redis the peers run crashes instead of saying arq was skipped",
        ("tests/integration/test_bench_peers.py::test_redis_peers_without_redis_say_skipped",),
    ),
    Mutant(
        "bench-peers-celery-stops-early",
        "bench",
        "benchmarks/peers.py",
        "                while idle < 2:\n",
        "                while idle < 0:\n",
        "the Celery drain stops its worker before the queue is empty and times a partial drain",
        ("tests/integration/test_bench_peers.py::test_redis_peers_rows_beside_pgqueue",),
    ),
    Mutant(
        "claim-after-key-inclusive",
        "claim",
        "pgqueue/_sql/job_claim_after.sql",
        "(j.run_at, j.id) > (q.run_at, q.id)",
        "(j.run_at, j.id) >= (q.run_at, q.id)",
        "the bounded claim takes the job at its key again (the one it claimed last)",
        (
            "tests/integration/test_claim_cursor.py"
            "::test_the_bounded_claim_takes_exactly_the_jobs_after_the_key_in_claim_order",
        ),
    ),
    Mutant(
        "claim-bounded-forever",
        "claim",
        "pgqueue/_claim_cursor.py",
        "if self.full_due is None or self.clock.monotonic() >= self.full_due:",
        "if self.full_due is None:",
        "once bounded, the worker never runs a full claim: jobs ahead of the cursor are stranded",
        (
            "tests/integration/test_claim_cursor.py::test_a_job_ahead_of_the_cursor_is_claimed_by_the_next_full_claim",
        ),
    ),
    Mutant(
        "claim-cursor-first-not-last",
        "claim",
        "pgqueue/_claim_cursor.py",
        "(job.queue not in last or last[job.queue].precedes(key))",
        "(job.queue not in last or key.precedes(last[job.queue]))",
        "the cursor keeps the first job of a claim, so bounded claims re-walk what was claimed",
        (
            "tests/integration/test_claim_cursor.py::test_a_job_ahead_of_the_cursor_is_claimed_by_the_next_full_claim",
        ),
    ),
)
