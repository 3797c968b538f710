"""bench/ptx_check.py: the counts it reads off PTX; the whole script where NVVM exists."""

import pytest

from tests.bench_scripts import load_bench_script


def load():
    return load_bench_script("ptx_check")


PTX = """
// a comment with .f64 and .local in it
.reg .f64 %fd<2>;
mul.rn.f64 %fd1, %fd2, %fd3;
ld.local.u32 %r1, [%rd1];
div.s64 %rd2, %rd3, %rd4;
rem.u32 %r2, %r3, %r4;
div.rn.f32 %f1, %f2, %f3;
"""


def test_counts_float64_local_memory_and_integer_division():
    assert load().count(PTX) == {"lines": 6, "f64": 2, "local": 1, "int_div_rem": 2}


def _nvvm_missing() -> str:
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as exc:
        return f"no NVVM here ({type(exc).__name__}): pip install 'numba-cuda[cu13]'"
    return ""


@pytest.mark.skipif(bool(_nvvm_missing()), reason=_nvvm_missing() or "NVVM found")
def test_the_kernels_have_no_float64_local_memory_or_integer_division(tmp_path):
    import json

    assert load().main(["--json", str(tmp_path / "ptx.json")]) == 0
    for name, row in json.loads((tmp_path / "ptx.json").read_text())["kernels"].items():
        assert row["f64"] == row["local"] == row["int_div_rem"] == 0, name
