"""The commands that look at what training made, and at the data: ``gpunn evaluate``,
``predict``, ``curves`` and ``distortions`` (see ``gpunn.cli``; ``gpunn.commands`` has the
rest, and the helpers these share)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from gpunn import commands, run_setup
from gpunn.backend import get_device, to_numpy
from gpunn.errors import ConfigError, DataError, ModelFileError, ShapeError
from gpunn.files import check_given_once
from gpunn.values import is_integer


def cmd_evaluate(args) -> int:
    from gpunn.ensemble import Ensemble, accuracy_table
    from gpunn.serialize import load_model

    device = get_device(args.device)
    check_given_once(args.model, "an ensemble takes each network once")
    models = [load_model(path, device, args.trained_weights) for path in args.model]
    trained_on = {str(m.metadata.get("dataset") or "mnist") for m in models}
    if len(trained_on) > 1 and not args.dataset:
        raise ConfigError(
            f"the networks were trained on different datasets ({', '.join(sorted(trained_on))}); "
            f"give --dataset to evaluate them together on one"
        )
    name = ", ".join(args.model)
    if len(models) == 1:
        model = models[0]
    else:  # networks saved one by one (e.g. members trained in separate runs)
        nested = [p for p, m in zip(args.model, models, strict=True) if isinstance(m, Ensemble)]
        if nested:
            raise ConfigError(f"{nested[0]}: is an ensemble; give networks or checkpoints")
        model = Ensemble(models)
        model.metadata = models[0].metadata
    train_size, held_out = _split_of(args.model, models, args.split)
    # the dataset the model was trained on, unless told otherwise
    data = run_setup.load_data(
        args.dataset or model.metadata.get("dataset") or "mnist",
        args.data_dir,
        train_size,
        held_out,
    )
    split = getattr(data, args.split)
    x = model.device.send(split.x, model.dtype)
    y = model.device.send(split.y, np.int64)
    model.check_input(x)
    if model.n_outputs != data.n_classes:
        raise ShapeError(
            f"{name}: has {model.n_outputs} outputs, but {data.name} has {data.n_classes} classes"
        )
    shifts = " with test-time shifts" if args.test_shifts else ""
    if isinstance(model, Ensemble):
        model.test_shifts = args.test_shifts
        print(f"{args.split} accuracy of {len(model.networks)} networks{shifts}")
        print(accuracy_table(model.evaluate(x, y)))
        return 0
    correct, _ = model.evaluate(x, y)
    print(f"{args.split} accuracy {int(correct) / len(x):.2%} ({int(correct)}/{len(x)})")
    if args.test_shifts:
        from gpunn.tta import shifted_probabilities

        correct = int((shifted_probabilities(model, x).argmax(axis=1) == y).sum())
        print(f"{args.split} accuracy{shifts} {correct / len(x):.2%} ({correct}/{len(x)})")
    return 0


def _split_of(paths, models, split: str) -> tuple[int | None, int]:
    """(training size or None for all, validation size) the models were trained with, so
    that --split train and validation are the images they were trained and validated on;
    ConfigError when that split means nothing for them."""
    pairs = list(zip(paths, models, strict=True))
    for p, m in pairs:
        for key in ("validation_size", "train_size"):
            n = m.metadata.get(key)
            if n is not None and not (is_integer(n) and n >= 0):
                raise ModelFileError(
                    f"{p}: its metadata's {key} is {n!r}, not a count of images; the file "
                    f"was not written by gpunn as it is"
                )
    sizes = {p: run_setup.held_out(m.metadata.get("validation_size")) for p, m in pairs}
    if split == "test":
        return None, next(iter(sizes.values()))  # the test images are the same whatever
    train_sizes = {p: m.metadata.get("train_size") for p, m in pairs}
    compared = [("validation", sizes)] + ([("training", train_sizes)] if split == "train" else [])
    for what, values in compared:  # the validation images are the last N whatever trained
        if len(set(values.values())) > 1:
            listed = ", ".join(f"{p} {'all' if n is None else n}" for p, n in values.items())
            raise ConfigError(
                f"the networks had different {what} sizes ({listed}): their --split "
                f"{split} differs; evaluate them together on --split test"
            )
    trained_on_it = [p for p, n in sizes.items() if n == 0]
    if split == "validation" and trained_on_it:
        raise ConfigError(
            f"{trained_on_it[0]}: was trained on the validation images (--validation-size 0), "
            f"so its validation accuracy measures nothing; evaluate on --split test"
        )
    train_size = next(iter(train_sizes.values()))
    return (train_size if split == "train" else None), next(iter(sizes.values()))


MAX_GRID = (100, 30)  # gpunn distortions: the most digits (rows) and draws (columns)


def cmd_distortions(args) -> int:
    """A grid: each of the first K training digits (and with ``--deskew`` the digit
    deskewed), then N fresh distortions of it (draws of the kind ``gpunn train --expand
    distort`` makes each epoch with the same flags)."""
    from gpunn.config import TrainConfig
    from gpunn.data.expand import distort_epoch
    from gpunn.plots import plot_image_grid, require

    config = TrainConfig(
        distort_strength=args.distort_strength,
        distort_scale=args.distort_scale,
        elastic_alpha=args.elastic_alpha,
    ).check()
    out = _png_out(args.out)
    if args.digits > MAX_GRID[0] or args.draws > MAX_GRID[1]:
        raise ConfigError(
            f"--digits {args.digits} --draws {args.draws}: at most {MAX_GRID[0]} digits and "
            f"{MAX_GRID[1]} draws in one picture"
        )
    require()  # matplotlib missing: say so before loading anything
    x = run_setup.load_data(args.dataset, args.data_dir).train.x[: args.digits]
    shown, titles = [x], ["digit"]
    if args.deskew:  # distorted as a --deskew run distorts them: deskewed first
        from gpunn.data.deskew import deskew

        x = deskew(x)
        shown.append(x)
        titles.append("deskewed")
    draws = [
        distort_epoch(
            x,
            args.seed,
            k,
            (1, 28, 28),
            config.distort_strength,
            config.distort_scale,
            config.elastic_alpha,
        )
        for k in range(args.draws)
    ]
    grid = np.stack([*shown, *draws], axis=1)  # (K, 1 [+ 1] + N, 784)
    words = ", ".join(commands.distortion_words(config)) or "the defaults"
    titles += [f"draw {k + 1}" for k in range(args.draws)]
    words += " of the deskewed digits" if args.deskew else ""
    path = plot_image_grid(grid, out, titles, f"--expand distort: {words}")
    print(f"wrote {path}")
    return 0


def cmd_curves(args) -> int:
    """Learning curves of one or more runs, read from their metrics files, as one PNG."""
    from gpunn.monitor import read_metrics
    from gpunn.plots import plot_learning_curves, require

    out = _png_out(args.out, inputs=args.metrics)
    if args.ylim is not None:
        low, high = args.ylim
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"--ylim {low:g} {high:g}: give two finite numbers, LOW under HIGH")
    keys = list(dict.fromkeys(args.key or ["test_accuracy"]))
    if len(keys) > 1 and not all(key.endswith("accuracy") for key in keys):
        raise ConfigError(
            f"--key {' '.join(keys)}: several keys share one plot only if all are accuracies"
        )
    require()
    labels = _curve_labels(args.metrics)
    histories = {
        label: read_metrics(path) for path, label in zip(args.metrics, labels, strict=True)
    }
    for key in keys:  # a run without one of several keys just has no line for it
        if not any(r.get(key) is not None for h in histories.values() for r in h):
            where = args.metrics[0] if len(args.metrics) == 1 else "none of the files"
            raise ConfigError(
                f"{where}: no {key} in its epochs (the run did not monitor it; "
                f"see gpunn train --help)"
            )
    print(f"wrote {plot_learning_curves(histories, out, keys, args.x, args.ylim)}")
    return 0


def _curve_labels(paths: list[str]) -> list[str]:
    """Each file's name less .jsonl ('run', 'ens member0'), or its path where names clash."""
    check_given_once(paths, "each run's curves are drawn once")
    names = [Path(p).name.replace(".jsonl.member", " member").removesuffix(".jsonl") for p in paths]
    labels = [p if names.count(n) > 1 else n for p, n in zip(paths, names, strict=True)]
    return [_drawable(label) for label in labels]


