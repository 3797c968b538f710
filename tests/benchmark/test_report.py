"""The record: environment, table lines, the JSON writer, and the ``bench`` sub-command."""

import argparse
import json
import math

from gpunn.backend import CPU
from gpunn.benchmark import add_parser, run
from gpunn.benchmark.cli import benchmark
from gpunn.benchmark.report import (
    default_result_name,
    environment,
    finite,
    format_row,
    kernel_table,
    table,
    write_json,
)

ROW = {
    "preset": "fc30",
    "mode": "train",
    "batch_size": 10,
    "device": "cpu",
    "gpunn": {"available": True, "median": 5e4, "min": 4e4, "max": 6e4, "other_load_cores": 0.1},
    "peers": {
        "torch": {
            "available": True,
            "median": 1e4,
            "min": 9e3,
            "max": 2e4,
            "ratio": 5.0,
            "paired_ratio": {"median": 5.0, "min": 3.0, "max": 6.0},
        },
        "torch-compile": {"available": False, "reason": "no compiler", "ratio": None},
    },
}


def test_environment_names_machine_and_versions(monkeypatch):
    monkeypatch.setenv("GPUNN_CPU_THREADS", "1")
    env = environment(CPU)
    assert env["threads_env"]["GPUNN_CPU_THREADS"] == "1"  # what split a batch, or not
    assert env["device"] == "cpu" and env["gpu"] is None
    assert env["cpu"]["cores"] >= 1 and env["cpu"]["model"]
    assert env["versions"]["numpy"] and env["versions"]["gpunn"]
    assert "available" in env["torch"]
    assert len(env["git"]["source_digest"]) == 64  # names the code even in a dirty tree
    name = default_result_name(env)
    assert name.endswith(".json") and name.startswith(env["date"][:10]) and "-cpu-" in name
    assert env["git"]["commit"][:7] in name
    again = default_result_name(env, taken=lambda n: n in {name, name[:-5] + "-2.json"})
    assert again == name[:-5] + "-3.json"


def test_table_lines_per_peer():
    lines = format_row(ROW)
    assert len(lines) == 2
    assert "50,000 [40,000–60,000]" in lines[0] and "5.00×" in lines[0] and "3.00–6.00" in lines[0]
    assert "n/a" in lines[1]
    assert "n/a torch-compile: no compiler" in table([ROW])
    assert kernel_table({"skipped": "no GPU"}) == "kernels: skipped (no GPU)"


def test_write_json_round_trip_and_non_finite(tmp_path):
    record = {"rows": [ROW], "x": [math.nan, 1.0, math.inf]}
    path = write_json(tmp_path / "deep" / "r.json", record)
    back = json.loads(path.read_text())
    assert back["rows"] == [ROW] and back["x"] == [None, 1.0, None]
    assert finite({"a": (math.inf,)}) == {"a": [None]}
    assert not list(tmp_path.glob("deep/*.tmp"))


def test_bench_subcommand_writes_json(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="gpunn")
    add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "bench.json"
    args = parser.parse_args(
        ["bench", "--device", "cpu", "--presets", "fc30", "--batch-sizes", "5",
         "--modes", "infer", "--peers", "none", "--repeats", "1", "--seconds", "0.001",
         "--warmup-steps", "1", "--data", "random", "--max-load", "-1", "--json", str(out)]
    )  # fmt: skip
    assert run(args) == 0
    record = json.loads(out.read_text())
    assert record["schema"] == "gpunn-bench/1" and record["data"].startswith("random")
    assert record["config"]["peers"] == [] and len(record["rows"]) == 1
    assert record["kernels"] == {"skipped": "kernel micro-benchmarks need a GPU (--device gpu)"}
    assert record["complete"] is True
    assert "fc30" in capsys.readouterr().out


def test_bench_saves_the_record_after_every_row():
    parser = argparse.ArgumentParser(prog="gpunn")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["bench", "--device", "cpu", "--presets", "fc30", "--batch-sizes", "5,7",
         "--modes", "infer", "--peers", "none", "--repeats", "1", "--seconds", "0.001",
         "--warmup-steps", "1", "--data", "random", "--max-load", "-1"]
    )  # fmt: skip
    saved = []
    benchmark(args, save=lambda r: saved.append((len(r["rows"]), r["complete"], "kernels" in r)))
    # on the CPU the kernel micro-benchmarks are skipped: nothing is written before a row
    assert saved == [(1, False, True), (2, False, True), (2, True, True)]


def test_a_list_option_refuses_a_value_given_twice():
    """Two runners of one name would write over each other's samples."""
    import pytest

    from gpunn.benchmark.cli import _csv, _peers

    with pytest.raises(argparse.ArgumentTypeError, match="given twice: torch"):
        _peers("torch,torch-1t,torch")
    with pytest.raises(argparse.ArgumentTypeError, match="given twice: 10"):
        _csv(int)("10,64,10")
    assert _csv(int)("10,64") == (10, 64)
