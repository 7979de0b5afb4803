"""The README's generated sections and promises stay true."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_coverage_section_is_current():
    from eagerjax._coverage import render

    text = readme()
    assert render(text) == text, "README coverage is stale: run `python -m eagerjax._coverage`"


def test_quickstart_has_two_commands_and_ci_runs_the_second():
    text = readme()
    block = text.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    cmds = [line for line in block.strip().splitlines() if line.strip()]
    assert len(cmds) == 2
    assert "examples/train_digits.py" in cmds[0]
    assert "pytest" in cmds[1]
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        assert "sed -n 2p" in f.read()
