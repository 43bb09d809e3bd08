"""Where the tests' MariaDB is (127.0.0.1:3306, root, no password, or FINDATA_TEST_MYSQL_URL) and
`ensure_mariadb`, which installs, starts and opens the local server when it does not answer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Callable, Optional, Sequence

from findata_assets_tests.ports import port_open, wait_for_port
from findata_assets_tests.service_error import ServiceError

MARIADB_HOST = "127.0.0.1"
MARIADB_PORT = 3306
MARIADB_SERVER_URL = f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}"
MARIADBD = "/usr/sbin/mariadbd"
ENV_TEST_MYSQL_URL = "FINDATA_TEST_MYSQL_URL"  # use another server (URL without a database)


def mariadb_login_error(host: str = MARIADB_HOST, port: int = MARIADB_PORT, user: str = "root",
                        password: str = "") -> Optional[str]:
    """None when `user` can log in over TCP, else the reason."""
    import pymysql

    try:
        conn = pymysql.connect(host=host, port=port, user=user, password=password,
                               connect_timeout=3)
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    conn.close()
    return None


class MariaDBProbe:
    """Facts about the local machine that `ensure_mariadb` decides on (replaceable in tests)."""

    def __init__(self, host: str = MARIADB_HOST, port: int = MARIADB_PORT):
        self.host, self.port = host, port

    def login_error(self) -> Optional[str]:
        return mariadb_login_error(self.host, self.port)

    def port_open(self) -> bool:
        return port_open(self.host, self.port)

    def binary_exists(self) -> bool:
        return os.path.exists(MARIADBD)

    def is_root(self) -> bool:
        return os.geteuid() == 0

    def have(self, program: str) -> bool:
        return shutil.which(program) is not None

    def datadir(self) -> str:
        """From the server's option files (my_print_defaults), default /var/lib/mysql."""
        tool = shutil.which("my_print_defaults") or shutil.which("mariadb-print-defaults")
        if tool:
            try:
                out = subprocess.run([tool, "--mysqld"], capture_output=True, text=True,
                                     timeout=10).stdout
                for line in out.splitlines():
                    if line.startswith("--datadir="):
                        return line.split("=", 1)[1].strip()
            except (OSError, subprocess.SubprocessError):
                pass
        return "/var/lib/mysql"

    def datadir_initialised(self, datadir: str) -> bool:
        return os.path.isdir(os.path.join(datadir, "mysql"))


def _run_command(argv: Sequence[str], env: Optional[dict] = None, timeout_s: float = 900) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s,
                            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ServiceError(f"command failed ({result.returncode}): {' '.join(argv)}\n{tail}")


_GRANT_TCP_ROOT = ("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; "
                   "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; "
                   "FLUSH PRIVILEGES;")
_OPEN_LOCALHOST_ROOT = ("ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket "
                        "OR mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;")


