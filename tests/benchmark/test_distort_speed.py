"""bench/distort_speed.py: times both warps on the same images and puts the loop back."""

import json

from gpunn.data import expand
from tests.bench_scripts import load_bench_script


def test_distort_speed_times_both_ways_and_restores_the_loop(tmp_path, capsys):
    script = load_bench_script("distort_speed")
    loop = expand._warp_cpu
    out = tmp_path / "speed.json"
    assert script.main(["--images", "600", "--repeats", "2", "--json", str(out)]) == 0
    assert expand._warp_cpu is loop
    record = json.loads(out.read_text())
    assert record["images"] == 600 and record["strength"] == 0.5
    assert sorted(record["seconds"]) == ["numba loop", "vectorised"]
    assert all(len(t) == 2 and min(t) > 0 for t in record["seconds"].values())
    assert "speed-up" in capsys.readouterr().out
