"""GRP_DATABASE_TRANSACTIONS=always: every request runs in one transaction and the department
is set for each transaction (for a proxy that pools connections by transaction).

The tenancy and row-level security tests of the default mode run here again, imported,
against an app in this mode.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from test_tenancy import (  # noqa: F401 - fixtures and tests collected again in this mode
    application_filter_off,
    test_a_rolled_back_write_leaves_the_connections_department,
    test_a_transaction_after_a_departments_one_starts_with_no_department,
    test_an_engine_connection_after_a_departments_session_holds_no_department,
    test_each_department_sees_only_its_rows,
    test_rls_all_departments_setting_opens_reading_only,
    test_rls_hides_other_departments_rows_without_the_app_filter,
    test_rls_refuses_writes_into_other_departments,
    test_rls_shows_nothing_when_no_department_is_set,
    test_system_admin_reads_across_departments_read_only_and_audited,
    two_departments,
)
from test_transactions import (  # noqa: F401
    endings,
    routes,
    test_a_request_that_only_read_commits,
    test_a_row_lock_opens_a_transaction_that_holds_it,
    test_a_sessions_writes_stay_atomic,
    test_statements_stay_prepared_across_read_only_requests,
)

from grp.models import LoginThrottle
from grp.transactions import transaction_open


@pytest.fixture
def app_config():
    return {"GRP_DATABASE_TRANSACTIONS": "always"}


@pytest.mark.postgres
def test_a_read_runs_inside_a_transaction(app, db_session):
    db_session.scalar(sa.select(sa.func.count(LoginThrottle.username)))
    assert transaction_open(db_session.connection())
    assert db_session.connection().connection.dbapi_connection.autocommit is False
    db_session.rollback()
