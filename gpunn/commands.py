"""What the ``gpunn`` sub-commands do, given their parsed arguments (see ``gpunn.cli``):
``train`` (set up by ``gpunn.run_setup``), ``presets``, ``gradients`` and ``bench``;
``gpunn.inspect_commands`` has those that look at networks, runs and data."""

from __future__ import annotations

from gpunn import run_setup, signals
from gpunn.run_setup import say


def cmd_train(args) -> int:
    from gpunn.data.expand import SHIFT_VIEWS
    from gpunn.files import check_not_input
    from gpunn.input_checks import INPUT_TRANSFORMS
    from gpunn.interrupts import StopRequest
    from gpunn.train import Trainer
    from gpunn.train_inputs import trained_count

    if args.resume:
        network, config, run_info, checkpoint = run_setup.resume_run(args)
        checkpoint_dir = args.checkpoint_dir or args.resume
    else:
        network, config, run_info = run_setup.build_run(args)
        checkpoint, checkpoint_dir = None, args.checkpoint_dir
    config.check()
    run_setup.check_validation(config, run_info.get("validation_size"))
    run_setup.check_outputs(args, checkpoint_dir, run_info.get("ensemble"))
    data = run_setup.load_data(
        run_info.get("dataset", "mnist"),
        args.data_dir,
        run_info.get("train_size"),
        run_info.get("validation_size"),
    )
    inputs = run_setup.source_files(data.source)  # known only now: no output may be one of them
    for option, path in (("--save", args.save), ("--metrics", args.metrics)):
        if path:
            check_not_input(path, option, inputs)
    distortions = ", ".join(distortion_words(config))
    n_train = trained_count(data, run_info.get("expand"))
    validation = data.validation
    config.check(n_train, len(validation.x) if validation else 0)  # before the start line
    images = {
        "shifts": f"{n_train} training images ({SHIFT_VIEWS}× by one-pixel shifts)",
        "distort": f"{len(data.train.x)} training images, freshly distorted each epoch"
        + (f" ({distortions})" if distortions else ""),
    }.get(run_info.get("expand"), f"{len(data.train.x)} training images")
    if network.input_transform:  # before anything else, the expansion included
        images += f"; the digits {INPUT_TRANSFORMS[network.input_transform]} first"
    eta_words = ", ".join(_eta_words(config, n_train // config.mini_batch_size))
    say(
        f"training {run_info.get('preset', 'network')} on {network.device.describe()}: "
        f"{images}"
        + (" in a fixed order" if config.order == "fixed" else "")
        + f", {_epochs(config.epochs)}, mini-batch {config.mini_batch_size}, "
        f"η {config.eta:g}"
        + (f" ({eta_words})" if eta_words else "")
        + "".join(f", {words}" for words in _update_words(config, n_train))
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
    # a Ctrl-C once training is done waits for the results (then the command stops, 130)
    with StopRequest() as stop:
        result = trainer.run()
        with stop.hold():
            _report_and_save(args, network, config, run_info, result.summary)
    late = result.late_stop or stop.requested
    return signals.interrupted() if late else 0


def _report_and_save(args, network, config, run_info: dict, s: dict) -> None:
    """Print a run's test accuracy; save its network if told to."""
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
        say(f"saved the network to {args.save}")


def distortion_words(config) -> list[str]:
    """The settings away from the defaults: ['strength 0.5', 'sizes ×(1 ± 0.1)', 'elastic α 0']."""
    words = {
        "distort_strength": lambda v: f"strength {v:g}",
        "distort_scale": lambda v: f"sizes ×(1 ± {v:g})",
        "elastic_alpha": lambda v: f"elastic α {v:g}",
    }
    return [words[name](v) for name, v in config.distortion_settings()]


def _eta_words(config, n_batches: int | None = None) -> list[str]:
    """How η moves within the run: ['warmed up over 1 epoch', 'cosine-annealed to 0'], as
    ``step_eta`` moves it over the run's steps: no warm-up that rounds to no step, no
    annealing when the warm-up takes every step. (``n_batches`` None: as configured,
    for a preset's description.)"""
    from gpunn.tracker import eta_steps

    if n_batches is None:
        warmup_steps, total_steps = config.warmup, config.epochs  # in epochs
    else:
        warmup_steps, total_steps = eta_steps(config.warmup, config.epochs, n_batches)
    words = [f"warmed up over {_epochs(config.warmup)}"] if warmup_steps else []
    annealed = config.anneal == "cosine" and warmup_steps < total_steps
    return words + (["cosine-annealed to 0"] if annealed else [])


def _update_words(config, n: int) -> list[str]:
    """The update's other terms, n the training images the step divides by.

    ['momentum μ 0.9', 'L2 λ 150 (λ/n = 0.0005)']
    """
    words = [f"momentum μ {config.momentum:g}"] if config.momentum else []
    for name, symbol, value in (("L2", "λ", config.lmbda), ("L1", "λ₁", config.l1)):
        if value:
            words.append(f"{name} {symbol} {value:g} ({symbol}/n = {value / n:.2g})")
    return words


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
