"""Payroll module (in progress: the formula language only; no manifest yet, so not loaded)."""
