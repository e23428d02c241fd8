#!/usr/bin/env bash
# Creates (or reuses) the Python venv with the real OpenVoiceOS used by the interop tests.
#
#   scripts/ovos/setup-venv.sh      progress on stderr, the venv path on stdout
#
# MYCROFT_MESH_OVOS_VENV  venv directory (default: <repo>/.cache/ovos-venv)
# MYCROFT_MESH_PYTHON     Python 3.10+ interpreter to build it with (default: python3)
#
# The venv is reused while its stamp holds the sha256 of requirements.txt; otherwise it is rebuilt from scratch.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
requirements="$here/requirements.txt"
venv="${MYCROFT_MESH_OVOS_VENV:-$repo/.cache/ovos-venv}"
python="${MYCROFT_MESH_PYTHON:-python3}"
stamp="$venv/.mycroft-mesh-requirements.sha256"

say () { echo "ovos-venv: $*" >&2; }
fail () { say "FAILED: $*"; exit 1; }
trap 'fail "unexpected error at line $LINENO of $0"' ERR

sha256 () {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

want="$(sha256 "$requirements")"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
  echo "$venv"
  exit 0
fi

command -v "$python" >/dev/null || fail "'$python' not found; install Python 3.10+ or set MYCROFT_MESH_PYTHON"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || fail "'$python' is not a working Python 3.10+, which ovos-core 2.1 needs (set MYCROFT_MESH_PYTHON)"

mkdir -p "$(dirname "$venv")"
# Two test files may call this at once: the second waits, then finds the stamp.
if command -v flock >/dev/null; then
  exec 9>"$venv.lock"
  flock 9
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$venv"
    exit 0
  fi
fi

# --clear wipes the directory, so only do it to something that is a venv (or nothing yet).
if [[ -e "$venv" && ! -f "$venv/pyvenv.cfg" && -n "$(ls -A "$venv" 2>/dev/null)" ]]; then
  fail "$venv exists and is not a venv; refusing to overwrite it (set MYCROFT_MESH_OVOS_VENV elsewhere)"
fi

say "building $venv with $("$python" --version 2>&1) (first time: about a minute, more on a slow link)"
"$python" -m venv --clear "$venv" || fail "python -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"

say "installing $(grep -c '==' "$requirements") pinned packages from PyPI"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off -r "$requirements" >&2 \
  || fail "pip install -r $requirements did not succeed (see pip's output above)"

for tool in ovos-messagebus ovos-core; do
  [[ -x "$venv/bin/$tool" ]] || fail "$venv/bin/$tool missing after install"
done
# pip check, not an import: importing ovos_config writes into the caller's ~/.config and ~/.local/state.
"$venv/bin/python" -m pip check --disable-pip-version-check >&2 || fail "the installed packages are inconsistent (pip check)"

echo "$want" > "$stamp"
say "ready"
echo "$venv"
