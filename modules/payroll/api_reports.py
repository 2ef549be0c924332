"""Payroll API: review before approval (variance, joiners/leavers/excluded) and reports.

Routes are added to the blueprints of `modules.payroll.api`.
"""

from __future__ import annotations

from modules.payroll.api import blp, me_blp  # noqa: F401
