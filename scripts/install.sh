#!/usr/bin/env bash
# Installs everything msklabel needs, for the README, CI and the Dockerfile alike:
#   - Debian packages the tools and tests use (Orthanc + DICOMweb plugin, dcmtk, dicom3tools,
#     redis-server for the networked job queue, chromium for the viewer tests);
#   - playwright-core (pinned in tests/viewers/package-lock.json) into tests/viewers/node_modules,
#     with npm (Debian's nodejs + npm when no npm is found), to drive chromium in those tests;
#   - a virtual environment at <repo>/.venv holding the exact Python stack of requirements.lock
#     and msklabel itself (editable), plus the pydicom-3 compatibility hook (msklabel/compat.py).
# A second run on an installed machine checks a stamp and finishes in seconds.
#
# Environment: PYTHON (interpreter to build the venv from, default python3.11 or python3),
#              MSKLABEL_SKIP_APT=1 (don't touch Debian packages; for machines you don't own).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv="$root/.venv"
stamp_file="$venv/.msklabel-install-stamp"
debian_packages=(orthanc orthanc-dicomweb dcmtk dicom3tools redis-server chromium)
viewers="$root/tests/viewers"

say() { printf '[install] %s\n' "$*" >&2; }

missing_debian_packages() {
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || printf '%s\n' "$package"
  done
}

apt_install() {
  local missing
  mapfile -t missing < <(missing_debian_packages "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${MSKLABEL_SKIP_APT:-0}" = 1 ]; then
    say "MSKLABEL_SKIP_APT=1: not installing ${missing[*]} (tests that need them will fail)"
    return 0
  fi
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  say "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

pick_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"
      return 0
    fi
  done
  say "Python 3.11 is required (set PYTHON=/path/to/python3.11)"
  return 1
}

install_playwright() {
  local stamp="$viewers/node_modules/.msklabel-install-stamp" wanted
  wanted=$(sha256sum "$viewers/package-lock.json" | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] && return 0
  command -v npm >/dev/null || apt_install nodejs npm
  if ! command -v npm >/dev/null; then
    say "npm is missing: not installing playwright-core (the viewer tests will fail)"
    return 0
  fi
  say "installing playwright-core into $viewers/node_modules"
  (cd "$viewers" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$wanted" > "$stamp"
}

install_stamp() {
  cat requirements.lock setup.py setup.cfg pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1
}

apt_install "${debian_packages[@]}"
install_playwright

wanted=$(install_stamp)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$wanted" ]; then
  say "Python environment up to date ($venv)"
  exit 0
fi

python=$(pick_python)
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  apt_install python3-venv
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"

say "installing the pinned Python stack into $venv (first run: several minutes, ~8 GB)"
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r requirements.lock
"$venv/bin/python" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .

site_packages=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
"$venv/bin/python" -c 'import msklabel.compat as c; print(c.PTH_LINE, end="")' \
  > "$site_packages/msklabel-compat.pth"
if ! check=$("$venv/bin/python" -c 'import monailabel.app' 2>&1); then
  printf '%s\n' "$check" | tail -n 20 >&2
  say "the MONAI Label server application does not import in $venv"
  exit 1
fi

echo "$wanted" > "$stamp_file"
say "done: $venv"
