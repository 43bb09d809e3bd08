"""python -m findata_assets.fake_eastmoney --port PORT [--latency-ms N] [--fault-rate F] ..."""

import argparse
import datetime as dt
import signal
import sys
import threading
import time

from findata_assets.fake_eastmoney.server import (
    EXTRA_FAULT_KINDS, FAULT_KINDS, FakeEastmoneyServer)
from findata_assets.fake_eastmoney.universe import BOARD_LAYOUTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets.fake_eastmoney",
                                     description="Serve the fake Eastmoney fund-flow API "
                                                 "(synthetic data) on GET /api/qt/clist/get.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0, help="added to every API request")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of failed requests")
    parser.add_argument("--fault-kinds", default=",".join(FAULT_KINDS),
                        help=f"comma list out of {','.join(FAULT_KINDS + EXTRA_FAULT_KINDS)} "
                             "(trickle only when named)")
    parser.add_argument("--fault-timeout-s", type=float, default=3.0,
                        help="how long a 'timeout' fault stalls (beat the client's read timeout)")
    parser.add_argument("--fault-trickle-s", type=float, default=90.0,
                        help="how long a 'trickle' fault sends its body a byte at a time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="universe size, 1 = real size")
    parser.add_argument("--frozen", action="store_true", help="values do not drift")
    parser.add_argument("--trade-date", type=dt.date.fromisoformat, default=None,
                        help="YYYY-MM-DD: serve this session whatever the calendar says "
                             "(default: the XSHG session 'today' holds at the clock)")
    parser.add_argument("--now", type=dt.datetime.fromisoformat, default=None,
                        help="a fixed clock, e.g. 2026-10-08T10:30 (Asia/Shanghai when naive)")
    parser.add_argument("--board-layout", choices=BOARD_LAYOUTS, default="current",
                        help="where 002xxx stocks are listed: current (t:6; t:13 selects "
                             "nothing, as on the real API), legacy (t:13), overlap (both)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    server = FakeEastmoneyServer(args.host, args.port, args.latency_ms, 0.0, args.seed,
                                 args.scale, args.frozen, args.trade_date,
                                 fault_timeout_s=args.fault_timeout_s,
                                 fault_trickle_s=args.fault_trickle_s,
                                 board_layout=args.board_layout)
    server.set_now(args.now)
    server.set_faults(args.fault_rate, [k for k in args.fault_kinds.split(",") if k])
    server.start()
    print(f"fake Eastmoney API (SYNTHETIC data: {len(server.universe)} securities, trade date "
          f"{server.trade_date}, built in {time.perf_counter() - started:.2f}s) listening at "
          f"{server.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
