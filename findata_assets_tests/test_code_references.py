"""Issue 21: every asset links to its code: the file and line of its function, and with the
repository known (FINDATA_CODE_URL, or the checkout's origin remote) that line on the web."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from findata_assets.defs.code_references import _origin_url
from findata_assets.defs.location import build_definitions
from findata_assets.settings import SettingsError, load

ENV = {"FINDATA_PARTITIONS_START": "2026-11-02"}


def _references(defs: dg.Definitions) -> dict[str, list]:
    graph = defs.get_repository_def().asset_graph
    out = {}
    for key in graph.get_all_asset_keys():
        metadata = defs.get_assets_def(key).specs_by_key[key].metadata
        out[key.to_user_string()] = metadata["dagster/code_references"].code_references
    return out


def test_every_asset_points_at_the_line_that_defines_it(tmp_path):
    references = _references(build_definitions({**ENV, "FINDATA_HOME": str(tmp_path)}))
    assert len(references) >= 10
    for asset, [reference] in references.items():
        if hasattr(reference, "url"):  # this checkout has an origin remote: linked to it
            assert "#L" in reference.url, (asset, reference)
            continue
        lines = Path(reference.file_path).read_text(encoding="utf-8").splitlines()
        near = "\n".join(lines[reference.line_number - 3:reference.line_number + 3])
        assert "def " in near or "dg.asset" in near, (asset, reference, near)


def test_with_the_repository_configured_the_links_open_it_on_the_web(tmp_path):
    references = _references(build_definitions({
        **ENV, "FINDATA_HOME": str(tmp_path),
        "FINDATA_CODE_URL": "https://github.com/example/findata", "FINDATA_CODE_BRANCH": "prod"}))
    [stock] = references["stock_flow"]
    assert stock.url.startswith("https://github.com/example/findata/tree/prod/"
                                "findata_assets/defs/eastmoney/assets.py#L")
    with pytest.raises(SettingsError, match="FINDATA_CODE_URL must be the repository's web URL"):
        load({**ENV, "FINDATA_CODE_URL": "git@github.com:example/findata.git"})


@pytest.mark.parametrize("remote, url", [
    ("git@github.com:example/findata.git", "https://github.com/example/findata"),
    ("ssh://git@gitlab.com/team/findata.git", "https://gitlab.com/team/findata"),
    ("https://user:token@github.com/example/findata.git", "https://github.com/example/findata"),
    ("/srv/git/findata.git", None),
])
def test_the_origin_remote_becomes_a_web_url_without_credentials(tmp_path, remote, url):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(f'[remote "origin"]\n\turl = {remote}\n')
    assert _origin_url(tmp_path) == url
