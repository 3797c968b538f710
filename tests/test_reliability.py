"""Training that survives faults, for real: `gpunn train` killed, interrupted, exploding.

Every run trains the same small network (momentum and L2 on, so the optimiser's state
matters) on a made-up dataset. An uninterrupted run's saved weights are the reference;
a run killed with SIGKILL, or stopped with SIGINT/SIGTERM, then resumed with --resume
must end with exactly those weights. Each resume point checked is printed (pytest -s).
"""

import os
import re
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from gpunn import train as train_module
from gpunn.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_FORMAT_VERSION,
    checkpoint_paths,
    load_latest,
    read_checkpoint,
    restore_network,
)
from gpunn.cli import main
from gpunn.config import TrainConfig
from gpunn.errors import (
    ConfigError,
    DataError,
    GpunnError,
    ModelFileError,
    NumericalError,
    ShapeError,
)
from gpunn.interrupts import StopRequest, TrainingInterrupted
from gpunn.layers import FullyConnected, Softmax
from gpunn.network import Network
from gpunn.serialize import load_model, read_npz, write_npz
from gpunn.train import Trainer
from tests.faults import (
    assert_same_weights,
    edited,
    gpunn,
    interrupt_at_step,
    one_error_line,
    saved_weights,
    snapshot,
    start,
    wait_for,
    write_pkl_dataset,
)
from tests.synthetic import blobs

