#!/usr/bin/env bash
# The findata test suite, as CI runs it:
#
#     bash findata_assets_tests/run_tests.sh [pytest arguments...]
#
# Works on a fresh Debian machine with Python 3.11: creates (or reuses) .venv in the repo root,
# installs the package with its test extras (again only when setup.py changed), makes sure
# MariaDB answers on 127.0.0.1:3306 for root without a password (installs and starts it, as
# root, when missing; FINDATA_TEST_MYSQL_URL points the tests at another server instead), then
# installs a CJK font for the report charts and chromium + chromium-driver for the UI test when
# missing (as root, Debian), then runs pytest over
# findata_assets_tests with a per-test timeout (pytest.ini). SeaweedFS (S3) is started by the
# tests themselves from the venv's `weed`.
#
# Exit code: pytest's. 5 ("no tests collected") is non-zero, so it is a failure; it is named.
# Environment: PYTHON (interpreter for a new venv, default python3.11), FINDATA_SKIP_INSTALL=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
VENV="$ROOT/.venv"

log() { echo "[run_tests] $*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  PYTHON="${PYTHON:-python3.11}"
  command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

stamp="$VENV/.findata-installed-$(sha256sum setup.py | cut -c1-16)"
if [ "${FINDATA_SKIP_INSTALL:-0}" != "1" ]; then
  if [ ! -f "$stamp" ] || ! "$PY" -c "import findata_assets, pytest, pytest_timeout, xdist" >/dev/null 2>&1; then
    log "pip install -e '.[test]'"
    started=$SECONDS
    "$PY" -m pip install --quiet --disable-pip-version-check -e ".[test]"
    rm -f "$VENV"/.findata-installed-*
    touch "$stamp"
    log "installed in $((SECONDS - started))s"
  fi
fi

# A CJK font, so the report charts can be tested with Chinese names (best effort: without one
# those tests skip and say why). Debian's fonts-wqy-zenhei is 7 MB.
if ! fc-list 2>/dev/null | grep -iE "wqy|noto sans cjk|source han sans" >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing fonts-wqy-zenhei (CJK font for the report charts)"
    apt-get install -y -q fonts-wqy-zenhei >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q fonts-wqy-zenhei >/dev/null 2>&1; } \
      || log "WARNING: could not install fonts-wqy-zenhei; the CJK chart tests will skip"
  else
    log "WARNING: no CJK font and not root; the CJK chart tests will skip"
  fi
fi

# Debian's chromium and chromium-driver for the UI test (test_ui.py drives the Dagster UI in a
# real headless browser); without them that test skips and says so.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing chromium and chromium-driver (the UI test)"
    started=$SECONDS
    apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
      || log "WARNING: could not install chromium/chromium-driver; the UI test will skip"
    log "chromium step took $((SECONDS - started))s"
  else
    log "WARNING: no chromium/chromium-driver and not root; the UI test will skip"
  fi
fi

# PostgreSQL (Dagster's storage in production) for the instance tests: started when installed
# but stopped; when absent those tests skip and say so.
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] && [ "$(id -u)" = 0 ]; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
      || log "WARNING: could not start PostgreSQL; its tests will skip"
  else
    log "note: no PostgreSQL on 127.0.0.1:5432; the PostgreSQL instance tests will skip"
  fi
fi

if ! "$PY" -m findata_assets_tests.services ensure-mariadb; then
  log "WARNING: MariaDB is not available; the tests that need it will fail and say why"
fi

# Default target: the whole suite, unless a test path was given.
targets=(findata_assets_tests)
for arg in "$@"; do
  if [[ "$arg" != -* && -e "${arg%%::*}" ]]; then
    targets=()
    break
  fi
done

# Parallel workers (pytest-xdist): FINDATA_TEST_WORKERS, default 3 (measured on 2 cores: most
# tests wait on subprocesses, MariaDB and SeaweedFS, so 3 beat 2 and 4 was no faster); 0 runs in
# this one process. Each worker has its own session: its own SeaweedFS on free ports, its own
# temp folders; databases and buckets are per test. Tests that share an expensive module fixture
# run on one worker (xdist_group, --dist loadgroup in pytest.ini). Not added when the arguments
# choose themselves (-n/--numprocesses, -p no:xdist) or debug (--pdb, --trace).
workers="${FINDATA_TEST_WORKERS:-3}"
parallel=(-n "$workers")
for arg in "$@"; do
  case "$arg" in
    -n|-n*|--numprocesses|--numprocesses=*|no:xdist|--pdb|--trace) parallel=() ;;
  esac
done
[ "$workers" = 0 ] && parallel=()
if [ "${#parallel[@]}" -gt 0 ]; then
  log "running on $workers workers (FINDATA_TEST_WORKERS)"
fi

# The tests start hundreds of Python processes (CLIs, daemons, code servers, run workers) that
# import findata. Where PYTHONDONTWRITEBYTECODE is set (this CI machine, many images) nothing
# caches the editable package's bytecode, and each process compiled its modules again (~0.3 s
# each). Compiled once here; a file edited later is recompiled by its mtime, as always.
"$PY" -m compileall -q -j 0 findata_assets findata_assets_tests >/dev/null \
  || log "compileall failed: the tests go on, each process compiling what it imports"

set +e
"$PY" -m pytest "${parallel[@]}" "${targets[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  log "pytest collected no tests (exit 5): that is a failure"
fi
exit "$rc"
