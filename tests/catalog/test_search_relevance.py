"""BM25F and the tokeniser, against figures computed by hand."""

from __future__ import annotations

import math

import pytest

from datacrew_resources.catalog.relevance import BM25F, normalised, tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dep_delay", ["dep", "delay"]),
        ("depDelay", ["dep", "delay"]),
        ("HTTPServerLogs", ["http", "server", "log"]),
        ("year2013 Q4", ["year", "2013", "q", "4"]),
        ("Flights, class & bus-stops", ["flight", "class", "bus", "stop"]),
        ("données_météo", ["donnée", "météo"]),
    ],
)
def test_tokens_split_case_and_separators_and_drop_a_plural_s(text, expected):
    assert tokens(text) == expected


# Three one-field documents; mean length (2 + 1 + 3) / 3 = 2.
CORPUS = [{"name": ["flight", "delay"]}, {"name": ["flight"]}, {"name": ["weather", "station", "reading"]}]


def test_bm25_single_field_by_hand():
    index = BM25F(CORPUS, {"name": 1.0})

    # delay: in 1 of 3 documents -> idf = ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln(8/3) = 0.980829.
    # Document 0 has the mean length, so its norm is 1 and tf 1 saturates to 1 * 2.2 / 2.2 = 1.
    assert index.idf("delay") == pytest.approx(0.980829, abs=1e-6)
    assert index.scores(["delay"]) == pytest.approx([0.980829, 0.0, 0.0], abs=1e-6)
    # flight: in 2 of 3 -> idf = ln(1 + 1.5 / 2.5) = ln(1.6) = 0.470004.
    # Document 1 is half the mean length: norm = 0.25 + 0.75 * 1/2 = 0.625, tf~ = 1 / 0.625 = 1.6,
    # saturated 1.6 * 2.2 / (1.2 + 1.6) = 1.257143, score 0.470004 * 1.257143 = 0.590862.
    assert index.scores(["flight"]) == pytest.approx([0.470004, 0.590862, 0.0], abs=1e-6)
    # Terms add up; a repeated query term counts once; unknown terms add nothing.
    both = index.scores(["flight", "delay", "delay", "zeppelin"])
    assert both == pytest.approx([0.470004 + 0.980829, 0.590862, 0.0], abs=1e-6)
    # Normalised by the best: 0.590862 / 1.450833 = 0.407257.
    assert normalised(both) == pytest.approx([1.0, 0.407257, 0.0], abs=1e-6)


def test_bm25f_weights_and_normalises_each_field():
    documents = [
        {"name": ["flight"], "columns": ["carrier", "delay"]},
        {"name": ["delay"], "columns": ["carrier"]},
    ]
    index = BM25F(documents, {"name": 3.0, "columns": 2.0})

    # delay in both documents: idf = ln(1 + 0.5 / 2.5) = ln(1.2) = 0.182322.
    # Document 0, a column: mean column length 1.5, norm = 0.25 + 0.75 * 2/1.5 = 1.25,
    #   tf~ = 2 * 1 / 1.25 = 1.6 -> saturated 1.257143 -> 0.229205.
    # Document 1, its name: norm 1, tf~ = 3 -> saturated 3 * 2.2 / 4.2 = 1.571429 -> 0.286506.
    assert index.weighted_frequency(0, "delay") == pytest.approx(1.6)
    assert index.weighted_frequency(1, "delay") == pytest.approx(3.0)
    assert index.scores(["delay"]) == pytest.approx([0.229205, 0.286506], abs=1e-6)
    assert index.scores(["delay"]) == pytest.approx(
        [math.log(1.2) * 1.6 * 2.2 / 2.8, math.log(1.2) * 3 * 2.2 / 4.2]
    )


def test_empty_corpus_and_empty_fields_score_nothing():
    assert BM25F([], {"name": 1.0}).scores(["x"]) == []
    index = BM25F([{"name": ["x"]}, {"name": ["y"]}], {"name": 1.0, "description": 1.0})
    assert index.scores(["x"]) == pytest.approx([math.log(1 + 1.5 / 1.5), 0.0])
    assert normalised([0.0, 0.0]) == [0.0, 0.0]
