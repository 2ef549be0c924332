"""Payroll API: PDF payslips (one, my own, a whole run as ZIP or one merged PDF).

Routes are added to the blueprints of `modules.payroll.api`.
"""

from __future__ import annotations

from modules.payroll.api import blp, me_blp  # noqa: F401
