"""The public plugin, for side-by-side figures: a separate venv at `benchmarks/.venv-public`, never our `.venv`.

`python benchmarks/_public.py` creates it (idempotent). The benchmarks run the public plugin only through
that venv's interpreter, in subprocesses, against the same local Snowflake as ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "benchmarks" / ".venv-public"
PYTHON = VENV / "bin" / "python"
#: What is compared against. fakesnow's pin keeps the driver below 5, which the local Snowflake needs.
REQUIREMENTS = ("flyteplugins-snowflake==2.12.1", "fakesnow[server]==0.12.1", "pandas")
_STAMP = VENV / ".installed"


def _uv() -> str:
    here = Path(sys.executable).parent / "uv"
    found = here if here.exists() else shutil.which("uv")
    if not found:
        raise SystemExit("uv is needed to build the public plugin's venv: pip install uv")
    return str(found)


def ensure_public_venv(*, quiet: bool = True) -> Path:
    """Create `benchmarks/.venv-public` with the public plugin (once); returns its python."""
    want = "\n".join(REQUIREMENTS)
    if PYTHON.exists() and _STAMP.exists() and _STAMP.read_text() == want:
        return PYTHON
    uv = _uv()
    base = sys.base_prefix + "/bin/python3"
    q = ["-q"] if quiet else []
    subprocess.run([uv, "venv", *q, "--allow-existing", "--python", base, str(VENV)], check=True)
    # --compile-bytecode: what `pip install` does by default, so import times are those a user sees.
    subprocess.run(
        [uv, "pip", "install", *q, "--compile-bytecode", "--python", str(PYTHON), *REQUIREMENTS],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )
    _STAMP.write_text(want)
    return PYTHON


if __name__ == "__main__":
    print(ensure_public_venv(quiet=False))
