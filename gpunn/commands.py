"""What the ``gpunn`` sub-commands do, given their parsed arguments (see ``gpunn.cli``):
``train`` and its options, ``presets``, ``gradients`` and ``bench``, and the helpers every
command shares; ``gpunn.inspect_commands`` has those that look at networks, runs and data."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from gpunn.backend import get_device
from gpunn.errors import ConfigError


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def source_files(source) -> list[Path]:
    """The files a dataset was read from: its IDX files when ``source`` is a folder."""
    from gpunn.data.sources import IDX_NAMES, find_idx_file

    source = Path(source)
    if not source.is_dir():
        return [source]
    return [p for p in (find_idx_file(source, name) for name in IDX_NAMES) if p is not None]


def _load_data(name: str, data_dir, train_size=None, validation_size=None):
    """The dataset split as in the book; ``validation_size`` None keeps the book's 10,000."""
    from gpunn import data

    return data.load(
        name, data_dir, train_size=train_size, validation_size=_held_out(validation_size)
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


def _build_run(args):
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
    network = preset.network(get_device(args.device), args.dtype, config.seed, args.init)
    run_info = {
        "preset": preset.name,
        "dataset": args.dataset,
        "train_size": args.train_size,
        "validation_size": _held_out(args.validation_size),
        "expand": expand,
        "init": args.init,
        "ensemble": args.ensemble or (preset.ensemble if preset.ensemble > 1 else None),
        # where the results go, so that a --resume writes them there too
        "outputs": {
            k: str(Path(v).resolve()) if v else None
            for k, v in (("save", args.save), ("metrics", args.metrics))
        },
    }
    return network, config, run_info


def _held_out(validation_size: int | None) -> int:
    """The number of validation images: the book's 10,000 unless told otherwise."""
    from gpunn.data import VALIDATION_SIZE

    return VALIDATION_SIZE if validation_size is None else validation_size


def _resume_run(args):
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
    if ensemble and args.checkpoint_dir and Path(args.checkpoint_dir).resolve() != folder.resolve():
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
    _say(f"resuming from {path} (epoch {train_state['epoch']}, batch {train_state['batch']})")
    return network, config, run_info, (train_state, params, buffers, path)


def _check_resume_options(args, config, run_info: dict, network) -> None:
    """ConfigError when an option given with --resume differs from the run's own setting."""
    theirs = {k: getattr(config, k) for k in CONFIG_OPTIONS}
    theirs["schedule"] = theirs["schedule"] or 0  # as --schedule gives "none"
    theirs.update({k: run_info.get(k) for k in ("preset", "dataset", "train_size")})
    # (a run from before the option has none: it held out the default)
    theirs["validation_size"] = _held_out(run_info.get("validation_size"))
    schemes = {layer.init for layer in network.layers}  # the preset's, when --init was not given
    theirs["init"] = run_info.get("init") or (schemes.pop() if len(schemes) == 1 else None)
    theirs.update(dtype=network.dtype.name, expand=run_info.get("expand") or "none")
    differ = [
        f"--{'batch-size' if k == 'mini_batch_size' else k.replace('_', '-')} {getattr(args, k)}"
        f" (the run has {v})"
        for k, v in theirs.items()
        if getattr(args, k) is not None and getattr(args, k) != v
    ]
    if differ:
        raise ConfigError(
            f"--resume {args.resume} continues a run with its own settings, but "
            f"{', '.join(differ)}: leave these out, or start a new run"
        )


def cmd_train(args) -> int:
    from gpunn.files import check_not_input
    from gpunn.train import Trainer

    if args.resume:
        network, config, run_info, checkpoint = _resume_run(args)
        checkpoint_dir = args.checkpoint_dir or args.resume
    else:
        network, config, run_info = _build_run(args)
        checkpoint, checkpoint_dir = None, args.checkpoint_dir
    config.check()
    _check_validation(config, run_info.get("validation_size"))
    _check_outputs(args, checkpoint_dir)
    data = _load_data(
        run_info.get("dataset", "mnist"),
        args.data_dir,
        run_info.get("train_size"),
        run_info.get("validation_size"),
    )
    inputs = source_files(data.source)  # known only now: no output may be one of them
    for option, path in (("--save", args.save), ("--metrics", args.metrics)):
        if path:
            check_not_input(path, option, inputs)
    distortions = ", ".join(_distortion_words(config))
    images = {
        "shifts": f"{5 * len(data.train.x)} training images (5× by one-pixel shifts)",
        "distort": f"{len(data.train.x)} training images, freshly distorted each epoch"
        + (f" ({distortions})" if distortions else ""),
    }.get(run_info.get("expand"), f"{len(data.train.x)} training images")
    eta_words = ", ".join(_eta_words(config))
    _say(
        f"training {run_info.get('preset', 'network')} on {network.device.describe()}: "
        f"{images}"
        + (" in a fixed order" if config.order == "fixed" else "")
        + f", {_epochs(config.epochs)}, mini-batch {config.mini_batch_size}, "
        f"η {config.eta:g}"
        + (f" ({eta_words})" if eta_words else "")
        + (
            f"; the weights' moving average (β {config.ema:g}) evaluated and kept"
            if config.ema
            else ""
        )
    )
    if run_info.get("ensemble"):
        from gpunn.experiments import train_ensemble

        return train_ensemble(args, network, config, run_info, data, checkpoint, checkpoint_dir)
    trainer = Trainer(
        network,
        data,
        config,
        checkpoint_dir=checkpoint_dir,
        keep_checkpoints=args.keep_checkpoints,
        metrics_path=args.metrics,
        progress=args.progress,
        expand=run_info.get("expand"),
        run_info=run_info,
    )
    if checkpoint is not None:
        trainer.restore(*checkpoint)
    result = trainer.run()
    s = result.summary
    if s["test_accuracy_at_best_validation"] is not None:
        best = s["best_validation_accuracy"]
        best_text = (
            f" (best validation {best:.2%} at epoch {s['best_epoch']})"
            if best is not None
            else " (last epoch; no validation accuracy)"
        )
        graphs = " (steps replayed as CUDA graphs)" if s.get("step_mode") == "graph" else ""
        print(
            f"test accuracy {s['test_accuracy_at_best_validation']:.2%}{best_text}, "
            f"{s['total_seconds']:.1f} s of training{graphs}"
        )
    if args.save:
        network.save(args.save, {"train": config.to_dict(), **run_info, "summary": s})
        _say(f"saved the network to {args.save}")
    return 0


def _check_validation(config, validation_size) -> None:
    """ConfigError when a setting steered by validation accuracy has no validation images."""
    steered = [f"--{name.replace('_', '-')} {v}" for name, v in config.validation_steered()]
    if validation_size == 0 and steered:
        raise ConfigError(
            f"--validation-size 0 leaves no validation images, but {' and '.join(steered)} "
            f"{'follow' if len(steered) > 1 else 'follows'} validation accuracy "
            f"(--schedule 0 turns a preset's schedule off)"
        )


def _check_outputs(args, checkpoint_dir) -> None:
    """Fail before training, not after, when an output cannot be written, takes another
    output's name, or would mix runs."""
    from gpunn.checkpoint import checkpoint_paths
    from gpunn.files import check_distinct, check_output

    files = {"--save": args.save, "--metrics": args.metrics}
    check_distinct(files)
    for option, path in files.items():
        if path:
            check_output(path, option)
    if checkpoint_dir is None:
        return
    folder = check_output(checkpoint_dir, "--checkpoint-dir", folder=True)
    for option, path in files.items():
        if path and Path(path).resolve() == folder.resolve():
            raise ConfigError(f"{option} {path}: is the --checkpoint-dir; give a file in it")
        if path and Path(path).parent.resolve() == folder.resolve():
            if Path(path).match("ckpt-*.npz"):
                raise ConfigError(
                    f"{option} {path}: is named as the run's checkpoints in {folder}; "
                    f"give another name"
                )
    if args.resume and folder.resolve() == Path(args.resume).resolve():
        return
    others = checkpoint_paths(folder) + sorted(folder.glob("member*/ckpt-*.npz"))
    if others:
        raise ConfigError(
            f"--checkpoint-dir {folder}: already holds checkpoints of another run "
            f"({others[-1].relative_to(folder)}); continue that run with --resume {folder}, "
            f"or give an empty folder"
        )


def _distortion_words(config) -> list[str]:
    """The settings away from the defaults: ['strength 0.5', 'sizes ×(1 ± 0.1)', 'elastic α 0']."""
    words = {
        "distort_strength": lambda v: f"strength {v:g}",
        "distort_scale": lambda v: f"sizes ×(1 ± {v:g})",
        "elastic_alpha": lambda v: f"elastic α {v:g}",
    }
    return [words[name](v) for name, v in config.distortion_settings()]


def _eta_words(config) -> list[str]:
    """How η moves within the run: ['warmed up over 1 epoch', 'cosine-annealed to 0']."""
    words = [f"warmed up over {_epochs(config.warmup)}"] if config.warmup else []
    return words + (["cosine-annealed to 0"] if config.anneal == "cosine" else [])


def _epochs(n: float) -> str:
    """'1 epoch', '40 epochs', '1.5 epochs'."""
    return f"{n:g} epoch{'s' * (n != 1)}"


def cmd_presets(args) -> int:
    from gpunn.presets import PRESETS

    for p in PRESETS.values():
        t = p.config()
        extra = f", λ {t.lmbda:g}" if t.lmbda else ""
        extra += "".join(f", η {words}" for words in _eta_words(t))
        extra += ", expanded data ×5" if p.expand else ""
        extra += f"; an ensemble of {p.ensemble}" if p.ensemble > 1 else ""
        epochs = f"{t.epochs} epochs"
        if t.schedule:
            epochs = f"up to {epochs} (η halved after {t.schedule} without improvement)"
        print(f"{p.name:<20} book {p.book_accuracy:5.2f}%  {p.reference}")
        print(
            f"{'':<20} {p.describe_layers()}; {p.cost}, η {t.eta:g}, mini-batch "
            f"{t.mini_batch_size}, {epochs}{extra}"
        )
    return 0


def cmd_gradients(args) -> int:
    from gpunn.experiments import gradient_study

    return gradient_study(args)


def cmd_bench(args) -> int:
    """Training and inference throughput against PyTorch (see ``gpunn.benchmark``)."""
    from gpunn.benchmark.cli import run

    return run(args)
