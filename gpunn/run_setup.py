"""What ``gpunn train`` sets up before any work: the network, ``TrainConfig`` and run record
of a fresh run (a preset and the options over it) or of a resumed one (its newest good
checkpoint, with the options checked against it), the data split as in the book, and the
checks that its outputs can be written and do not mix runs."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from gpunn.backend import get_device
from gpunn.errors import ConfigError
from gpunn.files import resolved


def say(msg: str) -> None:
    """A line on stderr, at once (progress and notices; stdout keeps the results)."""
    print(msg, file=sys.stderr, flush=True)


def tell(line: str) -> None:
    """A line on stdout while anyone reads it: for work whose results are its files, a
    closed pipe (``… | head -1``) silences stdout rather than ending the work."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone, so that neither later lines nor
    Python's own flush at exit complain (nothing to do where stdout has no file)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def source_files(source) -> list[Path]:
    """The files a dataset was read from: its IDX files when ``source`` is a folder."""
    from gpunn.data.sources import IDX_NAMES, find_idx_file

    source = Path(source)
    if not source.is_dir():
        return [source]
    return [p for p in (find_idx_file(source, name) for name in IDX_NAMES) if p is not None]


def load_data(name: str, data_dir, train_size=None, validation_size=None):
    """The dataset split as in the book; ``validation_size`` None keeps the book's 10,000."""
    from gpunn import data

    return data.load(
        name, data_dir, train_size=train_size, validation_size=held_out(validation_size)
    )


# ``gpunn train`` options that override a preset's TrainConfig field of the same name
CONFIG_OPTIONS = (
    "epochs",
    "mini_batch_size",
    "eta",
    "lmbda",
    "l1",
    "momentum",
    "ema",
    "schedule",
    "early_stopping",
    "warmup",
    "anneal",
    "order",
    "distort_strength",
    "distort_scale",
    "elastic_alpha",
    "seed",
    "nan_policy",
    "monitor_training_cost",
    "monitor_training_accuracy",
    "monitor_validation_cost",
)
# ``gpunn train`` options left as None on the command line, and what None means
TRAIN_DEFAULTS = {"preset": "fc30", "dataset": "mnist", "dtype": "float32"}


def build_run(args):
    """(network, TrainConfig, run_info) for a fresh run from a preset and flag overrides."""
    from gpunn.config import DISTORTION_DEFAULTS
    from gpunn.presets import get_preset

    for k, v in TRAIN_DEFAULTS.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    preset = get_preset(args.preset)
    config = preset.config(**{k: getattr(args, k) for k in CONFIG_OPTIONS})
    if args.schedule == 0:  # --schedule 0: no schedule, whatever the preset's
        config = replace(config, schedule=None)
    expand = (
        preset.expand if args.expand is None else (None if args.expand == "none" else args.expand)
    )
    for name in DISTORTION_DEFAULTS:  # given on the command line: refused without distort
        if getattr(args, name) is not None and expand != "distort":
            raise ConfigError(
                f"--{name.replace('_', '-')} {getattr(args, name):g} needs --expand distort "
                f"(this run's expansion: {expand or 'none'})"
            )
    transform = "deskew" if args.deskew else None
    network = preset.network(get_device(args.device), args.dtype, config.seed, args.init, transform)
    run_info = {
        "preset": preset.name,
        "dataset": args.dataset,
        "train_size": args.train_size,
        "validation_size": held_out(args.validation_size),
        "expand": expand,
        "init": args.init,
        "input_transform": transform,
        "ensemble": args.ensemble or (preset.ensemble if preset.ensemble > 1 else None),
        # where the results go, so that a --resume writes them there too
        "outputs": {
            k: str(resolved(v, f"--{k}")) if v else None
            for k, v in (("save", args.save), ("metrics", args.metrics))
        },
    }
    return network, config, run_info


def held_out(validation_size: int | None) -> int:
    """The number of validation images: the book's 10,000 unless told otherwise."""
    from gpunn.data import VALIDATION_SIZE

    return VALIDATION_SIZE if validation_size is None else validation_size


