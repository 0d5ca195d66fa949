"""The built wheel works on its own: build it from a copy of the working tree, install it into a
fresh virtualenv, and run that venv's `pgqueue migrate` against an empty database, from a
directory where the source tree cannot be imported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest

from pgqueue import migrate

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def isolated_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH (it would put a source tree first), no PGQUEUE_*/DATABASE_URL."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PGQUEUE_") and k not in ("DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(extra)
    return env


def copy_working_tree(destination: Path) -> None:
    """Tracked files plus untracked-but-not-ignored ones, as they are now in the working tree,
    so the build sees the current code without writing anything into the checkout."""
    listed = run(
        "git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=REPO_ROOT
    )
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if not source.is_file():  # deleted in the working tree but still in the index
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    source, dist, venv = base / "src", base / "dist", base / "venv"
    copy_working_tree(source)
    run(
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--outdir",
        dist,
        ".",
        cwd=source,
        env=isolated_env(),
    )
    [wheel] = dist.glob("pgqueue-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "pgqueue/_migrations/env.py" in names
    assert "pgqueue/_sql/job_claim.sql" in names
    assert "pgqueue/py.typed" in names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)

    run(sys.executable, "-m", "venv", venv, cwd=base, env=isolated_env())
    run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        wheel,
        cwd=base,
        env=isolated_env(),
    )
    return venv


def test_wheel_imports_from_the_venv_not_the_source_tree(
    installed_venv: Path, tmp_path: Path
) -> None:
    location = run(
        installed_venv / "bin" / "python",
        "-c",
        "import pgqueue, pgqueue.migrate as m; print(pgqueue.__file__); print(m.migrations_path())",
        cwd=tmp_path,
        env=isolated_env(),
    ).splitlines()
    package_file, migrations = Path(location[0]), Path(location[1])
    assert package_file.is_relative_to(installed_venv), package_file
    assert not package_file.is_relative_to(REPO_ROOT)
    assert migrations == package_file.parent / "_migrations"


def test_installed_pgqueue_migrate_on_an_empty_database(
    installed_venv: Path, empty_db: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(installed_venv / "bin" / "pgqueue"), "migrate"],
        cwd=tmp_path,
        env=isolated_env(PGQUEUE_DSN=empty_db),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    with psycopg.connect(empty_db, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('pgqueue.jobs')::text").fetchall() == [
            ("pgqueue.jobs",)
        ]
        assert conn.execute("SELECT version_num FROM pgqueue.alembic_version").fetchall() == [
            (migrate.heads()[0],)
        ]
        # The installed functions work: the schema is usable, not just present.
        [[job_id]] = conn.execute("SELECT pgqueue.enqueue('t', '[1]')").fetchall()
        assert conn.execute("SELECT task, args, state FROM pgqueue.jobs").fetchall() == [
            ("t", [1], "queued")
        ]
        assert job_id == 1


def test_installed_cli_prints_version_and_ddl(installed_venv: Path, tmp_path: Path) -> None:
    import pgqueue

    version = run(installed_venv / "bin" / "pgqueue", "--version", cwd=tmp_path, env=isolated_env())
    assert version.strip().endswith(f"version {pgqueue.__version__}")
    ddl = run(
        installed_venv / "bin" / "pgqueue", "migrate", "--sql", cwd=tmp_path, env=isolated_env()
    )
    assert "CREATE TABLE pgqueue.jobs" in ddl
    assert "CREATE FUNCTION pgqueue.enqueue(" in ddl
