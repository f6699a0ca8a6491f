"""The dagster.yaml a home's datacrew.yaml generates: storage, run queue, per-agent limits, pools."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import yaml

from datacrew_assets.cli import main
from datacrew_assets.definitions import build_definitions
from datacrew_resources.config import ConfigError, ConfigErrors, Home
from datacrew_resources.delegation.gate import run_tags
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.demo_home import install_templates
from datacrew_resources.environment import prepare_environment
from datacrew_resources.instance import STORAGE_URL_ENV, instance_settings, write_instance_yaml

from .conftest import set_section

URL = "postgresql://dagster:s3cret@db.example:5432/dagster"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    """The demo's datacrew.yaml and specs (no sources: nothing here reads them)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.delenv(STORAGE_URL_ENV, raising=False)
    home = Home(tmp_path)
    install_templates(home)
    return home


def settings(home: Home, env: dict[str, str] | None = None) -> dict:
    return instance_settings(home.load_config(), env or {})


def test_the_default_is_sqlite_with_the_queue_limited_per_agent_as_the_gate_counts(home):
    generated = settings(home)
    assert "storage" not in generated  # Dagster's SQLite files in DAGSTER_HOME
    assert generated["run_coordinator"]["class"] == "QueuedRunCoordinator"
    delegation = Delegation(home)
    capacities = {agent_id: agent.capacity for agent_id, agent in delegation.roster.items()}
    limits = generated["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {entry["value"]: entry["limit"] for entry in limits} == capacities == {
        "chief-architect": 5, "orchestrator-1": 10, "etl-architect-1": 8,
        "quality-validator-1": 6, "discovery-specialist-1": 6, "etl-developer-1": 4,
    }
    # The key is the tag the gate puts on every run it launches for a request.
    request = delegation.submit(requester="etl-architect-1", target="etl-developer-1", task_type="data_validation")
    assert {entry["key"] for entry in limits} == {"datacrew/agent"}
    assert run_tags(request, None)["datacrew/agent"] == request.target
    assert generated["concurrency"]["pools"] == {"default_limit": 1}
    assert "max_concurrent_runs" not in generated["concurrency"]["runs"]


def test_prepare_environment_writes_it_where_dagster_looks_and_dagster_loads_it(home):
    prepare_environment(home)
    written = home.dagster_home / "dagster.yaml"
    assert written.read_text().startswith("# Written by datacrew")
    assert yaml.safe_load(written.read_text()) == settings(home)
    with dg.DagsterInstance.get() as instance:  # DAGSTER_HOME is the home's
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        # One run through it: the SQLite instance the yaml describes works as it is.
        assert dg.materialize([probe], instance=instance).success


@dg.asset
def probe() -> int:
    return 1


