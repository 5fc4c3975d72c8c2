"""The package promises: a light import, and CI running the README's test command."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_import_is_light():
    code = "import sys, lorentz; print([m for m in ('torch', 'jax', 'numba', 'triton') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```\n(.*?)\n```", readme, flags=re.S)
    test_cmd = [b for b in blocks if "pytest" in b]
    assert len(test_cmd) == 1
    assert test_cmd[0] in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "torch==2.13.0" in test_cmd[0]


def test_check_command_runs_and_passes():
    from lorentz._selfcheck import main

    assert main(["--samples", "6"]) == 0


def test_check_command_needs_no_hypothesis():
    """The main command installs the ``check`` extra (mpmath), not hypothesis."""
    code = (
        "import sys; sys.modules['hypothesis'] = None; "
        "from lorentz._selfcheck import main; sys.exit(main(['--samples', '3']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
