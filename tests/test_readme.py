"""The README's tables of operators, boards and meters say what the code does, no more and no less; its pytest
example passes, copied into an empty folder."""
import os
import re
import subprocess
import sys
import time

import pytest

from deepx import boards
from deepx.runtime.power import KINDS
from deepx.tools import readme_tables

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


@pytest.fixture(scope="module")
def readme():
    with open(README, encoding="utf-8") as f:
        return f.read()


def first_column(readme, table):
    """The backquoted names in the first column of the README's table block `table`."""
    block = next(m.group(3) for m in readme_tables.BLOCK.finditer(readme) if m.group(2) == table)
    return [re.match(r"\| `([^`]+)`", row).group(1) for row in block.splitlines()[2:]]


def test_operators_table_lists_every_importer_operator(readme):
    assert sorted(first_column(readme, "operators")) == sorted(readme_tables.importer_ops())


def test_boards_table_lists_every_profile(readme):
    assert first_column(readme, "boards") == boards.names() + ["host", "emulated:NAME"]


def test_meters_table_lists_every_meter_kind(readme):
    assert [re.match(r"[a-z0-9]+", spec).group(0) for spec in first_column(readme, "meters")] == KINDS


def test_every_importer_operator_is_documented():
    for op, doc in readme_tables.importer_ops().items():
        assert doc and doc.endswith("."), f"op_{op} needs a docstring 'deepx op: limits.'"
    assert set(readme_tables.METERS) == set(KINDS)


def test_tables_match_the_code(readme):
    """The figures too (a board profile's watts, a driver's default interval): regenerate when this fails."""
    assert [m.group(2) for m in readme_tables.BLOCK.finditer(readme)] == ["operators", "boards", "meters"]
    assert readme_tables.render(readme) == readme, \
        "README tables differ from the code: run python -m deepx.tools.readme_tables README.md"


def test_performance_tables_are_generated(readme):
    """The Performance tables are perf_tables' output: a header with date, commit, machine, sgemm rate, both
    sides' waiting settings and the command, then the table's columns (their numbers are not checked)."""
    from deepx.tools import perf_tables

    blocks = {m.group(2): m.group(3) for m in perf_tables.BLOCK.finditer(readme)}
    assert sorted(blocks) == ["kernels", "models", "peers"]
    columns = {"models": perf_tables.models_table([]).splitlines()[0],
               "kernels": perf_tables.kernels_table([]).splitlines()[0],
               "peers": perf_tables.models_table([], list(perf_tables.peers.ENGINES)).splitlines()[0]}
    for name, block in blocks.items():
        head, _, table = block.partition("\n\n")
        assert perf_tables.HEADER.fullmatch(" ".join(head.split())), \
            f"{name}: header not in perf_tables' format:\n{head}"
        rows = table.splitlines()
        assert rows[0] == columns[name] and len(rows) > 2
        assert all(row.count("|") == rows[0].count("|") for row in rows[1:] if row.startswith("|"))
    assert perf_tables.render(readme, {}) == readme


def test_perf_header_format(monkeypatch):
    from deepx.tools import perf_tables

    monkeypatch.setattr(perf_tables, "sgemm_gflops", lambda n: (100.0, "openblas 0.3.31, Haswell kernel"))
    head = perf_tables.header([1, 2], "python -m deepx.tools.perf_tables README.md --seconds 1").rstrip("\n")
    assert perf_tables.HEADER.fullmatch(" ".join(head.split())), head
    assert all(len(line) <= 120 for line in head.splitlines())


def example(readme, marker):
    """The fenced code block right after `<!-- marker -->`."""
    m = re.search(rf"<!-- {marker} -->\n```python\n(.*?)```\n", readme, re.S)
    assert m, f"no python block after <!-- {marker} --> in README.md"
    return m.group(1)


def test_pytest_example_passes_in_an_empty_folder(readme, tmp_path):
    """The example of "Testing a deployment with pytest", with the zoo's model exported beside it: under 60 s."""
    (tmp_path / "test_deployment.py").write_text(example(readme, "pytest-example"))
    p = subprocess.run([sys.executable, "-m", "deepx.tools.cli", "zoo", "export", "digits-cnn", "-o", "model.onnx"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    t = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "--strict-markers", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    took = time.monotonic() - t
    print(f"\nREADME pytest example: {took:.1f} s: {p.stdout.strip().splitlines()[-1]}")
    assert p.returncode == 0 and "6 passed" in p.stdout, p.stdout[-3000:] + p.stderr[-2000:]
    assert took < 60, f"the README's pytest example took {took:.1f} s (the promise is under 60 s on 2 cores)"
