"""ctest's entry to the Python tests: pytest over this folder, skipped (77) without pytest or numpy."""
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as missing:
    print(f"python_tests skipped: {missing.name} is not installed (Debian: python3-pytest python3-numpy)")
    sys.exit(77)

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
