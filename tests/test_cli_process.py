"""The command line as a real process (``python -m gpunn``), and its ways out besides
an error in the input: a bad command fails in one line without a traceback, a closed
output pipe is no error, Ctrl-C and SIGTERM are one line and exit 130 (also when a
library turns the Ctrl-C into its own error or drops it, or it comes before ``main``
runs), a command started ignoring Ctrl-C keeps ignoring it, running out of memory is one
line, and the command-line modules import no heavy library before their handler is set.
"""

import ast
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gpunn.cli import main
from gpunn.serialize import load_model
from tests.cli_fixtures import (
    TRAIN,
    fixture_data_dir,  # noqa: F401
    fixture_images,  # noqa: F401
    fixture_trained,  # noqa: F401
    save_model,
)
from tests.faults import TIMEOUT_S, command, env, fails, gpunn, start


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--eta", "-1"], "gpunn: error: the learning rate eta must be positive"),
        (["train", "--preset", "lenet"], "gpunn: error: unknown preset 'lenet'"),
        (["train", "--epochs", "0"], "gpunn train: error: argument --epochs"),
        (["predict", "NET", "notes.png"], "notes.png: cannot be read as an image"),
        (["evaluate", "absent.npz"], "gpunn: error: absent.npz: no such file"),
    ],
    ids=["negative eta", "unknown preset", "zero epochs", "not an image", "missing model"],
)
def test_the_real_command_fails_in_one_line_without_a_traceback(
    argv, message, images, trained, tmp_path
):
    argv = [str(trained / "net.npz") if a == "NET" else a for a in argv]
    done = gpunn(*argv, cwd=images)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and message in done.stderr
    assert done.stdout == ""


