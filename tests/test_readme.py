"""The README documents every name users' scripts depend on, and its commands match CI."""
from pathlib import Path

from fokkerplanck.cli import COMMANDS
from fokkerplanck.config import MODEL_KINDS, schema_for_kind
from fokkerplanck.examples import EXAMPLES
from fokkerplanck.run import NOISY_GD_DIAGNOSTICS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_config_key_is_documented():
    for kind in MODEL_KINDS:
        assert f'"{kind}"' in README, kind
        for name, fields in schema_for_kind(kind).items():
            for key in fields:
                assert f"`[{name}] {key}`" in README, f"{kind}: [{name}] {key}"


def test_every_cli_verb_example_and_dataset_is_documented():
    for verb in COMMANDS:
        assert f"fokkerplanck {verb}" in README or f"`{verb}`" in README, verb
    for name in EXAMPLES:
        assert f"`{name}`" in README, name
    for name in NOISY_GD_DIAGNOSTICS:
        assert f"/diagnostics/{name}" in README, name


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] in README
    assert "python -m pytest -q" in ci[-1]
