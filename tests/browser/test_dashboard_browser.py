"""The dashboard in a real chromium: click from a queue to a job to its requeue, watch a progress
bar advance while a worker runs the job, a task named like a script shows as text, the docs' SSE
example runs; screenshots saved under each test's tmp dir (PGQUEUE_SCREENSHOTS=dir copies them
there too: that is how docs/images/dashboard.png is made)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pgqueue import App, current_job
from tests.dashboard_support import served
from tests.helpers import count_states, fetchval, running_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCRIPT = "<script>alert(1)</script>"
DOCS = Path(__file__).resolve().parents[2] / "docs"


async def execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot {name}"
    assert path.stat().st_size > 10_000  # a page, not a blank
    wanted = os.environ.get("PGQUEUE_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / path.name)
    return path


def until(driver: Any, condition: Any, timeout: float = 20.0) -> Any:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page being replaced (a reload, a redirect) makes lookups fail for a moment: retry them.
    return WebDriverWait(
        driver, timeout, poll_frequency=0.05, ignored_exceptions=(WebDriverException,)
    ).until(condition)


def text_of(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


# A history like a day at work: four queues, an hour of finished jobs, a few dead letters, two
# workers (one of them lost), a scheduled backlog. For the screenshots.
WORKDAY = """
INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, heartbeat_ttl,
                             last_heartbeat, processed, failed, active)
VALUES (gen_random_uuid(), 'app-1', 4182, ARRAY['default', 'emails', 'reports'], 16, '0.1.0',
        interval '30 seconds', now(), 18234, 41, 3),
       (gen_random_uuid(), 'app-2', 977, ARRAY['webhooks'], 8, '0.1.0', interval '30 seconds',
        now() - interval '20 minutes', 5120, 12, 0);
INSERT INTO pgqueue.jobs (task, queue, state, attempts, run_at, enqueued_at, started_at,
                          finished_at, result)
SELECT (ARRAY['billing.charge', 'mail.send_receipt', 'reports.render', 'hooks.deliver'])[1 + n % 4],
       (ARRAY['default', 'emails', 'reports', 'webhooks'])[1 + n % 4], 'succeeded', 1,
       now() - m * interval '1 minute', now() - m * interval '1 minute',
       now() - m * interval '1 minute', now() - m * interval '1 minute' + interval '2 seconds', '1'
FROM generate_series(0, 59) AS m, generate_series(1, 8 + (m * 7) % 23) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, attempts, max_attempts, args, run_at, enqueued_at,
                          started_at, finished_at, errors)
SELECT 'hooks.deliver', 'webhooks', 'dead', 5, 5,
       jsonb_build_array('https://hooks.example.com/orders', jsonb_build_object('order', 1000 + n)),
       now() - n * interval '3 minutes' - interval '2 minutes',
       now() - n * interval '3 minutes' - interval '20 minutes',
       now() - n * interval '3 minutes' - interval '30 seconds', now() - n * interval '3 minutes',
       jsonb_build_array(jsonb_build_object('attempt', 5, 'kind', 'error', 'type',
       'httpx.ConnectTimeout', 'message', 'timed out connecting to hooks.example.com',
       'traceback', E'Traceback (most recent call last):\n  File "app/hooks.py", line 41, in deliver\n    response = await client.post(url, json=payload)\nhttpx.ConnectTimeout: timed out connecting to hooks.example.com',
       'at', now() - n * interval '3 minutes'))
FROM generate_series(1, 6) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, run_at)
SELECT (ARRAY['billing.charge', 'mail.send_receipt', 'reports.render'])[1 + n % 3],
       (ARRAY['default', 'emails', 'reports'])[1 + n % 3], 'queued',
       now() - (n % 40) * interval '1 second'
FROM generate_series(1, 57) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, run_at)
SELECT 'reports.render', 'reports', 'scheduled', now() + n * interval '1 hour'
FROM generate_series(1, 24) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, attempts, started_at, worker_id, progress)
SELECT 'reports.render', 'reports', 'running', 1, now() - interval '40 seconds',
       (SELECT id FROM pgqueue.workers WHERE hostname = 'app-1'),
       jsonb_build_object('seq', 3, 'value', 0.3 * n, 'message', 'page ' || n)