def test_a_closed_pipe_is_no_error(tmp_path):
    read, write = os.pipe()
    os.close(read)  # as `gpunn presets | head -0` does, before gpunn writes
    try:
        done = subprocess.run(
            command("presets"), cwd=tmp_path, env=env(tmp_path), stdout=write,
            stderr=subprocess.PIPE, text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 0 and done.stderr == ""


def test_a_file_name_that_is_not_utf8_is_printed_as_given(tmp_path):
    """On a strict UTF-8 stdout (a UTF-8 locale) the name's bytes come back unchanged."""
    (tmp_path / "m.jsonl").write_text(
        '{"epoch": 1, "seconds": 2, "test_accuracy": 0.9}\n{"final": true}\n'
    )
    out = os.fsdecode(b"\xfd.png")  # what Python makes of the name's bytes
    done = subprocess.run(
        command("curves", "m.jsonl", "--out", out),
        cwd=tmp_path,
        env={**env(tmp_path), "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        timeout=TIMEOUT_S,
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == b"wrote \xfd.png\n"
    assert (tmp_path / out).is_file()


def interrupted(args):
    raise KeyboardInterrupt


def test_ctrl_c_outside_training_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr("gpunn.commands.cmd_presets", interrupted)
    assert main(["presets"]) == 130
    assert capsys.readouterr().err == "gpunn: interrupted\n"


def _ctrl_c_while_writing(monkeypatch, name):
    """Send the main thread SIGINT as ``gpunn.files`` starts writing the file ``name`` (to
    the main thread: in ``python -m gpunn`` every other thread blocks SIGINT, in pytest's
    process the libraries' threads do not)."""
    from gpunn import files

    write = files._write_and_rename

    def write_after_ctrl_c(path, data, durable):
        if path.name == name:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return write(path, data, durable)

    monkeypatch.setattr(files, "_write_and_rename", write_after_ctrl_c)


def _main_with_own_signals(monkeypatch, argv) -> int:
    """``main()`` on the process's own arguments and signals, its handlers put back after."""
    monkeypatch.setattr(sys, "argv", ["gpunn", *map(str, argv)])
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return main()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize("extra, what", [([], "network"), (["--ensemble", "2"], "ensemble")])
def test_a_ctrl_c_during_the_final_save_waits_for_the_file_then_stops(
    extra, what, data_dir, tmp_path, monkeypatch, capsys
):
    _ctrl_c_while_writing(monkeypatch, "net.npz")
    argv = [*TRAIN, "--data-dir", data_dir, *extra, "--save", tmp_path / "net.npz"]
    argv += ["--checkpoint-dir", tmp_path / "ckpt"]
    assert _main_with_own_signals(monkeypatch, argv) == 130
    err = capsys.readouterr().err
    assert f"saved the {what} to {tmp_path / 'net.npz'}" in err
    assert err.endswith("gpunn: interrupted\n")
    assert load_model(tmp_path / "net.npz").input_shape == (784,)


@pytest.mark.parametrize("extra, what", [([], "network"), (["--ensemble", "2"], "ensemble")])
def test_a_ctrl_c_just_after_training_waits_for_the_results(
    extra, what, data_dir, tmp_path, monkeypatch, capsys
):
    """Between the trainer's own handler and the save: the command's stop request holds it."""
    from gpunn.train import Trainer

    run = Trainer.run

    def run_then_ctrl_c(self):
        result = run(self)
        if self.run_info.get("member") in (None, 1):  # the last (or only) run
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return result

    monkeypatch.setattr(Trainer, "run", run_then_ctrl_c)
    argv = [*TRAIN, "--data-dir", data_dir, *extra, "--save", tmp_path / "net.npz"]
    assert _main_with_own_signals(monkeypatch, [*argv, "--checkpoint-dir", tmp_path / "c"]) == 130
    assert f"saved the {what} to" in capsys.readouterr().err
    assert load_model(tmp_path / "net.npz").input_shape == (784,)


def test_a_ctrl_c_as_the_run_writes_its_summary_loses_nothing(
    data_dir, tmp_path, monkeypatch, capsys
):
    """After the last epoch the run is done: a Ctrl-C then waits for what is left, and the
    command says it was interrupted."""
    _ctrl_c_while_writing(monkeypatch, "m.jsonl")
    argv = [*TRAIN, "--data-dir", data_dir, "--metrics", tmp_path / "m.jsonl", "--epochs", "1"]
    assert _main_with_own_signals(monkeypatch, [*argv, "--save", tmp_path / "net.npz"]) == 130
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert '"final": true' in lines[-1]
    assert load_model(tmp_path / "net.npz").input_shape == (784,)
    assert capsys.readouterr().err.endswith("gpunn: interrupted\n")


@pytest.mark.parametrize("exits", [True, False])
def test_after_ctrl_c_the_program_ignores_one_more_and_a_caller_gets_its_handlers(
    exits, monkeypatch, capsys
):
    """The program ending (``exits``): else a Ctrl-C as Python shuts down prints 'Exception
    ignored ... KeyboardInterrupt'. A caller going on: its own handlers, or the processes it
    starts next would inherit an ignored SIGINT and SIGTERM (and gpunn ones keep them so)."""
    monkeypatch.setattr("gpunn.commands.cmd_presets", interrupted)
    monkeypatch.setattr(sys, "argv", ["gpunn", "presets"])
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    try:
        assert main(exits=exits) == 130
        now = {sig: signal.getsignal(sig) for sig in signals}
        ignored = {signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN}
        assert now == ({**previous, **ignored} if exits else previous)
    finally:  # this test process's own handlers back
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize(
    "exc, said",
    [
        (MemoryError("Unable to allocate 5.70 TiB"), "Unable to allocate 5.70 TiB"),
        (MemoryError(), "an allocation failed"),
    ],
)
def test_running_out_of_memory_is_one_line(exc, said, monkeypatch, capsys):
    def huge(args):
        raise exc

    monkeypatch.setattr("gpunn.commands.cmd_presets", huge)
    assert fails(["presets"], capsys) == f"gpunn: error: out of memory: {said}"


def test_the_command_line_modules_load_no_heavy_library_before_its_handler():
    """What ``python -m gpunn`` imports before ``main`` runs lies outside its Ctrl-C handler:
    it must stay the standard library (NumPy alone takes ~0.1 s, a window for a traceback)."""
    modules = "sorted({m.split('.')[0] for m in sys.modules})"
    code = f"import sys, gpunn.cli, gpunn.parser; print({modules})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(out.stdout))
    assert not loaded & {"numpy", "numba", "PIL", "matplotlib", "cupy", "scipy"}, loaded


def python_c(code: str) -> subprocess.CompletedProcess:
    """``python -c CODE`` to the end (text, stdout and stderr captured)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S
    )


# A library that meets a Ctrl-C in its own import: NumPy's C extensions turn it into an
# ImportError ("Importing the numpy C-extensions failed"), and a module that tries an
# optional import (``except ImportError: pass``) then drops it. Seen on a loaded machine.
CONVERTS = """
def workers(*args):
    try:
        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)
    except KeyboardInterrupt as exc:
        raise ImportError("a library's own error") from exc
"""
DROPS = CONVERTS.replace('raise ImportError("a library\'s own error") from exc', "pass")
DROPS_THEN_WAITS = DROPS + "    time.sleep(60)  # as predict on a FIFO no one writes\n"


@pytest.mark.parametrize(
    "library, where",
    [
        (CONVERTS, "threads"),
        (DROPS, "threads"),
        (DROPS_THEN_WAITS, "commands"),
        (DROPS.replace("time.sleep(5)", "pass"), "commands"),
    ],
    ids=["converts", "drops", "drops-in-the-command", "drops-then-the-command-ends"],
)
def test_a_ctrl_c_that_a_library_turns_into_its_error_or_drops_still_stops(library, where):
    """Before the command runs (``workers()``), or inside it (``cmd_presets``, which then
    waits a minute: the signal is said again after 0.5 s; or ends at once: 130 all the
    same, the Ctrl-C came before the work was done)."""
    code = (
        "import os, signal, sys, time\n"
        "import gpunn.kernels.threads as threads, gpunn.commands as commands\n"
        f"{library}\n"
        + (
            "threads.workers = workers\n"
            if where == "threads"
            else "commands.cmd_presets = workers\n"
        )
        + "from gpunn.cli import main\n"
        "sys.argv = ['gpunn', 'presets']\n"
        "sys.exit(main())\n"
    )
    run = python_c(code)
    assert (run.returncode, run.stderr, run.stdout) == (130, "gpunn: interrupted\n", "")


def test_a_dropped_ctrl_c_leaves_nothing_behind_for_the_caller_of_main():
    """main() run in-process twice: the first's dropped Ctrl-C ends it (an error line and
    the interrupt's), its re-send is cancelled (no SIGALRM, no KeyboardInterrupt later),
    and the second main() knows nothing of it."""
    code = (
        "import os, signal, sys, time\n"
        "import gpunn.commands as commands\n"
        "from gpunn.errors import DataError\n"
        "def cmd_presets(args):\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
        "    except KeyboardInterrupt:\n"
        "        raise DataError('the file was cut short') from None\n"
        "real, commands.cmd_presets = commands.cmd_presets, cmd_presets\n"
        "from gpunn.cli import main\n"
        "sys.argv = ['gpunn', 'presets']\n"
        "first = main()\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "time.sleep(1)  # past the re-send\n"
        "commands.cmd_presets = real\n"
        "print(first, main(['presets']) == 0)\n"
    )
    run = python_c(code)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "gpunn: error: the file was cut short\ngpunn: interrupted\n"
    assert run.stdout.splitlines()[-1] == "130 True"


# A Ctrl-C taken by gpunn.signals' handler and dropped, as CPython drops one raised in
# importlib's module-lock callback ("Exception ignored"), before gpunn's main runs.
DROPPED_CTRL_C = (
    "import os, signal, sys\n"
    "from gpunn import signals\n"
    "from gpunn.__main__ import run\n"
    "signals.record()\n"
    "try:\n"
    "    os.kill(os.getpid(), signal.SIGINT)\n"
    "except KeyboardInterrupt:\n"
    "    pass\n"
)


@pytest.mark.parametrize("module", ["gpunn.signals", "gpunn.cli"])
def test_a_ctrl_c_while_gpunn_s_signal_module_loads_is_one_line(module):
    """Before ``gpunn.signals`` has loaded, ``gpunn.__main__`` takes SIGINT through ``_signal``:
    a Ctrl-C during that import, or during the command line's once it has (made here by an
    import hook), is gpunn's one line, not a traceback; the program then ignores more, and
    no re-send is left armed (SIGALRM's handler as it was)."""
    code = (
        "import os, signal, sys, time\n"
        "class Finder:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "            time.sleep(5)\n"
        "sys.meta_path.insert(0, Finder())\n"
        "from gpunn.__main__ import run\n"
        "sys.argv = ['gpunn', 'presets']\n"
        "code = run()\n"
        "alarm = signal.getsignal(signal.SIGALRM) == signal.SIG_DFL\n"
        "print(code, signal.getsignal(signal.SIGINT) == signal.SIG_IGN, alarm)\n"
    )
    run = python_c(code)
    assert run.stderr == "gpunn: interrupted\n", run.stderr
    assert run.stdout.splitlines()[-1] == "130 True True"


def test_a_ctrl_c_just_after_gpunn_takes_sigint_is_one_line():
    """The first window of ``gpunn.__main__``: a Ctrl-C right after its first handler is set
    (made here by wrapping ``_signal.signal``) is gpunn's one line, not a traceback."""
    code = (
        "import _signal, os, sys\n"
        "real = _signal.signal\n"
        "def then_ctrl_c(sig, handler):\n"
        "    old = real(sig, handler)\n"
        "    if sig == _signal.SIGINT and handler not in (_signal.SIG_IGN, _signal.SIG_DFL):\n"
        "        _signal.signal = real\n"
        "        os.kill(os.getpid(), _signal.SIGINT)\n"
        "    return old\n"
        "from gpunn.__main__ import run\n"
        "_signal.signal = then_ctrl_c\n"
        "sys.argv = ['gpunn', 'presets']\n"
        "sys.exit(run())\n"
    )
    run = python_c(code)
    assert run.returncode == 130 and run.stderr == "gpunn: interrupted\n", run.stderr


def test_a_ctrl_c_dropped_before_main_still_stops_the_command():
    """``gpunn.__main__`` records signals from its first line: one that Python dropped
    before ``main`` ran (importlib's module-lock callback does) stops the command."""
    code = DROPPED_CTRL_C + "sys.argv = ['gpunn', 'presets']\nsys.exit(run())\n"
    run = python_c(code)
    assert (run.returncode, run.stderr, run.stdout) == (130, "gpunn: interrupted\n", "")


def test_a_recorded_ctrl_c_is_reported_even_by_version_and_then_forgotten():
    """argparse's ``--version`` ends by SystemExit: after a dropped Ctrl-C that is 130 and
    one line too, and the record is cleared for a later in-process ``main(argv)``."""
    code = DROPPED_CTRL_C + (
        "from gpunn.cli import main\n"
        "sys.argv = ['gpunn', '--version']\n"
        "first = run()\n"
        "print(first, signals.received, main(['presets']) == 0)\n"
    )
    run = python_c(code)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "gpunn: interrupted\n"
    assert run.stdout.splitlines()[-1] == "130 [] True"


def _wait_until(proc, name: str, says) -> None:
    """Poll ``/proc/PID/name`` until ``says(text)`` (Linux; elsewhere, or after 10 s: go on)."""
    path, deadline = Path(f"/proc/{proc.pid}/{name}"), time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None and path.exists():
        if says(path.read_text()):
            return
        time.sleep(0.002)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_outside_training_is_one_line_and_130(sig, tmp_path):
    """SIGTERM while predict waits on its image (a FIFO no one writes), or Ctrl-C during
    start-up, once gpunn's imports have begun (NumPy's library is mapped; before that it is
    Python's own start-up): one line, exit 130, no traceback."""
    save_model(tmp_path / "net.npz")
    os.mkfifo(tmp_path / "digit.png")
    proc = start("predict", "net.npz", "digit.png", "--device", "cpu", cwd=tmp_path)
    if sig == signal.SIGTERM:
        _wait_until(proc, "wchan", lambda text: text == "wait_for_partner")
    else:
        _wait_until(proc, "maps", lambda text: "_multiarray_umath" in text)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    # 130, or death by SIGINT itself (a shell's $? is 130 either way): when the Ctrl-C lands
    # in code an extension runs through PyRun_String during an import, CPython marks it
    # unhandled and re-raises SIGINT at exit, although gpunn caught it and said so
    assert proc.returncode in ((130, -signal.SIGINT) if sig == signal.SIGINT else (130,)), err
    assert err.strip().splitlines()[-1] == "gpunn: interrupted" and "Traceback" not in err


def test_a_command_started_ignoring_ctrl_c_keeps_ignoring_it(tmp_path):
    """A background job of a script (its shell set SIGINT to be ignored): the script's
    Ctrl-C does not stop it, at any point of its run; SIGTERM still does, in one line."""
    save_model(tmp_path / "net.npz")
    os.mkfifo(tmp_path / "digit.png")
    proc = subprocess.Popen(
        command("predict", "net.npz", "digit.png", "--device", "cpu"),
        cwd=tmp_path,
        env=env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    _wait_until(proc, "maps", lambda text: "_multiarray_umath" in text)
    proc.send_signal(signal.SIGINT)  # during the imports
    _wait_until(proc, "wchan", lambda text: text == "wait_for_partner")
    proc.send_signal(signal.SIGINT)  # waiting on its image
    time.sleep(1)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 130 and err == "gpunn: interrupted\n", err