def _drawable(name: str) -> str:
    """``name`` as text a font can draw: the bytes of a name that is not UTF-8 (which
    Python holds as lone surrogates) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _png_out(out: str, inputs=()) -> Path:
    """The path of a PNG to write: ConfigError for a folder, another suffix, a place that
    cannot be written, or one of the command's ``inputs``."""
    from gpunn.files import check_output

    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; give a file name such as {out}/plot.png")
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: give a .png file name")
    return check_output(out, "--out", inputs=inputs)


IMAGE_SIDES = (8, 4096)  # the smallest and largest side of a digit image gpunn reads


def read_image(path: str, side: int = 28) -> np.ndarray:
    """A grey image as float32 (side·side,) in [0, 1], white digit on black as in MNIST.

    Any depth: 8- and 16-bit grey or colour, 32-bit integer, float (taken as [0, 1] when
    it stays there). A digit drawn on a transparent background (most pixels more than half
    transparent) is its opacity; other images are read by their colour. A light
    background is inverted. Images under 8 or over 4096 pixels a side are refused."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ConfigError("reading images needs Pillow: pip install 'gpunn[images]'") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                low, high = IMAGE_SIDES
                if not (low <= min(img.size) and max(img.size) <= high):
                    width, height = img.size
                    raise DataError(
                        f"{path}: is {width}×{height} pixels; give a digit image from "
                        f"{low}×{low} to {high}×{high}"
                    )
                a = _grey(img)
    except DataError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        high = IMAGE_SIDES[1]
        raise DataError(f"{path}: is over {high}×{high} pixels; give a smaller image") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as an image ({exc})") from None
    except MemoryError:
        raise
    except Exception as exc:  # Pillow's lazy decoding of a damaged file: TypeError, …
        why = f"{type(exc).__name__}: {exc}"
        raise DataError(f"{path}: cannot be read as an image, it looks damaged ({why})") from None
    if a.shape != (side, side):
        resized = Image.fromarray(a, mode="F").resize((side, side), Image.Resampling.LANCZOS)
        a = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    if a.mean() > 0.5:  # dark digit on a light background: invert to MNIST's convention
        a = 1.0 - a
    return a.reshape(-1)


def _grey(img) -> np.ndarray:
    """(H, W) float32 in [0, 1] of a PIL image of any mode (see ``read_image``)."""
    if "A" in img.getbands() or "transparency" in img.info:
        alpha = np.asarray(img.convert("RGBA").getchannel("A"), dtype=np.float32) / 255.0
        if np.median(alpha) < 0.5:  # a transparent background: the strokes are what is opaque
            return alpha
    if img.mode.startswith("I;16"):
        return (np.asarray(img, dtype=np.float64) / 65535.0).astype(np.float32)
    if img.mode in ("I", "F"):  # the range from the values: [0, 1], 8 or 16 bits, or their top
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError("it holds NaN or infinite values")
        top = float(a.max(initial=0.0))
        ranges = ((1.0,) if img.mode == "F" else ()) + (255.0, 65535.0)
        full = next((r for r in ranges if top <= r), top)
        return np.clip(a / full, 0.0, 1.0).astype(np.float32)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def cmd_predict(args) -> int:
    from gpunn.serialize import load_model

    network = load_model(args.model, get_device(args.device))
    if int(np.prod(network.input_shape)) != 28 * 28:
        raise ShapeError(f"{args.model}: takes inputs of shape {network.input_shape}, not 28×28")
    x = np.stack([read_image(p) for p in args.images])
    a = to_numpy(network.predict_proba(x))
    for path, probs in zip(args.images, a, strict=True):
        k = int(probs.argmax())
        print(f"{path}: {k} (p = {probs[k]:.3f})")
    return 0