FROM generate_series(1, 3) AS n;
"""


async def test_click_from_a_queue_to_a_job_to_its_requeue(
    dsn: str, app: App, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    await execute(dsn, WORKDAY)
    dead = await fetchval(
        dsn, "SELECT max(id) FROM pgqueue.jobs WHERE state = 'dead' AND queue = 'webhooks'"
    )
    before = await count_states(dsn)
    with served(dsn=dsn, actions=True) as s:

        def walk() -> None:
            browser.get(s.url + "/")
            until(browser, lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"))
            until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg rect"))
            screenshot(browser, tmp_path, "dashboard")
            row = browser.find_element(By.CSS_SELECTOR, 'tr[data-queue="webhooks"]')
            assert row.find_element(By.CSS_SELECTOR, '[data-field="dead"]').text == "6"
            row.find_element(By.CSS_SELECTOR, '[data-field="dead"]').click()
            until(browser, lambda d: "/dead?queue=webhooks" in d.current_url)
            screenshot(browser, tmp_path, "dead-letters")
            browser.find_element(By.LINK_TEXT, f"#{dead}").click()
            until(browser, lambda d: d.current_url.endswith(f"/jobs/{dead}"))
            assert text_of(browser, "#job-state") == "dead"
            assert "httpx.ConnectTimeout" in text_of(browser, "details.error summary")
            screenshot(browser, tmp_path, "dead-job")
            browser.find_element(By.ID, "requeue").click()
            until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice"))
            assert text_of(browser, ".notice") == "requeued 1 job", browser.page_source
            assert text_of(browser, "#job-state") == "queued"
            screenshot(browser, tmp_path, "requeued")
            browser.get("about:blank")  # close the page's streams before the dashboard stops

        await asyncio.to_thread(walk)
    after = await count_states(dsn)
    assert after["dead"] == before["dead"] - 1 and after["queued"] == before["queued"] + 1
    assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", dead) == "queued"


async def test_a_progress_bar_advances_live_while_a_worker_runs_the_job(
    dsn: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    app = App(dsn)
    steps = [asyncio.Event() for _ in range(4)]

    @app.task(name="reports.render")
    async def render(pages: int) -> dict[str, int]:
        job = current_job()
        for n, step in enumerate(steps):
            await step.wait()
            await job.progress((n + 1) / len(steps), f"page {n + 1} of {len(steps)}")
        return {"pages": pages}

    try:
        job_id = await render.enqueue(4)
        with served(dsn=dsn) as s:
            async with running_worker(app):
                await wait_for(
                    lambda: fetchval(dsn, "SELECT state = 'running' FROM pgqueue.jobs"),
                    message="the job running",
                )
                await asyncio.to_thread(browser.get, f"{s.url}/jobs/{job_id}")
                await asyncio.to_thread(
                    until,
                    browser,
                    lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"),
                )
                seen = []
                for n, step in enumerate(steps[:-1], start=1):
                    step.set()
                    want = f"{n * 25}%"
                    await asyncio.to_thread(
                        until, browser, lambda d, want=want: text_of(d, "#progress-value") == want
                    )
                    bar = await asyncio.to_thread(
                        lambda: browser.find_element(By.ID, "progress").get_attribute("value")
                    )
                    seen.append(
                        (
                            want,
                            float(bar),
                            await asyncio.to_thread(text_of, browser, "#progress-message"),
                        )
                    )
                    if n == 2:
                        await asyncio.to_thread(screenshot, browser, tmp_path, "progress")
                assert seen == [
                    ("25%", 0.25, "page 1 of 4"),
                    ("50%", 0.5, "page 2 of 4"),
                    ("75%", 0.75, "page 3 of 4"),
                ]
                steps[-1].set()
                # The stream ends with the outcome and the page shows the result.
                await asyncio.to_thread(
                    until, browser, lambda d: text_of(d, "#job-state") == "succeeded"
                )
                assert '"pages": 4' in await asyncio.to_thread(
                    text_of, browser, "pre.code:last-of-type"
                )
                await asyncio.to_thread(browser.get, "about:blank")
        assert await count_states(dsn) == {"succeeded": 1}
    finally:
        await app.close()


async def test_a_task_named_like_a_script_shows_as_text(
    dsn: str, app: App, browser: Any, tmp_path: Path
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    job_id = await app.enqueue(SCRIPT, [SCRIPT], queue=SCRIPT, allow_unknown=True)
    with served(dsn=dsn) as s:

        def look() -> None:
            for path in ("/", "/jobs", f"/jobs/{job_id}"):
                browser.get(s.url + path)
                until(
                    browser, lambda d: d.execute_script("return document.readyState") == "complete"
                )
                with pytest.raises(NoAlertPresentException):
                    browser.switch_to.alert.text  # noqa: B018
                assert not browser.find_elements(By.XPATH, "//main//script[not(@type)]")
            assert text_of(browser, ".task-name") == SCRIPT
            browser.get(s.url + "/jobs")
            assert text_of(browser, "#jobs td.task") == SCRIPT
            browser.get(s.url + "/")
            until(browser, lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"))
            assert text_of(browser, "#queues .queue-link") == SCRIPT
            screenshot(browser, tmp_path, "script-task")
            browser.get("about:blank")

        await asyncio.to_thread(look)


async def test_the_docs_sse_example_runs_in_a_browser(
    dsn: str, browser: Any, tmp_path: Path
) -> None:
    """docs/dashboard.md's browser example, as written, against the real stream."""
    from selenium.webdriver.common.by import By

    text = (DOCS / "dashboard.md").read_text()
    example = re.search(r"```html\n(.*?)```", text, re.S)
    assert example is not None
    html = example.group(1)
    script = re.search(r"<script>\n(.*?)</script>", html, re.S)
    assert script is not None and len(script.group(1).strip().splitlines()) <= 12
    app = App(dsn)
    go = asyncio.Event()

    @app.task(name="import_file")
    async def import_file() -> int:
        await current_job().progress(0.5, "half way")
        await go.wait()
        return 7

    try:
        job_id = await import_file.enqueue()
        with served(dsn=dsn) as s:
            async with running_worker(app):
                await wait_for(
                    lambda: fetchval(dsn, "SELECT progress IS NOT NULL FROM pgqueue.jobs"),
                    message="the first report",
                )

                def run_example() -> None:
                    browser.get(s.url + "/workers")  # any page of the dashboard's origin
                    body = html.split("<script>")[0]
                    browser.execute_script(
                        "document.querySelector('main').innerHTML = arguments[0]", body
                    )
                    code = (
                        script.group(1).replace("/pgqueue/api", "/api").replace("42", str(job_id))
                    )
                    browser.execute_script(code)
                    until(browser, lambda d: d.find_element(By.ID, "status").text == "half way")

                await asyncio.to_thread(run_example)
                go.set()
                await asyncio.to_thread(
                    until, browser, lambda d: d.find_element(By.ID, "status").text == "succeeded: 7"
                )
                bar = await asyncio.to_thread(
                    lambda: browser.find_element(By.ID, "bar").get_attribute("value")
                )
                assert float(bar) == 0.5
                await asyncio.to_thread(screenshot, browser, tmp_path, "docs-example")
                await asyncio.to_thread(browser.get, "about:blank")
    finally:
        await app.close()


