"""The README's Python snippets run as written: each ```python block of README.md runs in a fresh
interpreter, in a folder where the repository's relative paths (examples/models/...) resolve as
they do in the repository's root, with nothing defined beforehand."""

import os
import re
import subprocess
import sys

import pytest

from conftest import SOURCE_DIR

README = SOURCE_DIR / "README.md"


def python_blocks():
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_readme_has_python_snippets():
    assert python_blocks(), f"{README}: no ```python block (the test below would check nothing)"


@pytest.mark.parametrize("number", range(len(python_blocks())))
def test_readme_python_snippet_runs_as_written(number, tmp_path):
    # The repository's root as the snippet sees it, but files it writes land in tmp_path.
    for entry in ("examples",):
        os.symlink(SOURCE_DIR / entry, tmp_path / entry)
    snippet = python_blocks()[number]
    (tmp_path / "snippet.py").write_text(snippet, encoding="utf-8")
    done = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"README.md's python block {number + 1} failed:\n{snippet}\n{done.stderr[-3000:]}"
