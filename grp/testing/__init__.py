"""Test support shared by the platform's and every module's tests (a pytest plugin)."""
