from __future__ import annotations

import pytest

from datacrew_resources.catalog.errors import DiscoveryError
from datacrew_resources.catalog.names import check_unique_names, dataset_name


@pytest.mark.parametrize(
    "raw, expected",
    [("Flight Delays-2013", "flight_delays_2013"), ("2013_flights", "ds_2013_flights"), ("__x__", "x")],
)
def test_dataset_names_are_snake_case(raw, expected):
    assert dataset_name(raw, source="lake", file="/lake/f.csv") == expected


@pytest.mark.parametrize("raw", ["", "-", " . "])
def test_no_name_left_is_a_discovery_error_naming_source_and_file(raw):
    with pytest.raises(DiscoveryError) as info:
        dataset_name(raw, source="lake", file="/lake/x.csv")

    assert str(info.value).startswith("/lake/x.csv: source 'lake': cannot derive a dataset name from ")


def test_first_origin_of_a_name_is_named_with_the_second():
    check_unique_names("dwh", [("a", "main.a"), ("b", "main.b")], file="/dwh.duckdb")

    with pytest.raises(DiscoveryError) as info:
        check_unique_names("dwh", [("a", "main.a"), ("b", "main.b"), ("a", "x.a")], file="/dwh.duckdb")

    assert str(info.value) == "/dwh.duckdb: source 'dwh': dataset name 'a' is used twice (main.a and x.a)"
