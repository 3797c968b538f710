"""Presets build the book's networks; ``init`` overrides every layer's weight scheme."""

import numpy as np
import pytest

from gpunn.errors import ConfigError
from gpunn.presets import PRESETS, get_preset


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_builds_its_network(name):
    preset = get_preset(name)
    net = preset.network("cpu", seed=0)
    assert net.input_shape == preset.input_shape
    assert net.n_outputs == 10
    preset.config().check()  # raises ConfigError if out of range


def test_init_overrides_the_preset_scheme():
    preset = get_preset("fc30")  # the book's N(0, 1) only when asked for
    default = preset.network("cpu", seed=0).layers[0].w
    large = preset.network("cpu", seed=0, init="large").layers[0].w
    assert np.std(default) == pytest.approx(1 / np.sqrt(784), rel=0.02)
    assert np.std(large) == pytest.approx(1.0, rel=0.02)
    assert all(layer.init == "large" for layer in preset.network(init="large").layers)


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="unknown preset 'fc31'"):
        get_preset("fc31")
    with pytest.raises(ConfigError, match="unknown init 'xavier'"):
        get_preset("fc30").network("cpu", init="xavier")


def test_the_presets_command_lists_every_preset_with_its_schedule(capsys):
    from gpunn.cli import main

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n{name} " in f"\n{out}" for name in PRESETS)
    assert "up to 120 epochs (η halved after 5 without improvement), λ 5" in out
    assert "mini-batch 256, 40 epochs, η warmed up over 1 epoch, expanded data ×5" in out


def test_final_fast_is_final_with_a_larger_batch_and_a_warmed_up_eta():
    final, fast = get_preset("final"), get_preset("final-fast")
    assert fast.describe_layers() == final.describe_layers() and fast.expand == final.expand
    c = fast.config()
    assert (c.mini_batch_size, c.eta, c.warmup) == (256, pytest.approx(0.03 * 256 / 10, 0.05), 1.0)


def test_ensemble_presets_train_five_members_unless_told_otherwise():
    from gpunn.parser import build_parser
    from gpunn.run_setup import build_run

    def ensemble(*argv):
        return build_run(build_parser().parse_args(["train", *argv]))[2]["ensemble"]

    assert ensemble("--preset", "ensemble5") == 5
    assert ensemble("--preset", "ensemble5-fast", "--ensemble", "3") == 3
    assert ensemble("--preset", "final") is None
    assert get_preset("ensemble5").describe_layers() == get_preset("final").describe_layers()
