"""`datacrew lineage --format mermaid|dot|json|html`: table and column lineage drawn across the demo graph."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from datacrew_assets.cli import main
from datacrew_assets.lineage_render import AssetNode, ColumnEdge, LineageView, render_dot, render_html, render_mermaid
from datacrew_resources.catalog.store import CatalogStore

# (source asset, source column, delays_by_carrier column, kind); `flights` is count(*), made of no column.
DELAYS_BY_CARRIER = {
    ("lake/flights", "carrier", "carrier", "identity"),
    ("warehouse/airlines", "name", "name", "identity"),
    ("lake/flights", "dep_delay", "avg_dep_delay", "aggregated"),
    ("lake/flights", "arr_delay", "avg_arr_delay", "aggregated"),
}
TARGET = "transformed/delays_by_carrier"


def _draw(capsys, home, *args: str) -> tuple[int, str, str]:
    code = main(["lineage", *args, "--home", str(home.root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _json_graph(capsys, home, *args: str) -> dict:
    code, out, err = _draw(capsys, home, *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def _column_edges(graph: dict) -> set[tuple[str, str, str, str, str]]:
    return {(e["from"]["asset_key"], e["from"]["column"], e["to"]["asset_key"], e["to"]["column"], e["kind"])
            for e in graph["edges"] if e["type"] == "column"}


def test_json_of_one_transformation_has_its_sources_and_exact_column_edges(home, capsys):
    graph = _json_graph(capsys, home, TARGET, "--columns")
    assert graph["root"] == TARGET
    assert [(n["asset_key"], n["kind"], n["depth"]) for n in graph["nodes"]] == [
        ("lake/flights", "discovered", 0), ("warehouse/airlines", "discovered", 0), (TARGET, "transformation", 1)]
    [target] = [n for n in graph["nodes"] if n["asset_key"] == TARGET]
    assert target["columns"] == ["carrier", "name", "flights", "avg_dep_delay", "avg_arr_delay"]
    [airlines] = [n for n in graph["nodes"] if n["asset_key"] == "warehouse/airlines"]
    assert airlines["columns"] == ["carrier", "name"]  # a discovered dataset's columns, from the catalog
    assert [(e["from"], e["to"]) for e in graph["edges"] if e["type"] == "table"] == [
        ("lake/flights", TARGET), ("warehouse/airlines", TARGET)]
    assert _column_edges(graph) == {(s, sc, TARGET, tc, kind) for s, sc, tc, kind in DELAYS_BY_CARRIER}


def test_whole_graph_spans_every_discovered_dataset_and_transformation(home, capsys):
    graph = _json_graph(capsys, home, "--all")
    specs = {f"transformed/{p.stem}" for p in (home.root / "specs").glob("*.yaml")}
    discovered = {r.key_string for r in CatalogStore(home.catalog_path).all()}
    nodes = {n["asset_key"]: n for n in graph["nodes"]}
    assert graph["root"] is None
    assert set(nodes) == specs | discovered
    assert {k for k, n in nodes.items() if n["kind"] == "discovered"} == discovered
    assert nodes["transformed/flights_clean"]["depth"] == 1
    assert nodes["transformed/daily_summary"]["depth"] == 2
    edges = _column_edges(graph)
    # the chain avg_dep_delay <- flights_clean.dep_delay <- lake/flights.dep_delay, one hop per edge
    assert ("transformed/flights_clean", "dep_delay", "transformed/daily_summary", "avg_dep_delay",
            "aggregated") in edges
    assert ("lake/flights", "dep_delay", "transformed/flights_clean", "dep_delay", "cast") in edges
    assert {e for e in edges if e[2] == TARGET} == {(s, sc, TARGET, tc, k) for s, sc, tc, k in DELAYS_BY_CARRIER}
    # every column edge joins columns the nodes list
    assert all(sc in nodes[s]["columns"] and tc in nodes[t]["columns"] for s, sc, t, tc, _ in edges)
    assert _json_graph(capsys, home) == graph  # no KEY: the whole graph too


def test_key_with_a_direction_draws_only_that_side(home, capsys):
    code, out, err = _draw(capsys, home, "transformed/flights_clean", "--upstream", "--format", "mermaid")
    assert code == 0, err
    titles = re.findall(r'^  subgraph \w+\["(.*)"\]$', out, re.M)
    assert titles == ["lake/flights", "transformed/flights_clean"]
    code, out, err = _draw(capsys, home, "transformed/flights_clean", "--downstream", "--format", "mermaid")
    assert code == 0, err
    titles = re.findall(r'^  subgraph \w+\["(.*)"\]$', out, re.M)
    assert titles == ["transformed/flights_clean", "transformed/daily_summary", "transformed/flights_weather",
                      "transformed/route_stats"]


MERMAID_LINE = re.compile(
    r'^(flowchart LR|  subgraph (?P<asset_id>\w+)\["(?P<asset>[^"]*)"\]|    (?P<column_id>\w+)\["(?P<column>[^"]*)"\]'
    r'|  end|  style \w+ fill:#\w+,stroke:#\w+|  (?P<source>\w+) --> (?P<target>\w+)|  \w+ -\.-> \w+)$')


def test_mermaid_parses_into_exactly_the_column_edges(home, capsys):
    code, out, err = _draw(capsys, home, TARGET, "--columns", "--format", "mermaid")
    assert code == 0, err
    names, asset, edges = {}, None, set()
    for line in out.splitlines():
        match = MERMAID_LINE.match(line)
        assert match, f"not Mermaid we write: {line!r}"
        if match["asset_id"]:
            asset = match["asset"]
        elif match["column_id"]:
            names[match["column_id"]] = (asset, match["column"])
        elif match["source"]:
            edges.add((*names[match["source"]], *names[match["target"]]))
    assert out.count("  subgraph ") == out.count("\n  end\n") == 3
    assert edges == {(s, sc, TARGET, tc) for s, sc, tc, _ in DELAYS_BY_CARRIER}


DOT_NODE = re.compile(r"^  (\w+) \[label=<(.*)>\];$")
DOT_EDGE = re.compile(r'^  (\w+):(\w+):e -> (\w+):(\w+):w \[tooltip="(\w+)"\];$')


def test_dot_has_a_port_per_column_and_exactly_the_port_edges(home, capsys, tmp_path):
    output = tmp_path / "lineage.dot"
    code, out, err = _draw(capsys, home, TARGET, "--columns", "--format", "dot", "--output", str(output))
    assert (code, out, err) == (0, "", "")
    lines = output.read_text().splitlines()
    assert lines[0] == "digraph lineage {" and lines[-1] == "}"
    ports, edges = {}, set()
    for line in lines[1:-1]:
        if node := DOT_NODE.match(line):
            table = ET.fromstring(node[2])  # the HTML-like label is well-formed markup
            title = table.find("TR/TD/B").text
            for cell in table.iter("TD"):
                if "PORT" in cell.attrib:
                    ports[(node[1], cell.attrib["PORT"])] = (title, cell.text)
        elif edge := DOT_EDGE.match(line):
            edges.add((*ports[(edge[1], edge[2])], *ports[(edge[3], edge[4])], edge[5]))
        else:
            assert re.match(r"^  (graph|node|edge) \[.*\];$", line), line
    assert len({p[0] for p in ports}) == 3
    assert sorted(c for (a, c), (t, _) in ports.items() if t == TARGET) == ["c0", "c1", "c2", "c3", "c4"]
    assert edges == {(s, sc, TARGET, tc, k) for s, sc, tc, k in DELAYS_BY_CARRIER}


class _Elements(HTMLParser):
    """Every start tag's attributes, and any URL-bearing attribute."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_is_one_self_contained_page_with_every_asset_and_column(home, capsys, tmp_path):
    graph = _json_graph(capsys, home, "--all")
    output = tmp_path / "lineage.html"
    code, out, err = _draw(capsys, home, "--all", "--format", "html", "--output", str(output))
    assert (code, out, err) == (0, "", "")
    page = output.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "http" not in page.lower() and "url(" not in page and "@import" not in page
    parsed = _Elements()
    parsed.feed(page)
    assert not [a for _, attrs in parsed.tags for a in attrs if a in ("src", "href", "xlink:href")]
    assert [t for t, _ in parsed.tags if t in ("link", "img", "iframe", "object", "embed")] == []
    assets = [a["data-asset"] for t, a in parsed.tags if "asset" in a.get("class", "").split()]
    assert assets == [n["asset_key"] for n in graph["nodes"]]
    columns = [(a["data-asset"], a["data-column"]) for t, a in parsed.tags if a.get("class") == "column"]
    assert columns == [(n["asset_key"], c) for n in graph["nodes"] for c in n["columns"]]
    ids = {a["id"]: (a["data-asset"], a["data-column"]) for t, a in parsed.tags if a.get("class") == "column"}
    drawn = {(*ids[a["data-from"]], *ids[a["data-to"]], a["data-kind"])
             for t, a in parsed.tags if t == "path" and "column-edge" in a["class"]}
    assert drawn == _column_edges(graph)


