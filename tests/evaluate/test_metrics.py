from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.evaluate.metrics import (
    cost_per_1k_queries,
    exact_match,
    field_errors,
    fuzzy_match,
    mean,
    percentile,
)
from stillhouse.evaluate.prices import DEFAULT_PRICES, ModelPrice, PriceTable, load_prices


@pytest.mark.parametrize(
    "values", [[5.0], [1.0, 2.0], [3, 1, 2, 10, 7], list(np.random.default_rng(0).exponential(100, 37))]
)
@pytest.mark.parametrize("q", [0, 5, 50, 95, 100])
def test_percentile_matches_numpy_linear(values, q):
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_known_values_and_edges():
    latencies = [10.0, 20.0, 30.0, 40.0, 1000.0]
    assert percentile(latencies, 50) == 30.0
    assert percentile(latencies, 95) == pytest.approx(40.0 + 0.8 * 960.0)
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_mean_skips_unmeasurable_values():
    assert mean([1.0, None, 3.0, math.nan]) == 2.0
    assert mean([None]) is None


def test_exact_and_fuzzy_match():
    assert exact_match(" a b ", "a b") == 1.0
    assert exact_match("a", "b") == 0.0
    assert fuzzy_match("abcd", "abcd") == 1.0
    assert fuzzy_match("abcd", "abce") == pytest.approx(0.75)
    assert fuzzy_match("", "") == 1.0
    assert fuzzy_match("xyz", "abc") == 0.0


def test_field_errors_only_compares_numbers_both_sides_have():
    pred = {"visual": 0.5, "audio": "loud", "metadata": 0.1, "reasoning": "x"}
    ref = {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "y"}
    assert field_errors(pred, ref) == pytest.approx({"visual": 0.2, "metadata": 0.0})
    assert field_errors(None, ref) == {}


def test_cost_per_1k_queries_from_token_prices():
    price = ModelPrice(match="m", input_per_1k=0.000035, output_per_1k=0.00014)
    costs = [price.query_cost(200, 50, 0.5), price.query_cost(100, 30, 0.5)]
    # mean query: 150 in, 40 out -> 0.15*0.000035 + 0.04*0.00014 = 1.085e-5 per query
    assert cost_per_1k_queries(costs) == pytest.approx(1000 * 1.085e-5)
    assert cost_per_1k_queries([]) is None


def test_hourly_price_charges_measured_time():
    price = ModelPrice(match="local", input_per_1k=0.0, output_per_1k=0.0, per_hour=3.6)
    assert price.query_cost(100, 100, seconds=2.0) == pytest.approx(0.002)


def test_lookup_is_ordered_glob_and_case_insensitive():
    table = PriceTable(
        models=[
            ModelPrice(match="*nova-micro*", input_per_1k=1, output_per_1k=2),
            ModelPrice(match="*", input_per_1k=0, output_per_1k=0),
        ]
    )
    assert table.lookup("student", "bedrock:amazon.Nova-Micro-v1:0").input_per_1k == 1
    assert table.lookup("smollm2-135m").match == "*"
    assert PriceTable(models=[]).lookup("x") is None


def test_default_table_ships_the_seed_nova_micro_price(stillhouse_home):
    table = load_prices()
    assert table.source_path == str(DEFAULT_PRICES)
    nova = table.lookup("amazon.nova-micro-v1:0")
    assert (nova.input_per_1k, nova.output_per_1k) == (0.000035, 0.00014)


def test_user_table_overrides(tmp_path, stillhouse_home):
    stillhouse_home.mkdir(parents=True)
    (stillhouse_home / "prices.json").write_text(
        json.dumps({"models": [{"match": "*", "input_per_1k": 9, "output_per_1k": 9}]})
    )
    assert load_prices().lookup("anything").input_per_1k == 9
    explicit = tmp_path / "p.json"
    explicit.write_text(json.dumps({"currency": "EUR", "models": []}))
    assert load_prices(explicit).currency == "EUR"


def test_bad_price_tables_are_refused_with_the_path(tmp_path):
    with pytest.raises(NotFoundError):
        load_prices(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": [{"match": "*", "input_per_1k": -1, "output_per_1k": 0}]}))
    with pytest.raises(InvalidInputError, match="bad.json"):
        load_prices(bad)


def test_core_hour_price_charges_measured_core_seconds():
    price = ModelPrice(match="local", input_per_1k=0.0, output_per_1k=0.0, per_core_hour=0.036)
    assert price.query_cost(100, 100, seconds=5.0, core_seconds=2.0) == pytest.approx(0.00002)
    assert price.query_cost(100, 100, seconds=5.0) == 0.0  # core time not measured: not guessed


def test_a_local_model_is_shown_beside_the_bedrock_model_it_stands_in_for():
    from stillhouse.evaluate.prices import stand_in

    nova = ModelPrice(match="*nova-micro*", input_per_1k=0.000035, output_per_1k=0.00014)
    local = ModelPrice(match="*", input_per_1k=0, output_per_1k=0, stands_in_for="amazon.nova-micro-v1:0")
    table = PriceTable(models=[nova, local])
    assert stand_in(table, local) is nova
    assert stand_in(table, nova) is None  # names no stand-in
    unknown = local.model_copy(update={"stands_in_for": "some.other-model"})
    assert stand_in(table, unknown) is None  # the catch-all is not a Bedrock price


def test_the_default_table_prices_local_compute_and_names_its_stand_in(stillhouse_home):
    from stillhouse.evaluate.prices import stand_in

    table = load_prices()
    local = table.lookup("smollm2-135m")
    assert local.per_core_hour and local.per_core_hour > 0
    assert stand_in(table, local).match == "*nova-micro*"
