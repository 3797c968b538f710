"""Helpers for the fault tests: running ``python -m gpunn`` for real, malformed model files.

The dataset is a small ``mnist.pkl.gz`` (the book's format): IDX and npz copies are
checked against MNIST's published sha256, the pickle only for structure, so it is the
one form a made-up dataset can take. Its validation split is 10,000 images, as gpunn
always holds back; they are exact prototypes, so the file compresses to almost nothing.
"""

import gzip
import io
import json
import os
import pickle
import subprocess
import sys
import time
import zipfile

import numpy as np

TIMEOUT_S = 60  # no command here should come near this: reaching it is a hang


def write_pkl_dataset(folder, n_train=2000, n_test=500, seed=0):
    """``folder/mnist.pkl.gz`` with 10 sparse binary prototypes and a few flipped pixels."""
    rng = np.random.default_rng(seed)
    centers = (rng.random((10, 784)) < 0.15).astype(np.float32)

    def split(n, flip):
        y = rng.integers(0, 10, n)
        x = centers[y]
        x[rng.random(x.shape) < flip] = 1.0
        return x, y.astype(np.int64)

    parts = (split(n_train, 0.05), split(10000, 0.0), split(n_test, 0.05))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mnist.pkl.gz").write_bytes(
        gzip.compress(pickle.dumps(parts, protocol=4), compresslevel=1)
    )
    return folder


def env(tmp_path):
    """The environment of a gpunn subprocess: CPU, one BLAS thread, no outside data or cache."""
    e = {k: v for k, v in os.environ.items() if k != "GPUNN_DATA"}
    # Several BLAS threads on a busy two-core machine make tiny matrix products 100× slower.
    e.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    e.update(GPUNN_DEVICE="cpu", XDG_CACHE_HOME=str(tmp_path / "cache"))
    return e


def command(*args):
    return [sys.executable, "-m", "gpunn", *map(str, args)]


def gpunn(*args, cwd):
    """Run ``python -m gpunn ARGS`` in ``cwd`` to the end; the CompletedProcess (text)."""
    return subprocess.run(
        command(*args), cwd=cwd, env=env(cwd), capture_output=True, text=True, timeout=TIMEOUT_S
    )


