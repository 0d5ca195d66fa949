"""The NOTIFY channels pgqueue uses, named once. Every payload is a hint, never authority: anyone
who can connect can send one, so a listener only re-reads the table.

The SQL that sends them: the enqueue functions (JOBS, for the queued jobs they insert: revision
0015_enqueue_fast), the jobs' UPDATE trigger jobs_notify_queued (revision 0007_notify_triggers:
JOBS), pgqueue.jobs_finished(), the hook every statement that finishes jobs calls (revision
0016_finish_hooks: DONE), pgqueue.cancel() (CANCEL), job_progress.sql (PROGRESS).
tests/unit/test_channels.py holds that the SQL uses no other name.
"""

from __future__ import annotations

# A job came (back) into a queue. Payload: the queue name, once per queue per statement.
JOBS = "pgqueue_jobs"
# Jobs finished. Payload: their ids, comma-separated, at most 300 a notification.
DONE = "pgqueue_done"
# A running job's cancel was requested. Payload: its id.
CANCEL = "pgqueue_cancel"
# A running job reported progress. Payload: its id.
PROGRESS = "pgqueue_progress"

ALL = (JOBS, DONE, CANCEL, PROGRESS)
