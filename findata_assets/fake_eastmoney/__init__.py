"""A fake of Eastmoney's fund-flow API for tests, benchmarks and the explicit offline demo."""

from findata_assets.fake_eastmoney.server import FakeEastmoneyServer
from findata_assets.fake_eastmoney.universe import Universe

__all__ = ["FakeEastmoneyServer", "Universe"]
