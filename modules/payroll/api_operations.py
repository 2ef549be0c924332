"""Payroll API: one-off inputs, posting and marking runs paid.

Routes are added to the blueprints of `modules.payroll.api`.
"""

from __future__ import annotations

from modules.payroll.api import blp, me_blp  # noqa: F401