EPOCHS = 4
# shallow: FC 100 sigmoid + softmax; 200 mini-batches an epoch, about 0.1 s
RUN = (
    "--preset shallow --train-size 2000 --epochs 4 --batch-size 10 --eta 0.1 "
    "--momentum 0.5 --lmbda 0.5 --seed 3 --device cpu --no-progress"
).split()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_pkl_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    """The weights of the uninterrupted run."""
    cwd = tmp_path_factory.mktemp("reference")
    done = gpunn("train", *RUN, "--data-dir", data_dir, "--save", "net.npz", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return saved_weights(cwd / "net.npz")


def resume_point(stderr):
    """'ckpt-0001-000000.npz' from the 'resuming from …' line of a resumed run."""
    return re.search(r"resuming from \S*?(ckpt-\d+-\d+\.npz)", stderr).group(1)


def finish(folder, data_dir, cwd):
    """Resume the run in ``folder`` to its end; (its saved weights, the checkpoint it took)."""
    done = gpunn("train", "--resume", folder, "--data-dir", data_dir, "--save", "out.npz", cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return saved_weights(cwd / "out.npz"), resume_point(done.stderr)


def ckpt(folder, epoch, batch=0):
    return folder / f"ckpt-{epoch:04d}-{batch:06d}.npz"


def signalled(signals, delay, folder, *args, cwd):
    """Start the run, send ``signals`` ``delay`` s into epoch 2; (exit code, stderr).

    A machine busy enough to hold this process back while the run trains its last
    three epochs makes the signal come too late; that try is run again, up to twice.
    """
    for _ in range(3):
        proc = start("train", *RUN, "--checkpoint-dir", folder, *args, cwd=cwd)
        wait_for(ckpt(folder, 1).exists, proc)
        time.sleep(delay)
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.002)  # (runs of 30 found a write cut short, and a shutdown)
        _, stderr = proc.communicate(timeout=60)
        if proc.returncode != 0:
            return proc.returncode, stderr
        shutil.rmtree(folder)
    raise AssertionError("the run ended before the signal, three times")


def test_sigkill_at_several_points_then_resume_is_identical(tmp_path, data_dir, reference):
    """Kill -9 the run again and again, each time a little after one more epoch's checkpoint."""
    folder = tmp_path / "ckpt"
    killed = []
    for epoch, delay in ((1, 0.0), (2, 0.03), (3, 0.06)):
        args = ("--resume", folder) if epoch > 1 else (*RUN, "--checkpoint-dir", folder)
        proc = start("train", *args, "--data-dir", data_dir, cwd=tmp_path)
        wait_for(ckpt(folder, epoch).exists, proc)
        time.sleep(delay)
        alive = proc.poll() is None
        proc.kill()
        _, stderr = proc.communicate(timeout=60)
        assert "Traceback" not in stderr
        if alive:
            since = resume_point(stderr) if epoch > 1 else "the start"
            killed.append(
                f"SIGKILL {delay * 1000:.0f} ms after {ckpt(folder, epoch).name} "
                f"(run resumed from {since})"
            )
    assert killed, "every run ended before it could be killed"
    weights, point = finish(folder, data_dir, tmp_path)
    assert_same_weights(weights, reference)
    for k in killed:
        print(f"\nidentical after {k}")
    print(f"\n(the last resume started from {point})")


def test_stray_temporary_and_truncated_checkpoints_are_passed_over(tmp_path, data_dir, reference):
    """What a kill in the middle of a write could leave (were writes not atomic) is ignored,
    and so is a folder named like a checkpoint (pruning took it for one and failed)."""
    folder = tmp_path / "ckpt"
    proc = start("train", *RUN, "--checkpoint-dir", folder, "--data-dir", data_dir, cwd=tmp_path)
    wait_for(ckpt(folder, 2).exists, proc)
    proc.kill()
    proc.communicate(timeout=60)
    for later in (3, 4):  # as if the kill came right after epoch 2, however late it came
        ckpt(folder, later).unlink(missing_ok=True)
    (folder / ".ckpt-0003-000000.npz.x1y2.tmp").write_bytes(b"PK\x03\x04 half a zip")
    ckpt(folder, 3).write_bytes(ckpt(folder, 2).read_bytes()[:5000])  # a torn newest file
    ckpt(folder, 0).mkdir()
    weights, point = finish(folder, data_dir, tmp_path)
    assert point == "ckpt-0002-000000.npz"
    assert_same_weights(weights, reference)
    print(f"\nidentical after a torn ckpt-0003 (resumed from {point})")


@pytest.mark.parametrize(
    "sig, delay",
    [(signal.SIGINT, 0.0), (signal.SIGINT, 0.04), (signal.SIGTERM, 0.04)],
    ids=["SIGINT-at-once", "SIGINT-40ms", "SIGTERM-40ms"],
)
def test_a_signal_stops_with_a_checkpoint_and_resume_is_identical(
    sig, delay, tmp_path, data_dir, reference
):
    folder = tmp_path / "ckpt"
    save = tmp_path / "out.npz"
    save.write_bytes(b"an older model, to be left alone")
    code, stderr = signalled(
        [sig], delay, folder, "--save", save, "--data-dir", data_dir, cwd=tmp_path
    )
    assert code == 130, stderr
    line = one_error_line(stderr, "gpunn: stopped: ")
    assert f"{sig.name} received" in line
    where = re.search(r"checkpoint saved in (\S+) ", line).group(1)
    assert (tmp_path / where).is_file() and f"--resume {folder}" in line
    assert save.read_bytes() == b"an older model, to be left alone"
    header, _, _ = read_checkpoint(tmp_path / where)
    assert (header["train"]["epoch"], header["train"]["batch"]) >= (1, 0)

    weights, point = finish(folder, data_dir, tmp_path)
    assert point == (tmp_path / where).name
    assert_same_weights(weights, reference)
    print(f"\nidentical after {sig.name} {delay * 1000:.0f} ms into epoch 2 (resumed from {point})")


def test_a_second_ctrl_c_quits_at_once_without_damage(tmp_path, data_dir, reference):
    folder = tmp_path / "ckpt"
    sigint = [signal.SIGINT, signal.SIGINT]
    code, stderr = signalled(sigint, 0.0, folder, "--data-dir", data_dir, cwd=tmp_path)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert "gpunn: interrupted" in stderr or "gpunn: stopped: SIGINT" in stderr
    assert not list(folder.glob(".*.tmp"))  # a write cut short removed its temporary file
    for path in checkpoint_paths(folder):
        read_checkpoint(path)
    weights, point = finish(folder, data_dir, tmp_path)
    assert_same_weights(weights, reference)
    print(f"\nidentical after two quick SIGINTs (resumed from {point})")


def test_stop_request_asks_once_then_a_second_ctrl_c_raises():
    previous = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested == "SIGTERM"
        os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM only asks again
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
    assert signal.getsignal(signal.SIGINT) is previous


def test_a_second_ctrl_c_waits_for_a_checkpoint_being_written():
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        with stop.hold():
            os.kill(os.getpid(), signal.SIGINT)  # noted, not raised: the stop is under way
            time.sleep(0.01)
        assert stop.requested == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)


