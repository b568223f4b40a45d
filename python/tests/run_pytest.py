"""ctest's entry to the Python tests: pytest over this folder, skipped (77) without pytest or numpy."""
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as missing:
    print(f"python_tests skipped: {missing.name} is not installed (Debian: python3-pytest python3-numpy)")
    sys.exit(77)

class Outcomes:
    """Counts what ran, so that a selection whose every test was skipped (its data or tool is
    absent) is reported to ctest as skipped (77), not as passed."""

    def __init__(self):
        self.ran = self.skipped = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.skipped):
            self.ran += 1
            self.skipped += report.skipped


outcomes = Outcomes()
status = pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]], plugins=[outcomes])
sys.exit(77 if status == 0 and outcomes.ran and outcomes.ran == outcomes.skipped else status)