def test_postgres_storage_from_a_url_names_psycopg2_and_from_an_env_var_stays_out_of_the_file(home):
    set_section(home, "instance", {"storage_url": URL, "max_concurrent_runs": 12})
    generated = settings(home)
    assert generated["storage"] == {"postgres": {"postgres_url": URL.replace("postgresql://", "postgresql+psycopg2://")}}
    assert generated["concurrency"]["runs"]["max_concurrent_runs"] == 12

    set_section(home, "instance", {"storage_url_env": "DAGSTER_PG_URL"})
    assert settings(home)["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    env = {STORAGE_URL_ENV: "postgresql+psycopg2://dagster@db:5432/dagster"}
    assert settings(home, env)["storage"] == {"postgres": {"postgres_url": {"env": STORAGE_URL_ENV}}}

    # Dagster would read a driverless URL with psycopg 3, which dagster-postgres cannot use.
    with pytest.raises(ConfigError) as caught:
        settings(home, {STORAGE_URL_ENV: URL})
    assert str(caught.value) == (
        "$DATACREW_INSTANCE_URL: 'postgresql://dagster:***@db.example:5432/dagster': "
        "must name the driver (postgresql+psycopg2://...): dagster-postgres needs psycopg2"
    )


@pytest.mark.parametrize(
    ("section", "line"),
    [
        ({"storage_url": "mysql://db/dagster"}, "instance.storage_url: 'mysql://db/dagster': "
                                                "must be a postgresql://user@host:5432/db URL"),
        ({"storage_url": URL, "storage_url_env": "PG"}, "instance.storage_url_env: 'PG': "
                                                        "give storage_url or storage_url_env, not both"),
        ({"run_coordinator": "immediate", "max_concurrent_runs": 3},
         "instance.max_concurrent_runs: 3: only applies to run_coordinator 'queued'"),
        ({"catalog_url": "sqlite:///x.db"}, "instance.catalog_url: 'sqlite:///x.db': "
                                            "must be a postgresql://user@host:5432/db URL"),
    ],
)
def test_bad_instance_settings_are_one_line_each(home, section, line):
    set_section(home, "instance", section)
    with pytest.raises(ConfigErrors) as caught:
        home.load_config()
    assert [e.render() for e in caught.value.errors] == [f"datacrew.yaml: {line}"]


def test_immediate_launch_has_no_run_queue_limits(home):
    set_section(home, "instance", {"run_coordinator": "immediate"})
    generated = settings(home)
    assert generated["run_coordinator"]["class"] == "DefaultRunCoordinator"
    assert generated["concurrency"] == {"pools": {"default_limit": 1}}


def test_an_instance_file_of_ones_own_is_never_lost(home, capsys):
    own = home.dagster_home / "dagster.yaml"
    own.parent.mkdir(parents=True)
    own.write_text("run_coordinator: {module: dagster._core.run_coordinator, class: DefaultRunCoordinator}\n")
    prepare_environment(home)  # every command does this: it leaves the file alone
    assert own.read_text().startswith("run_coordinator")
    with pytest.raises(ConfigError, match="not written by datacrew, so left as it is"):
        write_instance_yaml(home, home.load_config())

    assert main(["instance", "--write", "--json", "--home", str(home.root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "written"
    assert shown["kept"].startswith(str(own) + ".")
    assert (home.dagster_home / shown["kept"]).read_text().startswith("run_coordinator")
    assert yaml.safe_load(own.read_text()) == settings(home)


def test_datacrew_instance_prints_the_file_without_its_password(home, capsys):
    set_section(home, "instance", {"storage_url": URL})
    assert main(["instance", "--home", str(home.root)]) == 0
    out = capsys.readouterr().out
    assert "postgres_url: postgresql+psycopg2://dagster:***@db.example:5432/dagster" in out
    assert out.rstrip().endswith(f"{home.dagster_home / 'dagster.yaml'}: up to date")
    assert "s3cret" not in out
    # The file itself has it: Dagster connects with it.
    assert "s3cret" in (home.dagster_home / "dagster.yaml").read_text()

    # An edit to datacrew.yaml reaches the file on the next command.
    set_section(home, "instance", {"storage_url": URL, "max_concurrent_runs": 3})
    assert main(["instance", "--json", "--home", str(home.root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["settings"]["concurrency"]["runs"]["max_concurrent_runs"] == 3
    assert yaml.safe_load((home.dagster_home / "dagster.yaml").read_text())["concurrency"]["runs"][
        "max_concurrent_runs"] == 3


def test_writers_of_one_warehouse_file_share_a_pool(home):
    (home.root / "specs" / "planes_copy.yaml").write_text(
        (home.root / "specs" / "planes.yaml").read_text()
        .replace("name: planes", "name: planes_copy")
        .replace("{format: warehouse, table: analytics.planes}",
                 "{format: warehouse, database: ./warehouse.duckdb, table: analytics.planes_copy}")
    )
    (home.root / "specs" / "planes_elsewhere.yaml").write_text(
        (home.root / "specs" / "planes.yaml").read_text()
        .replace("name: planes", "name: planes_elsewhere")
        .replace("{format: warehouse, table: analytics.planes}",
                 "{format: warehouse, database: marts/fleet.duckdb}")
    )
    defs = build_definitions(home)
    pools = {
        "/".join(key.path): defs.resolve_assets_def(key).op.pool
        for key in (dg.AssetKey(["transformed", name]) for name in
                    ("planes", "planes_copy", "planes_elsewhere", "flights_clean"))
    }
    assert pools == {
        "transformed/planes": "datacrew/warehouse:warehouse.duckdb",
        "transformed/planes_copy": "datacrew/warehouse:warehouse.duckdb",
        "transformed/planes_elsewhere": "datacrew/warehouse:marts/fleet.duckdb",
        "transformed/flights_clean": None,
    }
