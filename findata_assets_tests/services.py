"""Command line of the test services; each service lives in its own module.

    python -m findata_assets_tests.services ensure-mariadb [--dry-run] [--no-install]
    python -m findata_assets_tests.services s3-server [--dir DIR]      # runs until Ctrl-C
    python -m findata_assets_tests.services bench-warehouse [--url URL] [--chunk-sizes 2000,5000]

run_tests.sh calls `ensure-mariadb` (mariadb_setup.py); `s3-server` runs weed_s3.py's server;
`bench-warehouse` runs bench_warehouse.py, each measurement in a fresh scratch_databases.py
database unless --url is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from findata_assets_tests.bench_warehouse import BENCH_MODES, bench_warehouse
from findata_assets_tests.mariadb_setup import ENV_TEST_MYSQL_URL, ensure_mariadb
from findata_assets_tests.scratch_databases import temporary_database
from findata_assets_tests.service_error import ServiceError
from findata_assets_tests.weed_s3 import WeedS3Server


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.services")
    sub = parser.add_subparsers(dest="command", required=True)
    ensure = sub.add_parser("ensure-mariadb", help="make sure MariaDB answers on 127.0.0.1:3306")
    ensure.add_argument("--dry-run", action="store_true", help="only print what would be done")
    ensure.add_argument("--no-install", action="store_true", help="never apt-get install")
    ensure.add_argument("--timeout", type=float, default=90.0)
    s3 = sub.add_parser("s3-server", help="run a SeaweedFS S3 server until interrupted")
    s3.add_argument("--dir", default=None)
    bench = sub.add_parser("bench-warehouse", help="rows/s storing ~74k rows over 41 tables")
    bench.add_argument("--url", default=None, help="database URL (default: a fresh test database "
                                                   "on the local MariaDB per measurement)")
    bench.add_argument("--chunk-sizes", default="1000,2000,5000")
    bench.add_argument("--modes", default="store,store_many")
    bench.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    if args.command == "ensure-mariadb":
        if os.environ.get(ENV_TEST_MYSQL_URL):
            print(f"[mariadb] {ENV_TEST_MYSQL_URL} is set; not managing the local server",
                  file=sys.stderr)
            return 0
        try:
            ensure_mariadb(install=not args.no_install, dry_run=args.dry_run,
                           timeout_s=args.timeout)
        except ServiceError as exc:
            print(f"[mariadb] ERROR: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "s3-server":
        import tempfile

        workdir = Path(args.dir or tempfile.mkdtemp(prefix="findata-weed-"))
        server = WeedS3Server(workdir).start()
        print(f"S3 endpoint {server.endpoint} (access key {server.access_key}) started in "
              f"{server.startup_seconds:.1f}s; log {server.log_path}; Ctrl-C stops it", flush=True)
        try:
            while server.alive():
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
        return 0
    if args.command == "bench-warehouse":
        for chunk in [int(c) for c in args.chunk_sizes.split(",") if c.strip()]:
            for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
                if mode not in BENCH_MODES:
                    parser.error(f"unknown mode {mode!r}; choose from {BENCH_MODES}")
                if args.url:
                    print(bench_warehouse(args.url, chunk, mode, args.repeats), flush=True)
                else:  # a fresh database per measurement: the same work each time
                    with temporary_database() as url:
                        print(bench_warehouse(url, chunk, mode, args.repeats), flush=True)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
