"""python -m findata_assets.fake_eastmoney --port PORT [--latency-ms N] [--fault-rate F] ...

Serves the fake ranking (GET /api/qt/clist/get) and daily fund-flow klines
(GET /api/qt/stock/fflow/daykline/get) of a synthetic market; --ban-max-requests turns on the
IP-ban model (connections dropped after too many requests, for a cool-down)."""

import argparse
import datetime as dt
import signal
import sys
import threading
import time

from findata_assets.fake_eastmoney.ban import BAN_KINDS
from findata_assets.fake_eastmoney.klines import HISTORY_DAYS
from findata_assets.fake_eastmoney.server import (
    EXTRA_FAULT_KINDS, FAULT_KINDS, FakeEastmoneyServer)
from findata_assets.fake_eastmoney.universe import BOARD_LAYOUTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets.fake_eastmoney",
                                     description="Serve the fake Eastmoney fund-flow API "
                                                 "(synthetic data): the ranking on GET "
                                                 "/api/qt/clist/get, daily klines on GET "
                                                 "/api/qt/stock/fflow/daykline/get.")
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
    parser.add_argument("--history-days", type=int, default=HISTORY_DAYS,
                        help="daily kline lines kept per security")
    parser.add_argument("--kline-live-day", action="store_true",
                        help="serve the trading session's own kline line (unknown on the real API)")
    parser.add_argument("--ban-max-requests", type=int, default=None,
                        help="ban after more API requests than this within --ban-window-s "
                             "(default: no ban)")
    parser.add_argument("--ban-window-s", type=float, default=10.0)
    parser.add_argument("--ban-cooldown-s", type=float, default=60.0,
                        help="how long a ban lasts (requests during it do not extend it)")
    parser.add_argument("--ban-kind", choices=BAN_KINDS, default="drop",
                        help="drop: close the connection unanswered; empty: 200 with no body")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    server = FakeEastmoneyServer(args.host, args.port, args.latency_ms, 0.0, args.seed,
                                 args.scale, args.frozen, args.trade_date,
                                 fault_timeout_s=args.fault_timeout_s,
                                 fault_trickle_s=args.fault_trickle_s,
                                 board_layout=args.board_layout,
                                 history_days=args.history_days,
                                 kline_live_day=args.kline_live_day)
    server.set_now(args.now)
    server.set_ban(args.ban_max_requests, args.ban_window_s, args.ban_cooldown_s, args.ban_kind)
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
