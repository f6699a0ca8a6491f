"""The Dagster UI of the running platform in headless Chromium, as a user opening `dagster dev`
meets it: the asset graph and a transformation's asset page show the assets."""

from __future__ import annotations

from collections import Counter
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from .conftest import E2EHome, FinishedRun, wait_until_quiet
from .dagster_dev import LOCATION, DagsterDev
from .queries import ASSET_NODES, LATEST_MATERIALIZATION

PAGE_ASSET = "transformed/daily_summary"  # materialized once, by the transformation job
# The graph drawn top-down (the UI's own setting, Alt+O): the whole platform fits one window.
VERTICAL = "window.localStorage.setItem('asset-graph-direction', JSON.stringify('vertical'))"
NAME = '[class*="AssetNode_assetName"]'  # an asset's name in a graph node
MATERIALIZED = '[style*="--minimal-bg: var(--color-background-green)"]'  # a node of the zoomed-out graph


@pytest.fixture(scope="module")
def ui(platform: DagsterDev, e2e_home: E2EHome, transformation_run: FinishedRun,
       scheduled_requests: dict[str, str]) -> DagsterDev:
    """The UI once the transformations are materialized and nothing runs any more (the pages then
    show settled states), without the first-visit "Join the Dagster community" dialog (shown on
    loopback addresses; its Skip button sends this mutation)."""
    wait_until_quiet(platform, e2e_home)
    platform.graphql("mutation { setNuxSeen }")
    return platform


@pytest.fixture
def off_site(page, ui: DagsterDev) -> list[str]:
    """Requests the page makes anywhere but the webserver (the UI must need nothing else)."""
    found: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((ui.url, "blob:", "data:")) else found.append(r.url))
    return found


def asset_keys(ui: DagsterDev) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in ui.graphql(ASSET_NODES)["assetNodes"]}


def test_global_asset_graph_shows_every_asset(page, ui, off_site, e2e_home: E2EHome):
    nodes = asset_keys(ui)
    groups = sorted({n["groupName"] for n in nodes.values()})
    expanded = ",".join(f"global@global:{group}" for group in groups)  # what "Expand all groups" writes
    page.add_init_script(VERTICAL)
    page.goto(f"{ui.url}/asset-groups?expanded={quote(expanded)}")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    names = page.locator(f"svg {NAME}")
    expect(names).to_have_count(len(nodes))
    assert Counter(names.all_inner_texts()) == Counter(key.rsplit("/", 1)[1] for key in nodes)
    # Once the live data is in, each materialized asset is drawn green: every transformation.
    expect(page.locator(MATERIALIZED)).to_have_count(sum(n["isMaterializable"] for n in nodes.values()))
    e2e_home.screenshot(page, "asset-graph.png")
    assert off_site == []


def test_transformed_group_shows_each_transformation_materialized(page, ui, off_site, e2e_home: E2EHome):
    transformations = sorted(k.rsplit("/", 1)[1] for k, n in asset_keys(ui).items() if n["groupName"] == "transformed")
    page.add_init_script(VERTICAL)
    page.goto(f"{ui.url}/locations/{LOCATION}/asset-groups/transformed")
    names = page.locator(f"svg {NAME}")
    expect(names).to_have_count(len(transformations))
    assert sorted(names.all_inner_texts()) == transformations
    # Each node's status row, once loaded, says the asset was materialized.
    expect(page.get_by_text("Materialized", exact=True)).to_have_count(len(transformations))
    e2e_home.screenshot(page, "asset-group-transformed.png")
    assert off_site == []


def test_transformation_asset_page_shows_its_description_columns_and_row_count(
        page, ui, off_site, e2e_home: E2EHome, transformation_run: FinishedRun):
    home = e2e_home.home
    [spec] = [l.spec for l in home.load_specs(home.load_config()) if l.spec.key_string == PAGE_ASSET]
    answer = ui.graphql(LATEST_MATERIALIZATION, {"key": {"path": spec.asset_key}})["assetOrError"]
    [latest] = answer["assetMaterializations"]
    assert latest["runId"] == transformation_run.run_id
    [row_count] = [e["intValue"] for e in latest["metadataEntries"] if e["label"] == "dagster/row_count"]

    page.goto(f"{ui.url}/assets/{PAGE_ASSET}")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    expect(page.get_by_text(spec.description.strip()).first).to_be_visible()
    for column in spec.target_schema.columns:
        expect(page.get_by_role("cell", name=column.name, exact=True).first).to_be_visible()
    expect(page.get_by_text(f"{row_count:,}", exact=True).first).to_be_visible()
    e2e_home.screenshot(page, "asset-daily_summary.png")
    assert off_site == []
