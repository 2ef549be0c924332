"""The employee search's words (see modules/hr/search_words.py), kept with the employee.

Mapper events keep the words in step with every ORM insert, update and delete of an
employee, whatever service made it; bulk inserts (demo seeding) add theirs with
`modules.hr.search_words.word_rows` and the employee's name as `sort_name`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column

from grp.db import Base, TenantMixin
from modules.hr.models.employee import Employee
from modules.hr.search_words import employee_words

#: The fields an employee is found by; a change to one of them re-indexes the employee.
SEARCHED_FIELDS = ("name_en", "name_ar", "employee_no", "emirates_id")


class EmployeeSearchWord(TenantMixin, Base):
    """One folded word an employee is found by."""

    __tablename__ = "hr_employee_search_words"
    __tenancy__ = "department"
    __table_args__ = (
        # The search: a range of words of one department, answering employee ids and
        # their sort name from the index alone.
        sa.Index(
            "ix_hr_employee_search_words_department_id_word",
            "department_id",
            "word",
            "employee_id",
            "sort_name",
        ),
    )

    employee_id: Mapped[int] = mapped_column(
        sa.ForeignKey("hr_employees.id", ondelete="CASCADE"), primary_key=True
    )
    # "C" collation on PostgreSQL: byte order, so that a range is exactly "starts with"
    # whatever the database's default collation (SQLite compares bytes already).
    word: Mapped[str] = mapped_column(
        sa.String(60).with_variant(sa.String(60, collation="C"), "postgresql"),
        primary_key=True,
    )
    # The employee's name_en, on each of their words: a search sorted by name (the
    # default) then finds, counts and sorts its matches in this table's index alone,
    # reading the employee rows of one page only (`_narrow_page_statement`). Kept with
    # the words: any change to the name writes them again.
    sort_name: Mapped[str] = mapped_column(sa.String(200), server_default=sa.text("''"))


_words = EmployeeSearchWord.__table__


def _rows(target: Employee) -> list[dict[str, Any]]:
    return [
        {
            "department_id": target.department_id,
            "employee_id": target.id,
            "word": word,
            "sort_name": target.name_en,
        }
        for word in sorted(employee_words(*(getattr(target, field) for field in SEARCHED_FIELDS)))
    ]


@event.listens_for(Employee, "after_insert")
def _index_new_employee(mapper: Any, connection: sa.Connection, target: Employee) -> None:
    rows = _rows(target)
    if rows:
        connection.execute(_words.insert(), rows)


@event.listens_for(Employee, "after_update")
def _reindex_changed_employee(mapper: Any, connection: sa.Connection, target: Employee) -> None:
    state = sa.inspect(target)
    if not any(state.attrs[field].history.has_changes() for field in SEARCHED_FIELDS):
        return
    connection.execute(
        _words.delete().where(
            _words.c.department_id == target.department_id,
            _words.c.employee_id == target.id,
        )
    )
    rows = _rows(target)
    if rows:
        connection.execute(_words.insert(), rows)


@event.listens_for(Employee, "after_delete")
def _forget_deleted_employee(mapper: Any, connection: sa.Connection, target: Employee) -> None:
    # PostgreSQL cascades the foreign key; SQLite does not enforce foreign keys here.
    connection.execute(
        _words.delete().where(
            _words.c.department_id == target.department_id,
            _words.c.employee_id == target.id,
        )
    )