async def test_the_workers_page_follows_heartbeats_live(
    dsn: str, browser: Any, tmp_path: Path
) -> None:

    await execute(
        dsn,
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, "
        "heartbeat_ttl, processed) VALUES (gen_random_uuid(), 'app-1', 4182, ARRAY['default'], "
        "8, '0.1.0', interval '30 seconds', 10)",
    )
    # No worker runs here to NOTIFY: the fallback read (every half second) carries the changes.
    with served(dsn=dsn, live_fallback=0.5) as s:

        def cell(field: str) -> str:
            return text_of(browser, f'#workers [data-field="{field}"]')

        await asyncio.to_thread(browser.get, f"{s.url}/workers")
        assert await asyncio.to_thread(cell, "alive") == "alive"
        assert await asyncio.to_thread(cell, "processed") == "10"
        await execute(dsn, "UPDATE pgqueue.workers SET processed = 11, last_heartbeat = now()")
        await asyncio.to_thread(until, browser, lambda d: cell("processed") == "11")
        await execute(
            dsn, "UPDATE pgqueue.workers SET last_heartbeat = now() - interval '5 minutes'"
        )
        await asyncio.to_thread(until, browser, lambda d: cell("alive") == "lost")
        assert await asyncio.to_thread(cell, "health") == "not alive"
        await asyncio.to_thread(screenshot, browser, tmp_path, "workers")
        await asyncio.to_thread(browser.get, "about:blank")