def test_a_trainer_writes_its_checkpoint_whole_through_two_ctrl_cs(tmp_path, monkeypatch):
    write = train_module.save_checkpoint

    def write_under_fire(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # asks to stop
        os.kill(os.getpid(), signal.SIGINT)  # would quit at once, but for the write
        time.sleep(0.01)
        return write(*args, **kwargs)

    monkeypatch.setattr(train_module, "save_checkpoint", write_under_fire)
    trainer = Trainer(
        small_net(), blobs(), TrainConfig(epochs=3, eta=0.05), log=quiet, checkpoint_dir=tmp_path
    )
    try:
        trainer.run()
    except KeyboardInterrupt:
        pytest.fail("a second Ctrl-C cut the checkpoint write short")
    except TrainingInterrupted as exc:
        assert exc.checkpoint == tmp_path / "ckpt-0001-000000.npz"
    else:
        pytest.fail("the first Ctrl-C did not stop training")
    read_checkpoint(tmp_path / "ckpt-0001-000000.npz")
    assert os.listdir(tmp_path) == ["ckpt-0001-000000.npz"]


def test_an_exploding_run_stops_keeps_its_last_good_state_and_overwrites_nothing(
    tmp_path, data_dir
):
    folder = tmp_path / "ckpt"
    save = tmp_path / "net.npz"
    save.write_bytes(b"an older model")
    args = ("--checkpoint-dir", folder, "--save", save, "--data-dir", data_dir)
    run = ["--preset", "shallow", "--train-size", "1000", "--epochs", "2", "--device", "cpu"]
    done = gpunn("train", *run, "--eta", "1e30", *args, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    line = one_error_line(done.stderr)
    assert re.search(r"epoch 1: non-finite weights in layer \d \(\w+\).*η = 1e\+30", line)
    assert "try a smaller --eta" in line and str(ckpt(folder, 0)) in line
    assert save.read_bytes() == b"an older model"
    header, params, _ = read_checkpoint(ckpt(folder, 0))
    assert all(np.isfinite(v).all() for v in params.values())
    assert (header["train"]["epoch"], header["train"]["batch"], header["train"]["step"]) == (
        0,
        0,
        0,
    )

    # Resuming the same run fails the same way and leaves the good checkpoint as it was.
    before = snapshot(folder)
    again = gpunn("train", "--resume", folder, "--data-dir", data_dir, cwd=tmp_path)
    assert again.returncode == 3 and "non-finite weights" in one_error_line(again.stderr)
    assert snapshot(folder) == before


def test_skip_batch_policy_is_taken_from_the_command_line(tmp_path, data_dir):
    run = ["--preset", "shallow", "--train-size", "1000", "--epochs", "1", "--device", "cpu"]
    done = gpunn(
        "train", *run, "--eta", "1e30", "--nan-policy", "skip-batch", "--data-dir", data_dir,
        "--checkpoint-dir", "c", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "batch skipped" in done.stderr  # until the weights themselves overflow
    assert "the last good state (the initial weights)" in one_error_line(done.stderr)


# --- the same guarantees through the API ---------------------------------------------------
def quiet(msg):
    pass


def small_net(seed=0):
    return Network(
        [FullyConnected(20, "relu"), Softmax(10)], "log-likelihood", device="cpu", seed=seed
    )


def interrupted_mid_epoch(folder, at_step=90):
    """A run stopped by SIGINT at ``at_step`` (epoch 2, batch 30 of 60): its checkpoint."""
    cfg = TrainConfig(epochs=3, eta=0.05, momentum=0.5, seed=2)
    trainer = Trainer(small_net(), blobs(), cfg, log=quiet, checkpoint_dir=folder)
    interrupt_at_step(trainer, at_step)
    with pytest.raises(TrainingInterrupted) as info:
        trainer.run()
    return info.value.checkpoint


def resumed(folder, **kwargs):
    path, header, params, velocities = load_latest(folder)
    cfg = TrainConfig.from_dict(header["train"]["config"])
    trainer = Trainer(small_net(seed=9), blobs(), cfg, log=quiet, checkpoint_dir=folder, **kwargs)
    trainer.restore(header["train"], params, velocities, path)
    return trainer


def test_a_nan_after_a_mid_epoch_resume_rolls_back_to_that_very_point(tmp_path):
    where = interrupted_mid_epoch(tmp_path / "c")
    assert where.name == "ckpt-0001-000030.npz"
    before = snapshot(tmp_path / "c")
    trainer = resumed(tmp_path / "c")
    step = trainer.optimizer.step

    def step_then_poison(net, m):
        step(net, m)
        if trainer.step == 100:
            net.layers[1].w[0, 0] = np.inf

    trainer.optimizer.step = step_then_poison
    with pytest.raises(NumericalError, match=r"\(epoch 2, batch 30\) is in .*ckpt-0001-000030"):
        trainer.run()
    assert (trainer.epoch, trainer.batch, trainer.step) == (1, 30, 90)
    assert snapshot(tmp_path / "c") == before  # the good checkpoint, untouched


def test_an_interrupt_after_the_weights_blew_up_saves_no_checkpoint_of_them(tmp_path):
    """Its checkpoint would be one --resume refuses: the run stops on the NaN instead, at
    the last good state."""
    cfg = TrainConfig(epochs=3, eta=0.05, seed=2)
    trainer = Trainer(small_net(), blobs(), cfg, log=quiet, checkpoint_dir=tmp_path / "c")
    step = trainer.optimizer.step

    def step_then_poison_then_signal(net, m):
        step(net, m)
        if trainer.step + 1 == 85:
            net.layers[1].w[0, 0] = np.inf
        if trainer.step + 1 == 90:
            os.kill(os.getpid(), signal.SIGINT)

    trainer.optimizer.step = step_then_poison_then_signal
    with pytest.raises(NumericalError, match=r"end of epoch 1\) is in .*ckpt-0001-000000"):
        trainer.run()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["ckpt-0001-000000.npz"]


def test_an_interrupt_right_after_a_resume_rewrites_nothing(tmp_path):
    where = interrupted_mid_epoch(tmp_path / "c")
    before = snapshot(tmp_path / "c")
    trainer = resumed(tmp_path / "c")
    snap = trainer._snapshot

    def signal_then_snapshot():  # SIGINT before the first batch of the resumed run
        os.kill(os.getpid(), signal.SIGINT)
        return snap()

    trainer._snapshot = signal_then_snapshot
    with pytest.raises(TrainingInterrupted) as info:
        trainer.run()
    assert info.value.checkpoint == where
    assert snapshot(tmp_path / "c") == before


def test_without_a_checkpoint_dir_an_interrupt_saves_beside_not_into_another_run(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    interrupted_mid_epoch(Path("gpunn-checkpoints"))
    before = snapshot(tmp_path / "gpunn-checkpoints")
    cfg = TrainConfig(epochs=2, eta=0.05)
    trainer = Trainer(small_net(), blobs(), cfg, log=quiet)
    trainer.optimizer.step = lambda net, m: os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="--resume gpunn-checkpoints-2") as info:
        trainer.run()
    assert info.value.checkpoint.parent == Path("gpunn-checkpoints-2")
    assert snapshot(tmp_path / "gpunn-checkpoints") == before


def test_a_checkpoint_that_does_not_fit_its_network_names_the_file(tmp_path):
    where = interrupted_mid_epoch(tmp_path / "c")
    header, params, buffers = read_checkpoint(where)
    params["layer0/w"] = params["layer0/w"][:, :-1]
    with pytest.raises(ModelFileError, match=f"{where}: not a run gpunn can continue"):
        restore_network(where, header, params, buffers)
    for key in ("velocity/layer0/w", "average/layer0/w"):
        with pytest.raises(ModelFileError, match=f"{key} of shape \\(3,\\) fits no parameter"):
            restore_network(where, header, read_checkpoint(where)[1], {key: np.zeros(3)})
    with pytest.raises(ModelFileError, match="'momentum/layer0/w' is not an optimizer buffer"):
        restore_network(
            where, header, read_checkpoint(where)[1], {"momentum/layer0/w": np.zeros(3)}
        )
    header["train"]["config"]["eta"] = -1.0
    with pytest.raises(ModelFileError, match="eta"):
        restore_network(where, header, read_checkpoint(where)[1], {})


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("layer0/w", np.nan, "layer0/w holds NaN or infinite values"),
        ("velocity/layer0/w", np.inf, "velocity/layer0/w holds NaN or infinite values"),
        ("average/layer0/b", np.nan, "average/layer0/b holds NaN or infinite values"),
        ("velocity/layer0/w", "x", "velocity/layer0/w holds <U1 values, not real numbers"),
        ("velocity/layer0/w", 1e39, "velocity/layer0/w holds values that are not finite in"),
    ],
)
def test_a_checkpoint_holding_no_numbers_or_not_finite_ones_is_refused(tmp_path, key, value, words):
    """Resumed, NaN weights read as exploded gradients; NaN averages made a file that
    ``evaluate`` then refused; text velocities were a traceback."""
    where = interrupted_mid_epoch(tmp_path / "c")
    header, params, buffers = read_checkpoint(where)
    name = key.removeprefix("velocity/").removeprefix("average/")  # the parameter's
    (params if key == name else buffers)[key] = np.full(params[name].shape, value)
    resumed_as = "(not a run gpunn can continue \\()?"  # the velocity's overflow: on taking it
    with pytest.raises(ModelFileError, match=f"{where}: {resumed_as}{words}"):
        restore_network(where, header, params, buffers)


@pytest.mark.parametrize(
    "run_info, words",
    [
        ({"expand": ["x"]}, "run_info's expand is not text"),
        ({"expand": "rotate"}, "run_info's expand is 'rotate'"),
        ({"outputs": {"zzz": "x"}}, "run_info's outputs are not save and metrics file names"),
        ({"ensemble": "x"}, "run_info's ensemble is not a whole number"),
        ({"train_size": True}, "run_info's train_size is not a whole number"),
    ],
)
def test_a_checkpoint_whose_run_info_is_not_gpunn_s_is_refused(tmp_path, run_info, words):
    where = interrupted_mid_epoch(tmp_path / "c")
    header, params, buffers = read_checkpoint(where)
    header["train"]["run_info"] = {**header["train"].get("run_info", {}), **run_info}
    with pytest.raises(ModelFileError, match=f"{where}: not a run gpunn can continue.*{words}"):
        restore_network(where, header, params, buffers)


def _train_edit(**changes):
    return lambda h: {**h, "train": {**h["train"], **changes}}


def _tracker_edit(**changes):
    return lambda h: {**h, "train": {**h["train"], "tracker": {**h["train"]["tracker"], **changes}}}


HAND_EDITED = {  # what a hand-edited header may say, and the words of the refusal
    "a negative epoch": (_train_edit(epoch=-5), "lacks a valid 'epoch'"),
    "a negative step": (_train_edit(step=-1), "lacks a valid 'step'"),
    "endless seconds": (_train_edit(total_seconds=float("inf")), "lacks a valid 'total_seconds'"),
    "a history of numbers": (_train_edit(history=[1]), "history holds something not an epoch"),
    "outputs of numbers": (
        _train_edit(run_info={"outputs": [1]}),
        "run_info's outputs is not a mapping",
    ),
    "a count as text": (_tracker_edit(since_best="x"), "tracker's since_best is not a count"),
    "a zero learning rate": (_tracker_edit(eta=0.0), "tracker's eta is not a positive number"),
    "an accuracy of 2": (
        _tracker_edit(best_validation_accuracy=2.0),
        "tracker's best_validation_accuracy is not an accuracy",
    ),
}


@pytest.mark.parametrize("case", HAND_EDITED)
def test_a_hand_edited_checkpoint_is_one_clear_error_on_resume(case, tmp_path, capsys):
    where = interrupted_mid_epoch(tmp_path / "c")
    for older in checkpoint_paths(tmp_path / "c")[:-1]:  # else resume would fall back on one
        older.unlink()
    edit, words = HAND_EDITED[case]
    where.write_bytes(edited(where.read_bytes(), header=edit))
    assert main(["train", "--resume", str(tmp_path / "c"), "--device", "cpu"]) == 2
    assert words in one_error_line(capsys.readouterr().err)


def test_load_model_refuses_averages_that_do_not_fit_the_checkpoints_run(tmp_path):
    """An ema run's checkpoint is evaluated with its averages only when every parameter has
    one; averages in a run without ema, or for some parameters only, are a clear error."""
    where = interrupted_mid_epoch(tmp_path / "c")  # momentum 0.5, no ema
    header, arrays = read_npz(where, {CHECKPOINT_FORMAT: CHECKPOINT_FORMAT_VERSION})
    averages = {f"average/{k[len('param/') :]}": v + 1 for k, v in arrays.items() if "param/" in k}

    def written(name, ema, extra):
        train = {**header["train"], "config": {**header["train"]["config"], "ema": ema}}
        write_npz(tmp_path / name, {**arrays, **extra}, {**header, "train": train})
        return tmp_path / name

    with pytest.raises(ModelFileError, match="holds averages of the weights, but its run kept"):
        load_model(written("no-ema.npz", 0.0, averages))
    part = {k: v for k, v in averages.items() if not k.endswith("/b")}
    with pytest.raises(ModelFileError, match="missing: layer0/b, layer1/b; not parameters: none"):
        load_model(written("part.npz", 0.9, part))
    both = written("both.npz", 0.9, averages)
    for trained, shift in ((False, 1), (True, 0)):
        for k, v in load_model(both, trained_weights=trained).state().items():
            np.testing.assert_array_equal(v, arrays[f"param/{k}"] + shift)
    for k, v in load_model(written("first.npz", 0.9, {})).state().items():
        np.testing.assert_array_equal(v, arrays[f"param/{k}"])  # before any step a = w


def bad(split, field, value):
    data = blobs(n_train=100, n_validation=20, n_test=20)
    setattr(getattr(data, split), field, value)
    return data


@pytest.mark.parametrize(
    "data, error, message",
    [
        (bad("train", "x", np.zeros((100, 783))), ShapeError, r"\(100, 783\)"),
        (bad("train", "x", np.zeros((100, 28, 28))), ShapeError, r"\(100, 28, 28\)"),
        (bad("test", "x", np.zeros((20, 784, 1))), ShapeError, r"\(20, 784, 1\)"),
        (bad("train", "x", np.zeros((100, 784), complex)), DataError, "real numbers"),
        (bad("train", "x", np.full((100, 784), "0.5")), DataError, "real numbers"),
        (bad("train", "x", np.zeros((100, 784), object)), DataError, "real numbers"),
        (bad("train", "y", np.zeros(100)), DataError, "labels must be integers"),
        (bad("train", "y", np.zeros((100, 10), int)), ShapeError, r"labels have shape \(100, 10\)"),
        (
            bad("train", "y", np.zeros(50, int)),
            ShapeError,
            r"shape \(50,\), but there are 100 images",
        ),
        (bad("train", "y", np.arange(100) % 11), DataError, "from 0 to 10.*classes 0 to 9"),
        (bad("train", "y", np.arange(100) % 10 - 1), DataError, "from -1 to 8"),
        (bad("validation", "y", np.full(20, 12)), DataError, "validation labels"),
    ],
    ids=[
        "x 783 wide",
        "x as 28x28 images",
        "x with an extra axis",
        "x complex",
        "x strings",
        "x objects",
        "y floats",
        "y one-hot",
        "y too few",
        "y up to 10",
        "y down to -1",
        "validation y 12",
    ],
)
def test_bad_data_is_refused_before_training(data, error, message):
    with pytest.raises(error, match=message):
        Trainer(small_net(), data, TrainConfig(epochs=1), log=quiet)


def test_lists_and_bools_are_fine_data_and_raw_bytes_are_not():
    data = blobs(n_train=100, n_validation=20, n_test=20)
    data.train.x = (data.train.x > 0.5).tolist()
    data.train.y = data.train.y.tolist()
    Trainer(small_net(), data, TrainConfig(epochs=1, eta=0.1), log=quiet).run()
    data.validation.x = (data.validation.x * 255).astype(np.uint8)  # 0-255: not what it means
    with pytest.raises(DataError, match="validation images are integers from 0 to 2"):
        Trainer(small_net(), data, TrainConfig(epochs=1, eta=0.1), log=quiet)
    data.validation.x = np.full((20, 784), np.nan, np.float32)
    with pytest.raises(DataError, match="validation images hold NaN or infinite values"):
        Trainer(small_net(), data, TrainConfig(epochs=1, eta=0.1), log=quiet)


# Network.predict and Network.evaluate check what they are given, as the Trainer does.
def test_network_evaluate_checks_the_shape():
    with pytest.raises(ShapeError):
        small_net().evaluate(np.zeros((5, 783), np.float32), np.zeros(5, np.int64))


def test_network_evaluate_checks_the_labels():
    with pytest.raises(GpunnError):
        small_net().evaluate(np.zeros((5, 784), np.float32), np.array([0, 1, 2, 3, 10]))


def test_network_predict_checks_the_dtype():
    with pytest.raises(GpunnError):
        small_net().predict(np.full((2, 784), "a"))


def test_network_predict_takes_no_examples():
    assert small_net().predict(np.zeros((0, 784))).shape == (0,)


def ensemble_weights(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k.startswith("member")}


def test_an_interrupted_ensemble_resumes_as_a_whole(tmp_path, data_dir):
    args = [*RUN, "--ensemble", "2", "--data-dir", data_dir]
    done = gpunn("train", *args, "--save", "reference.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "members checkpoint into gpunn-checkpoints/" in done.stderr  # even unasked
    folder = tmp_path / "ensemble"
    for _ in range(3):  # as in signalled(): a busy machine may let member 2 finish first
        proc = start("train", *args, "--checkpoint-dir", folder, "--save", "out.npz", cwd=tmp_path)
        wait_for((folder / "member1" / "ckpt-0001-000000.npz").exists, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        if proc.returncode:
            break
        shutil.rmtree(folder)
    assert proc.returncode == 130, stderr
    line = one_error_line(stderr, "gpunn: stopped: ")
    assert "ensemble member 2/2: SIGINT received" in line and f"--resume {folder})" in line
    assert not (tmp_path / "out.npz").exists()
    done = gpunn("train", "--resume", folder, "--data-dir", data_dir, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    reference = ensemble_weights(tmp_path / "reference.npz")
    assert_same_weights(ensemble_weights(tmp_path / "out.npz"), reference)


def test_checkpoints_of_a_later_run_in_the_folder_do_not_prune_this_one_s(tmp_path):
    """Pruning keeps the newest ``keep`` up to the checkpoint just written: files of later
    positions (left by another run) never push it out."""
    for name in ("ckpt-0010-000000.npz", "ckpt-0011-000000.npz", "ckpt-0012-000000.npz"):
        (tmp_path / name).write_bytes(b"another run's")
    cfg = TrainConfig(epochs=3, eta=0.05)
    Trainer(small_net(), blobs(), cfg, log=quiet, checkpoint_dir=tmp_path, keep_checkpoints=2).run()
    names = [p.name for p in checkpoint_paths(tmp_path)]
    assert names[:2] == ["ckpt-0002-000000.npz", "ckpt-0003-000000.npz"] and len(names) == 5
    for keep in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="keep_checkpoints must be a positive integer"):
            Trainer(small_net(), blobs(), cfg, checkpoint_dir=tmp_path, keep_checkpoints=keep)
