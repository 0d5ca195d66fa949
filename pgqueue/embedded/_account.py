"""Who runs the embedded server. PostgreSQL refuses to run as root, so under root (CI, a
container) initdb and postgres run as an unprivileged account and own their data directory;
anyone else runs them as themselves."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pgqueue.errors import ConfigurationError

# The account root hands the server to: PGQUEUE_EMBEDDED_USER, else the first that exists.
ACCOUNT_ENV = "PGQUEUE_EMBEDDED_USER"
FALLBACK_ACCOUNTS = ("postgres", "nobody")


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int
    gid: int

    @property
    def is_current(self) -> bool:
        return self.uid == os.geteuid()


def server_account() -> Account:
    """The account initdb and postgres run as: the current one, unless it is root."""
    import pwd

    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    wanted = os.environ.get(ACCOUNT_ENV)
    for name in (wanted,) if wanted else FALLBACK_ACCOUNTS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid == 0:
            raise ConfigurationError(
                f"{ACCOUNT_ENV}={name} is root; PostgreSQL refuses to run as root"
            )
        return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    names = wanted or " or ".join(FALLBACK_ACCOUNTS)
    raise ConfigurationError(
        f"running as root, the embedded PostgreSQL needs an unprivileged account ({names}) "
        f"to run as: create one, or name one in {ACCOUNT_ENV}"
    )


def _groups_of(account: Account) -> set[int]:
    import grp

    groups = {account.gid}
    groups.update(g.gr_gid for g in grp.getgrall() if account.name in g.gr_mem)
    return groups


def can_reach(path: Path, account: Account) -> bool:
    """Whether `account` may traverse every directory leading to `path` (execute permission),
    judged from the mode bits, as the kernel would for that account."""
    if account.is_current or account.uid == 0:
        return True
    groups = _groups_of(account)
    for directory in [*reversed(path.resolve().parents), path.resolve()]:
        if not directory.exists():
            break
        info = directory.stat()
        if info.st_uid == account.uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def give_to(path: Path, account: Account) -> None:
    """Make `account` the owner of `path` (a no-op when it already runs as that account)."""
    if not account.is_current:
        os.chown(path, account.uid, account.gid)


def server_env() -> dict[str, str]:
    """The environment for initdb/pg_ctl: without libpq's PG* variables (PGPORT, PGDATA, ...),
    which would otherwise override what pgqueue passes them."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def run_as(
    account: Account, argv: Sequence[str], *, timeout: float, detach: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `argv` as `account`, capturing its output. `detach`: in a session of its own, so a
    Ctrl-C at the terminal never reaches what it leaves running (the postmaster)."""
    other = not account.is_current
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd="/",
        env=server_env(),
        start_new_session=detach,
        check=False,
        user=account.uid if other else None,
        group=account.gid if other else None,
        extra_groups=[] if other else None,
    )
