import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_clean():
    ruff = shutil.which("ruff")
    assert ruff, "ruff is part of the [test] extras"
    p = subprocess.run([ruff, "check", "-q", str(ROOT)], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
