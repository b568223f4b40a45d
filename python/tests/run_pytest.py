"""ctest's entry to the Python tests: pytest over this folder, skipped (77) without pytest or numpy."""
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as missing:
    print(f"python_tests skipped: {missing.name} is not installed (Debian: python3-pytest python3-numpy)")
    sys.exit(77)

class Outcomes:
    """Records what was skipped and why, so that a selection in which any test was skipped (its
    data, tool or oracle is absent) is reported to ctest as skipped (77), naming each, not as
    passed: a ctest entry passes only when every test it selects ran and passed."""

    def __init__(self):
        self.skipped = []

    def pytest_runtest_logreport(self, report):
        if report.skipped and report.when in ("setup", "call") and not hasattr(report, "wasxfail"):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.skipped.append(f"{report.nodeid}: {reason}")


outcomes = Outcomes()
status = pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]], plugins=[outcomes])
if status == 0 and outcomes.skipped:
    print(f"python_tests skipped: {len(outcomes.skipped)} test(s) did not run:")
    for line in outcomes.skipped:
        print(f"  {line}")
    sys.exit(77)
sys.exit(status)
