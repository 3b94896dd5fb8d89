# Sourced by scripts/test and scripts/demo: make .venv at the repo root and install the project into it.
# Idempotent and quick when nothing changed (a stamp of pyproject.toml, constraints.txt and this script).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.flyteplugins-snowflake-installed"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing flyteplugins-snowflake[dev] into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip uv
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
  # Bytecode is compiled once here: with PYTHONDONTWRITEBYTECODE set (as on these machines) every new Python
  # process would otherwise compile pandas, flyte and the driver from source again (seconds per process).
  # A few packages ship files that are not Python 3 (templates, examples): those are skipped, not an error.
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  "$VENV/bin/python" -m compileall -q -j 0 "$site" >/dev/null 2>&1 || true
  echo "$want" > "$stamp"
fi
