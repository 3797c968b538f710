"""Commands that run many trainings: ensembles (train --ensemble K) and chapter 5's study."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpunn import run_setup, signals
from gpunn.backend import get_device
from gpunn.run_setup import say, tell


def train_ensemble(args, first, config, run_info, data, checkpoint, folder) -> int:
    """Train (or, resuming, finish) run_info["ensemble"] members with seeds seed, seed+1, …;
    report each and the combination.

    Member k checkpoints into ``folder``/member{k} (``folder`` defaults to a fresh
    gpunn-checkpoints), so an interrupted ensemble continues with ``--resume folder``.
    ``checkpoint`` is member 0's when resuming, else None.
    """
    from dataclasses import replace

    from gpunn.checkpoint import unused_checkpoint_dir
    from gpunn.ensemble import Ensemble
    from gpunn.interrupts import StopRequest, TrainingInterrupted
    from gpunn.train import Trainer

    size = run_info["ensemble"]
    run_info = {k: v for k, v in run_info.items() if k != "member"}
    if folder is None:
        folder = unused_checkpoint_dir("gpunn-checkpoints")
        say(f"ensemble members checkpoint into {folder}/ (--checkpoint-dir to choose)")
    members, late = [], None
    with StopRequest() as stop:  # a signal between two members' runs
        for k in range(size):
            seed, member_dir = config.seed + k, Path(folder) / f"member{k}"
            if k == 0:
                net, restored = first, checkpoint
            else:
                net, restored = _member(k, size, seed, member_dir, first, run_info, checkpoint)
            say(f"ensemble member {k + 1}/{size} (seed {seed})")
            trainer = Trainer(
                net,
                data,
                replace(config, seed=seed),
                checkpoint_dir=member_dir,
                keep_checkpoints=args.keep_checkpoints,
                metrics_path=Path(f"{args.metrics}.member{k}") if args.metrics else None,
                progress=args.progress,
                expand=run_info.get("expand"),
                run_info={**run_info, "member": k},
            )
            if restored is not None:
                trainer.restore(*restored)
            try:
                late = trainer.run().late_stop or stop.requested
            except TrainingInterrupted as exc:  # continue the whole ensemble, not one member
                text = str(exc).replace(f"--resume {member_dir}", f"--resume {folder}")
                message = f"ensemble member {k + 1}/{size}: {text}"
                raise TrainingInterrupted(message, exc.checkpoint) from None
            members.append(net)
            if late and k + 1 < size:
                raise TrainingInterrupted(
                    f"{late} received: stopped after ensemble member {k + 1}/{size}; its "
                    f"checkpoints are in {member_dir} (continue with: gpunn train --resume "
                    f"{folder})",
                    trainer.save_checkpoint(),
                )
        with stop.hold():  # trained: a Ctrl-C now waits for the results (then stops, 130)
            _evaluate_and_save(args, Ensemble(members), config, run_info, data)
    return signals.interrupted() if late or stop.requested else 0


def _evaluate_and_save(args, ensemble, config, run_info: dict, data) -> None:
    """Print the ensemble's test accuracy (each member's, the vote's, the average's), write
    it to --metrics FILE, and save the ensemble if told to."""
    from gpunn.ensemble import accuracy_table
    from gpunn.monitor import write_metrics

    first = ensemble.networks[0]
    test_x = first.device.send(data.test.x, first.dtype)
    result = ensemble.evaluate(test_x, first.device.send(data.test.y, np.int64))
    print(accuracy_table(result))
    if args.metrics:  # the members' epochs are in FILE.member{k}
        write_metrics(args.metrics, [{**run_info, "final": True, "ensemble": result}])
    if args.save:
        ensemble.save(args.save, {"train": config.to_dict(), **run_info, "test": result})
        say(f"saved the ensemble to {args.save}")


def _member(k, size, seed, member_dir, first, run_info, resuming):
    """(network, checkpoint to restore or None) of ensemble member k: from its newest
    checkpoint when resuming and it has one (checked to be this run's member k), else new."""
    from gpunn.checkpoint import checkpoint_paths, load_latest, restore_network
    from gpunn.errors import ModelFileError
    from gpunn.presets import get_preset

    if resuming is None or not checkpoint_paths(member_dir):
        preset = get_preset(run_info["preset"])
        network = preset.network(
            first.device, first.dtype.name, seed, run_info.get("init"), first.input_transform
        )
        return network, None
    path, header, params, buffers = load_latest(member_dir)
    theirs = header["train"].get("run_info", {})
    if (theirs.get("member"), theirs.get("ensemble")) != (k, size):
        raise ModelFileError(
            f"{path}: is not member {k} of this ensemble of {size} (it says member "
            f"{theirs.get('member')} of {theirs.get('ensemble')})"
        )
    net, config = restore_network(path, header, params, buffers, first.device)
    if config.seed != seed:
        raise ModelFileError(f"{path}: has seed {config.seed}, but member {k} has seed {seed}")
    return net, (header["train"], params, buffers, path)


def gradient_study(args) -> int:
    """Chapter 5: speeds of learning of the book's deep sigmoid nets, and what ReLU/init change."""
    import datetime
    import json
    import time

    start = time.perf_counter()

    from gpunn.files import atomic_write_text, check_output
    from gpunn.gradients import BOOK_SIZES, VARIANTS, track_speeds
    from gpunn.interrupts import StopRequest
    from gpunn.plots import plot_speeds, require
    from gpunn.provenance import commit_words

    out = check_output(args.out, "--out", folder=True)  # before the study, not after it
    for name in ("gradients.json", "gradients.png"):
        check_output(out / name, "--out")
    require()
    data = run_setup.load_data(args.dataset, args.data_dir, args.train_size)
    settings = {
        k: getattr(args, k)
        for k in ("epochs", "train_size", "eta", "mini_batch_size", "lmbda", "seed", "dataset")
    }
    settings["mini_batch_size"] = args.mini_batch_size or args.train_size  # full batch: the book
    runs = []
    for activation, init in VARIANTS:
        for sizes in BOOK_SIZES:
            run = track_speeds(
                sizes,
                data,
                activation=activation,
                init=init,
                epochs=args.epochs,
                eta=args.eta,
                mini_batch_size=settings["mini_batch_size"],
                lmbda=args.lmbda,
                seed=args.seed,
                device=get_device(args.device),
            )
            speeds = ", ".join(f"{v:.4f}" for v in run.speeds[0])
            tell(f"{run.label}: at initialisation {speeds} (last/first {run.ratio_at_init():.1f}×)")
            runs.append(run)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "settings": settings,
        "device": get_device(args.device).describe(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit_words(),
        "seconds": time.perf_counter() - start,
        "runs": [r.to_dict() for r in runs],
    }
    # a SIGINT or SIGTERM waits, handled (a mask would not hold it: any thread may take it)
    with StopRequest() as stop, stop.hold():  # the plot and its record are one run's
        plot_speeds(runs, out / "gradients.png")
        atomic_write_text(out / "gradients.json", json.dumps(record, indent=1))
    say(f"wrote {out / 'gradients.json'} and {out / 'gradients.png'}")
    return signals.interrupted() if stop.requested else 0
