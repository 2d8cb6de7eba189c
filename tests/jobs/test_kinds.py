"""Job kinds in one table: a database from before kinds gains the column, names are scoped per kind,
each kind's listing sees only its own jobs, and a worker claims any kind's waiting statuses."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stillhouse.jobs import JobService
from stillhouse.jobs.store import Store, scoped

from .helpers import job_request

OLD_JOBS = """CREATE TABLE jobs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, client_token TEXT UNIQUE, request_hash TEXT NOT NULL,
    status TEXT NOT NULL, created REAL NOT NULL, doc TEXT NOT NULL, request TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '{}',
    lease_owner TEXT, lease_expires REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0)"""


def test_a_database_from_before_kinds_keeps_its_jobs_as_customizations(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with sqlite3.connect(db) as conn:
        conn.execute(OLD_JOBS)
        conn.execute(
            "INSERT INTO jobs (id, name, request_hash, status, created, doc, request) VALUES (?,?,?,?,?,?,?)",
            ("abc", "old-job", "h", "Completed", 1.0, "{}", "{}"),
        )
    store = Store(db)
    assert store.job_kind("abc") == "customization"
    Store(db)  # opening it again is a no-op


def test_names_are_scoped_per_kind() -> None:
    assert scoped("customization", "job-1") == "job-1"
    assert scoped("batch", "job-1") == "batch:job-1" and scoped("batch", None) is None


def test_each_kind_lists_and_finds_only_its_own(service: JobService) -> None:
    from tests.batch.helpers import job_body

    custom = service.create_job(job_request("shared-name")).jobArn
    batch = service.create_invocation_job(job_body("shared-name")).jobArn
    assert [j.jobArn for j in service.list_jobs().modelCustomizationJobSummaries] == [custom]
    assert [j.jobArn for j in service.list_invocation_jobs().invocationJobSummaries] == [batch]
    assert service.get_job("shared-name").jobArn == custom
    assert service.get_invocation_job("shared-name").jobArn == batch
    # The oldest live job of any kind is claimed first: the customization job, then the Submitted one.
    assert service.store.claim_job("w", 60)[0] == service.job_id(custom)
    assert service.store.claim_job("w", 60)[0] == service.invocation_job_id(batch)
