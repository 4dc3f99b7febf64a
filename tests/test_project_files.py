"""What an open book project carries: the two README commands, CI wiring, workflows, release tag."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BUILD, TEST = "bash scripts/build_book.sh", "bash scripts/test.sh"


def test_readme_gives_the_two_commands_and_ci_runs_exactly_the_test_command():
    assert BUILD in README and TEST in README
    commands = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()
                if l.strip() and not l.startswith("#") and not l.startswith("set ") and not l.startswith("cd ")]
    assert commands == [TEST]


def _steps(workflow: dict) -> list[str]:
    return [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]


def test_ci_workflow_tests_every_push_and_publishes_main():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads a bare `on` as True
    assert "push" in triggers and "pull_request" in triggers
    runs = _steps(wf)
    assert TEST in runs and BUILD in runs
    assert all(r in ("", TEST, BUILD) for r in runs), "workflows call the README's commands, nothing else"
    test_job = wf["jobs"]["test"]
    python = [s["with"]["python-version"] for s in test_job["steps"] if "setup-python" in s.get("uses", "")]
    assert python == ["3.11"]
    assert any("actions/cache" in s.get("uses", "") for s in test_job["steps"])
    publish = wf["jobs"]["publish"]
    assert "refs/heads/main" in publish["if"]
    assert any("deploy-pages" in s.get("uses", "") for s in publish["steps"])
    assert any(s.get("with", {}).get("path") == "_build/html" for s in publish["steps"])


def test_weekly_drift_workflow_runs_the_same_command_unpinned():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "drift.yml").read_text())
    triggers = wf[True] if True in wf else wf["on"]
    assert "schedule" in triggers
    assert wf["env"]["VAELIB_LATEST"] == "1"
    assert TEST in _steps(wf)
    assert "VAELIB_LATEST" in (ROOT / "scripts" / "setup.sh").read_text()


def test_requirements_pin_every_package_and_torch_exactly():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+\-]+", l) for l in lines), "pin with =="
    assert "torch==2.13.0" in lines


def test_open_project_files_exist_and_name_the_licenses():
    for name in ("LICENSE", "LICENSE-TEXT.md", "CITATION.cff", "CHANGELOG.md", "CONTRIBUTING.md"):
        assert (ROOT / name).exists(), name
    assert "MIT" in (ROOT / "LICENSE").read_text()
    assert "CC BY 4.0" in (ROOT / "LICENSE-TEXT.md").read_text()
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"] == version
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text()