def start(*args, cwd):
    """Start ``python -m gpunn ARGS`` in ``cwd``; its Popen (stdout and stderr piped, text)."""
    return subprocess.Popen(
        command(*args),
        cwd=cwd,
        env=env(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, proc=None, timeout=TIMEOUT_S, poll=0.002):
    """Poll until ``condition()`` is true; AssertionError on a timeout or when ``proc`` ends."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"gpunn ended (exit {proc.returncode}) first:\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(poll)


def fails(argv, capsys, code=2):
    """Run ``gpunn ARGV`` in this process, expecting exit status ``code``; its one error line."""
    from gpunn.cli import main

    assert main([str(a) for a in argv]) == code
    return one_error_line(capsys.readouterr().err)


def one_error_line(stderr, prefix="gpunn: error: "):
    """The single error line of a failed command; AssertionError unless there is exactly one."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("gpunn: ")]
    errors = [line for line in lines if line.startswith(prefix)]
    assert len(errors) == 1, stderr
    return errors[0]


def saved_weights(path):
    """The parameter arrays of a saved gpunn model, read with NumPy alone."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k.startswith("layer")}


def assert_same_weights(a, b):
    assert a.keys() == b.keys() and a
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def snapshot(folder):
    """{relative path: bytes} of every file under ``folder``, to show nothing was changed."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# --- malformed model files ------------------------------------------------------------
def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy(array, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _zip_of(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", text)
    return buf.getvalue()


def _flip_middle(data):
    data = bytearray(data)
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


def edited(data, header=None, drop=(), **arrays):
    """A copy of the gpunn file ``data`` with its header edited, arrays dropped or replaced."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        contents = {k: npz[k] for k in npz.files if k not in drop}
    if header is not None:
        old = json.loads(str(contents["__gpunn__"]))
        contents["__gpunn__"] = np.array(json.dumps(header(old)))
    contents.update(arrays)
    return _npz(**contents)


def _net(old, **changes):
    return {**old, "network": {**old["network"], **changes}}


# name -> bytes of a file that is not a readable gpunn model, from a good model's bytes
MALFORMED = {
    "empty": lambda good: b"",
    "random bytes": lambda good: np.random.default_rng(0).bytes(4096),
    "text": lambda good: b"layer0/w = [[0.1, 0.2]]\n",
    "plain .npy": lambda good: _npy(np.zeros((10, 784))),
    "pickled .npy": lambda good: _npy(np.array([{"w": 1}], dtype=object), allow_pickle=True),
    "plain .npz": lambda good: _npz(w=np.zeros(3)),
    "zip of text": lambda good: _zip_of("hello"),
    "python pickle": lambda good: pickle.dumps({"layer0/w": np.zeros(3)}),
    "gzip": lambda good: gzip.compress(good),
    "truncated to 10%": lambda good: good[: len(good) // 10],
    "truncated to 50%": lambda good: good[: len(good) // 2],
    "truncated by one byte": lambda good: good[:-1],
    "a flipped byte": _flip_middle,
    "header not JSON": lambda good: edited(good, __gpunn__=np.array("{not json")),
    "header a list": lambda good: edited(good, __gpunn__=np.array("[1, 2]")),
    "header of objects": lambda good: edited(good, __gpunn__=np.array([None], dtype=object)),
    "no header": lambda good: edited(good, drop=("__gpunn__",)),
    "a checkpoint's format": lambda good: edited(
        good, lambda h: {**h, "format": "gpunn-checkpoint"}
    ),
    "an ensemble's format": lambda good: edited(good, lambda h: {**h, "format": "gpunn-ensemble"}),
    "future format_version": lambda good: edited(good, lambda h: {**h, "format_version": 2}),
    "format_version 0": lambda good: edited(good, lambda h: {**h, "format_version": 0}),
    "format_version true": lambda good: edited(good, lambda h: {**h, "format_version": True}),
    "format_version '1'": lambda good: edited(good, lambda h: {**h, "format_version": "1"}),
    "no network": lambda good: edited(
        good, lambda h: {k: v for k, v in h.items() if k != "network"}
    ),
    "unknown layer kind": lambda good: edited(
        good, lambda h: _net(h, layers=[{"kind": "Capsule", "n_out": 10}])
    ),
    "unknown layer option": lambda good: edited(
        good, lambda h: _net(h, layers=[{**h["network"]["layers"][0], "colour": "red"}])
    ),
    "zero-size layer": lambda good: edited(
        good, lambda h: _net(h, layers=[{**h["network"]["layers"][0], "n_out": 0}])
    ),
    "garbage input_shape": lambda good: edited(good, lambda h: _net(h, input_shape="abc")),
    "an input_shape of 0": lambda good: edited(good, lambda h: _net(h, input_shape=[0])),
    "a negative input_shape": lambda good: edited(good, lambda h: _net(h, input_shape=[-1, 28])),
    "unknown cost": lambda good: edited(good, lambda h: _net(h, cost="hinge")),
    "integer dtype": lambda good: edited(good, lambda h: _net(h, dtype="int8")),
    "a missing parameter": lambda good: edited(good, drop=("layer0/w",)),
    "a parameter of the wrong shape": lambda good: edited(good, **{"layer0/w": np.zeros((3, 3))}),
    "a parameter of strings": lambda good: edited(good, **{"layer0/b": np.array(["x"] * 10)}),
    "complex weights": lambda good: edited(good, **{"layer0/b": np.zeros(10, np.complex64)}),
    "NaN weights": lambda good: edited(good, **{"layer0/b": np.full(10, np.nan, np.float32)}),
    "float64 weights beyond float32": lambda good: edited(good, **{"layer0/b": np.full(10, 1e39)}),
    "a format that is a list": lambda good: edited(good, lambda h: {**h, "format": ["x"]}),
    "a header nested too deep": lambda good: edited(
        good, __gpunn__=np.array("[" * 100_000 + "]" * 100_000)
    ),
}


def interrupt_at_step(trainer, at_step: int) -> None:
    """Make ``trainer`` send itself SIGINT (Ctrl-C) right after step ``at_step`` (1-based)."""
    import signal

    step = trainer.optimizer.step

    def step_then_signal(net, m):
        step(net, m)
        if trainer.step + 1 == at_step:
            os.kill(os.getpid(), signal.SIGINT)

    trainer.optimizer.step = step_then_signal