def ensure_mariadb(
    host: str = MARIADB_HOST,
    port: int = MARIADB_PORT,
    *,
    install: bool = True,
    dry_run: bool = False,
    timeout_s: float = 90.0,
    probe: Optional[MariaDBProbe] = None,
    run: Callable[..., None] = _run_command,
    log: Callable[[str], None] = lambda message: print(f"[mariadb] {message}", file=sys.stderr),
) -> list[str]:
    """Make root log in over TCP on host:port without a password; return what was done.

    Already answering -> nothing. Otherwise (local server only, as root): apt-get install
    mariadb-server when /usr/sbin/mariadbd is missing, initialise the data folder if needed, start
    mariadbd with start-stop-daemon (or mysqld_safe), wait for the port, and, only for a server
    this call installed or started, allow root over TCP. A server that was already running with
    other credentials is never modified. `dry_run` logs the plan without executing anything.
    """
    probe = probe or MariaDBProbe(host, port)
    done: list[str] = []

    def step(description: str, argv: Optional[Sequence[str]] = None, **kwargs) -> None:
        done.append(description if argv is None else f"{description}: {' '.join(argv)}")
        log(("would " if dry_run else "") + done[-1])
        if argv is not None and not dry_run:
            run(argv, **kwargs)

    error = probe.login_error()
    if error is None:
        log(f"root logs in on {host}:{port}")
        return done
    already_running = probe.port_open()
    if already_running:
        raise ServiceError(
            f"a server answers on {host}:{port} but root cannot log in without a password "
            f"({error}). Give the tests a login with {ENV_TEST_MYSQL_URL}="
            f"mysql+pymysql://USER:PASSWORD@{host}:{port} (the user needs CREATE/DROP DATABASE).")
    if host not in ("127.0.0.1", "localhost") or port != MARIADB_PORT:
        raise ServiceError(f"nothing answers on {host}:{port}; only the local server on "
                           f"127.0.0.1:{MARIADB_PORT} is installed/started automatically")
    if not probe.is_root():
        raise ServiceError(f"nothing answers on {host}:{port} and this is not root, so MariaDB "
                           f"cannot be installed/started here: install mariadb-server and start "
                           f"it, or set {ENV_TEST_MYSQL_URL}")

    binary = probe.binary_exists()
    if not binary:
        if not install:
            raise ServiceError(f"{MARIADBD} is missing (install mariadb-server) and install=False")
        apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
        step("update the package lists", ["apt-get", "update"], env=apt_env)
        step("install MariaDB", ["apt-get", "install", "-y", "--no-install-recommends",
                                 "mariadb-server", "mariadb-client"], env=apt_env)
        # Debian's post-install script may already have started it.
        if not dry_run and probe.login_error() is None:
            return done

    if dry_run or not probe.port_open():
        datadir = probe.datadir()
        if dry_run or not probe.datadir_initialised(datadir):
            step(f"initialise the data folder {datadir} (when {datadir}/mysql is missing)",
                 ["mariadb-install-db", "--user=mysql", f"--datadir={datadir}", "--skip-test-db"])
        step("prepare /run/mysqld", ["install", "-d", "-o", "mysql", "-g", "mysql", "/run/mysqld"])
        server_args = ["--user=mysql", f"--datadir={datadir}", "--bind-address=127.0.0.1",
                       f"--port={MARIADB_PORT}", "--skip-name-resolve"]
        if probe.have("start-stop-daemon"):
            step("start mariadbd", ["start-stop-daemon", "--start", "--oknodo", "--background",
                                    "--exec", MARIADBD, "--", *server_args])
        else:
            step("start mariadbd (mysqld_safe)",
                 ["sh", "-c", "nohup mysqld_safe " + " ".join(server_args)
                  + " >/dev/null 2>&1 &"])
        step(f"wait up to {timeout_s:.0f}s for {host}:{port}")
        if not dry_run and not wait_for_port(host, port, timeout_s):
            raise ServiceError(
                f"mariadbd was started but {host}:{port} did not answer within {timeout_s:.0f}s; "
                f"see /var/log/mysql/error.log or {datadir}/*.err")

    if dry_run or probe.login_error() is not None:
        client = "mariadb" if probe.have("mariadb") else "mysql"
        step("let root log in over TCP from 127.0.0.1 without a password",
             [client, "--protocol=socket", "-uroot", "-e", _GRANT_TCP_ROOT])
        if not dry_run and probe.login_error() is not None:
            # A server resolving 127.0.0.1 to 'localhost' matches root@localhost instead.
            step("let root@localhost log in with an empty password too",
                 [client, "--protocol=socket", "-uroot", "-e", _OPEN_LOCALHOST_ROOT])
    if not dry_run:
        error = probe.login_error()
        if error is not None:
            raise ServiceError(f"MariaDB runs on {host}:{port} but root still cannot log in: "
                               f"{error}")
        log(f"root logs in on {host}:{port}")
    return done
