"""Notification payloads come from anyone who can connect: parsing them never raises and yields
only plausible job ids (pgqueue._notifier.job_ids)."""

from __future__ import annotations

from pgqueue._notifier import job_ids


def test_job_ids_takes_ascii_bigint_ids_and_ignores_the_rest() -> None:
    assert job_ids("17") == [17]
    assert job_ids("1,2,300") == [1, 2, 300]
    assert job_ids("9223372036854775807") == [9223372036854775807]
    for junk in ("", "x", "²", "١٢", "-1", "1.5", " 1", "9" * 20, "9" * 5000, '{"job_id": 1}'):
        assert job_ids(junk) == [], junk
    assert job_ids(f"{'9' * 5000},4,x,²,5") == [4, 5]