def test_bad_input_is_one_line_and_exit_2(home, capsys, tmp_path):
    cases = [
        (["lake/nothing", "--format", "mermaid"], "KEY: 'lake/nothing': no such asset"),
        ([TARGET, "--columns", "--format", "svg"],
         "--format: 'svg': unknown format (known: text, mermaid, dot, json, html)"),
        ([TARGET, "--all", "--format", "dot"], f"KEY: '{TARGET}': give KEY or --all, not both"),
        (["--all"], "--format: 'text': the whole graph is drawn as mermaid, dot, json or html; text needs KEY"),
        # a long value is shortened in the message, so only its start is checked
        ([TARGET, "--format", "html", "--output", str(tmp_path / "missing" / "lineage.html")],
         f"--output: '{str(tmp_path)[:40]}"),
    ]
    for args, message in cases:
        code, out, err = _draw(capsys, home, *args)
        assert (code, out) == (2, ""), args
        assert len(err.splitlines()) == 1 and err.startswith(f"datacrew: {message}"), err
    assert err.rstrip().endswith(": cannot write: No such file or directory")
    assert not (tmp_path / "missing").exists()


def test_labels_are_escaped_in_every_syntax():
    odd = 'a"b<c>#d&e'
    view = LineageView(
        root=None,
        assets=(AssetNode("lake/x", False, 0, (odd,)), AssetNode("transformed/y", True, 1, ("z", "w"))),
        table_edges=(("lake/x", "transformed/y"),),
        column_edges=(ColumnEdge("lake/x", odd, "transformed/y", "z", "derived"),),
    )
    mermaid = render_mermaid(view)
    assert '    a0_c0["a#quot;b#lt;c#gt;#35;d&e"]' in mermaid.splitlines()
    assert "  a0_c0 --> a1_c0" in mermaid.splitlines()
    assert "-.->" not in mermaid  # the table edge is drawn by its column edge
    dot = render_dot(view)
    assert '<TD PORT="c0" ALIGN="LEFT">a&quot;b&lt;c&gt;#d&amp;e</TD>' in dot
    html = render_html(view)
    assert 'data-column="a&quot;b&lt;c&gt;#d&amp;e"' in html and odd not in html
    # a source read for no column keeps its table edge, dashed
    bare = LineageView(root=None, assets=view.assets, table_edges=view.table_edges, column_edges=())
    assert "  a0 -.-> a1" in render_mermaid(bare).splitlines()
    assert "  a0 -> a1 [style=dashed];" in render_dot(bare).splitlines()
    assert 'class="edge table-edge"' in render_html(bare)
