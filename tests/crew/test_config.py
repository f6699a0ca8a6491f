"""agents.yaml and tasks.yaml: the tutorial's roles, three tasks, every placeholder filled."""

from __future__ import annotations

import re

import yaml

from datacrew_resources.crew.inputs import task_inputs
from datacrew_resources.crew.runner import CONFIG_DIR, TASKS

from .fakes import SPEC_SUMMARY, FakeWorkbench

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _load(name: str) -> dict:
    return yaml.safe_load((CONFIG_DIR / name).read_text())


def test_agents_have_the_tutorial_roles_with_texts():
    agents = _load("agents.yaml")
    assert set(agents) == {
        "discovery_specialist",
        "etl_architect",
        "quality_validator",
        "pipeline_orchestrator",
    }
    for agent in agents.values():
        assert set(agent) == {"role", "goal", "backstory"}
        assert all(len(text.strip()) > 10 for text in agent.values())


def test_tasks_are_the_runner_tasks_and_name_known_agents():
    tasks = _load("tasks.yaml")
    agents = _load("agents.yaml")
    assert list(tasks) == list(TASKS)
    for name, task in tasks.items():
        assert set(task) == {"description", "expected_output", "agent"}
        assert task["agent"] in agents
        for tool in TASKS[name][1]:
            assert tool in task["description"], f"{name} does not name its tool {tool}"


def test_every_placeholder_is_an_input():
    inputs = task_inputs(FakeWorkbench(), SPEC_SUMMARY, "etl-architect-1")
    texts = [
        text
        for file in ("agents.yaml", "tasks.yaml")
        for entry in _load(file).values()
        for text in entry.values()
    ]
    used = {name for text in texts for name in PLACEHOLDER.findall(text)}
    assert used <= set(inputs)
    assert {"spec_name", "sources", "target_columns", "agent_id"} <= used


def test_inputs_describe_the_spec():
    inputs = task_inputs(FakeWorkbench(), SPEC_SUMMARY, "etl-architect-1")
    assert inputs["sources"] == "lake/flights, warehouse/airlines"
    assert inputs["target_columns"].startswith("carrier VARCHAR NOT NULL PRIMARY KEY, name VARCHAR")
    assert inputs["transformation_type"] == "aggregation"
    assert '"group_by": ["carrier", "name"]' in inputs["rules"]


def test_inputs_take_target_columns_given_by_name():
    summary = {"type": "join", "target_columns": ["carrier", "flights"]}
    assert task_inputs(FakeWorkbench(), summary, "a1")["target_columns"] == "carrier, flights"


def test_inputs_fill_gaps_of_a_partial_summary():
    inputs = task_inputs(FakeWorkbench(), {}, "a1")
    assert inputs["intent"] == inputs["description"] == inputs["target_columns"] == "(none given)"
    assert inputs["output_format"] == "parquet"
