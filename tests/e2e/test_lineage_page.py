"""`datacrew lineage KEY --columns --format html` in Chromium: a self-contained page that draws
every asset and column edge of KEY's lineage, fetches nothing, and traces a column on click."""

from __future__ import annotations

import json

from playwright.sync_api import expect

KEY = "transformed/daily_summary"  # two hops: lake/flights -> flights_clean -> daily_summary
TRACED = (KEY, "avg_dep_delay")

# Each column edge as (from "asset.column", to "asset.column"), read from the drawing.
EDGES_JS = """() => Array.from(document.querySelectorAll("path.column-edge")).map(edge => {
  const end = id => { const c = document.getElementById(id); return c.dataset.asset + "." + c.dataset.column; };
  return [end(edge.dataset.from), end(edge.dataset.to)];
})"""


def column_edges(graph: dict) -> set[tuple[str, str]]:
    return {(f"{e['from']['asset_key']}.{e['from']['column']}", f"{e['to']['asset_key']}.{e['to']['column']}")
            for e in graph["edges"] if e["type"] == "column"}


def upstream(column: str, edges: set[tuple[str, str]]) -> set[str]:
    """`column` and every column it comes from, transitively."""
    found, frontier = {column}, [column]
    while frontier:
        target = frontier.pop()
        for source, to in edges:
            if to == target and source not in found:
                found.add(source)
                frontier.append(source)
    return found


def test_lineage_page_draws_assets_and_column_edges_offline(page, e2e_home):
    html = e2e_home.artifacts / "lineage-daily_summary.html"
    e2e_home.datacrew("lineage", KEY, "--columns", "--format", "html", "--output", str(html))
    graph = json.loads(e2e_home.datacrew("lineage", KEY, "--columns", "--format", "json"))
    expected_edges = column_edges(graph)
    assert expected_edges, graph

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.route(lambda url: url != html.as_uri(), lambda route: route.abort())  # no network for the page
    page.set_viewport_size({"width": 900, "height": 580})  # the drawing's size, for the README
    page.goto(html.as_uri())

    for node in graph["nodes"]:
        asset = page.locator(f'g.asset[data-asset="{node["asset_key"]}"]')
        expect(asset).to_be_visible()
        drawn = asset.locator("g.column").evaluate_all("cs => cs.map(c => c.dataset.column)")
        assert drawn == node["columns"], node["asset_key"]
    assert page.locator("g.asset").count() == len(graph["nodes"])
    assert {tuple(e) for e in page.evaluate(EDGES_JS)} == expected_edges
    assert page.locator("path.column-edge").count() == len(expected_edges)

    # A click pins a column: it and everything it comes from light up, nothing else does.
    asset, column = TRACED
    page.locator(f'g.column[data-asset="{asset}"][data-column="{column}"]').click()
    lit = page.locator("g.column.lit").evaluate_all("cs => cs.map(c => c.dataset.asset + '.' + c.dataset.column)")
    traced = upstream(f"{asset}.{column}", expected_edges)
    assert set(lit) == traced and len(traced) > 2, lit
    expect(page.locator("#lineage-status")).to_have_text(f"{asset}.{column}: {len(traced) - 1} related columns (pinned)")
    e2e_home.screenshot(page, "column-lineage.png")
    assert requested == [html.as_uri()]  # self-contained: nothing fetched but the page itself