def resume_run(args):
    """(network, TrainConfig, run_info, checkpoint) from the newest good checkpoint in a folder."""
    from gpunn.checkpoint import checkpoint_paths, load_latest, restore_network

    if args.ensemble:
        raise ConfigError("--ensemble cannot be combined with --resume (the run knows its size)")
    folder = Path(args.resume)
    # an ensemble's folder holds member0/, member1/, … and no checkpoint of its own
    ensemble = folder.is_dir() and not checkpoint_paths(folder) and (folder / "member0").is_dir()
    path, header, params, buffers = load_latest(folder / "member0" if ensemble else folder)
    device = get_device(args.device)
    network, config = restore_network(path, header, params, buffers, device)
    train_state = header["train"]
    run_info = dict(train_state.get("run_info", {}))
    if ensemble and args.checkpoint_dir and resolved(args.checkpoint_dir) != resolved(folder):
        raise ConfigError(
            f"--checkpoint-dir {args.checkpoint_dir}: an ensemble resumed from {folder} "
            f"goes on checkpointing there; leave --checkpoint-dir out"
        )
    if run_info.get("ensemble") and not ensemble:
        raise ConfigError(
            f"--resume {folder}: holds member {run_info.get('member')} of an ensemble of "
            f"{run_info['ensemble']}; continue the whole ensemble with --resume {folder.parent}"
        )
    _check_resume_options(args, config, run_info, network)
    for k, v in run_info.get("outputs", {}).items():  # the run's own --save and --metrics
        if getattr(args, k) is None and v is not None:
            setattr(args, k, v)
    # given anew: the checkpoints from here on name them, so a later --resume writes there
    run_info["outputs"] = {
        k: str(resolved(getattr(args, k), f"--{k}")) if getattr(args, k) else None
        for k in ("save", "metrics")
    }
    say(f"resuming from {path} (epoch {train_state['epoch']}, batch {train_state['batch']})")
    return network, config, run_info, (train_state, params, buffers, path)


def _check_resume_options(args, config, run_info: dict, network) -> None:
    """ConfigError when an option given with --resume differs from the run's own setting."""
    theirs = {k: getattr(config, k) for k in CONFIG_OPTIONS}
    theirs["schedule"] = theirs["schedule"] or 0  # as --schedule gives "none"
    theirs.update({k: run_info.get(k) for k in ("preset", "dataset", "train_size")})
    # (a run from before the option has none: it held out the default)
    theirs["validation_size"] = held_out(run_info.get("validation_size"))
    schemes = {layer.init for layer in network.layers}  # the preset's, when --init was not given
    theirs["init"] = run_info.get("init") or (schemes.pop() if len(schemes) == 1 else None)
    theirs.update(dtype=network.dtype.name, expand=run_info.get("expand") or "none")
    theirs["deskew"] = network.input_transform == "deskew"
    differ = [
        _option_words(k, getattr(args, k), v)
        for k, v in theirs.items()
        if getattr(args, k) is not None and getattr(args, k) != v
    ]
    if differ:
        raise ConfigError(
            f"--resume {args.resume} continues a run with its own settings, but "
            f"{', '.join(differ)}: leave these out, or start a new run"
        )


def _option_words(name: str, given, theirs) -> str:
    """How an option given with --resume reads beside the run's own value of it."""
    flag = f"--{'batch-size' if name == 'mini_batch_size' else name.replace('_', '-')}"
    if isinstance(given, bool):  # a switch: given means on
        return f"{flag} (the run has it {'on' if theirs else 'off'})"
    return f"{flag} {given} (the run has {theirs})"


def check_validation(config, validation_size) -> None:
    """ConfigError when a setting steered by validation accuracy has no validation images."""
    steered = [f"--{name.replace('_', '-')} {v}" for name, v in config.validation_steered()]
    if validation_size == 0 and steered:
        raise ConfigError(
            f"--validation-size 0 leaves no validation images, but {' and '.join(steered)} "
            f"{'follow' if len(steered) > 1 else 'follows'} validation accuracy "
            f"(--schedule 0 turns a preset's schedule off)"
        )


def check_outputs(args, checkpoint_dir, members: int | None = None) -> None:
    """Fail before training, not after, when an output cannot be written, takes another
    output's name, or would mix runs (``members``: an ensemble's size, whose members'
    epochs go to FILE.member{k} beside --metrics FILE)."""
    from gpunn.checkpoint import checkpoint_paths
    from gpunn.files import check_distinct, check_output

    files = {"--save": args.save, "--metrics": args.metrics}
    if args.metrics:
        for k in range(members or 0):
            files[f"--metrics (member {k})"] = f"{args.metrics}.member{k}"
    check_distinct(files)
    for option, path in files.items():
        if path:
            check_output(path, option)
    if checkpoint_dir is None:
        return
    folder = check_output(checkpoint_dir, "--checkpoint-dir", folder=True)
    for option, path in files.items():
        if path and resolved(path) == resolved(folder):
            raise ConfigError(f"{option} {path}: is the --checkpoint-dir; give a file in it")
        if path and resolved(Path(path).parent) == resolved(folder):
            if Path(path).match("ckpt-*.npz"):
                raise ConfigError(
                    f"{option} {path}: is named as the run's checkpoints in {folder}; "
                    f"give another name"
                )
    if args.resume and resolved(folder) == resolved(args.resume):
        return
    others = checkpoint_paths(folder) + sorted(folder.glob("member*/ckpt-*.npz"))
    if others:
        raise ConfigError(
            f"--checkpoint-dir {folder}: already holds checkpoints of another run "
            f"({others[-1].relative_to(folder)}); continue that run with --resume {folder}, "
            f"or give an empty folder"
        )
