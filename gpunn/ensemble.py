"""Ensembles: k networks combined by majority vote or by averaging their probabilities.

Votes are counted per class; a tie goes to the class with the larger average
probability. An ensemble saves to one .npz (members' parameters under ``member{k}/``).
"""

from __future__ import annotations

from gpunn.backend import get_array_module
from gpunn.errors import ConfigError, DataError, ModelFileError
from gpunn.input_checks import check_batch_size
from gpunn.network import Network
from gpunn.serialize import (
    check_parameters,
    checked_metadata,
    metadata_to_write,
    network_from_config,
    read_npz,
    write_npz,
)

ENSEMBLE_FORMAT = "gpunn-ensemble"
ENSEMBLE_FORMAT_VERSION = 1
METHODS = ("vote", "average")


class Ensemble:
    def __init__(self, networks: list) -> None:
        if not networks:
            raise ConfigError("an ensemble needs at least one network")
        others = [type(n).__name__ for n in networks if not isinstance(n, Network)]
        if others:
            raise ConfigError(f"an ensemble's members must be gpunn Networks, not {others[0]}")
        outputs = {net.n_outputs for net in networks}
        if len(outputs) != 1:
            raise ConfigError(f"ensemble members disagree on the number of classes: {outputs}")
        shapes = {net.input_shape for net in networks}
        if len(shapes) != 1:
            raise ConfigError(f"ensemble members disagree on the input shape: {shapes}")
        first = networks[0]
        self.networks = list(networks)
        self.xp, self.device, self.dtype = first.xp, first.device, first.dtype
        self.n_outputs, self.input_shape = first.n_outputs, first.input_shape
        self.check_input = first.check_input
        self.metadata: dict = {}
        self.test_shifts = False  # each member averaged over x and its one-pixel shifts

    def member_probabilities(self, x, batch_size: int = 1000):
        """(k, N, classes) output activations of every member (with ``test_shifts``, each
        averaged over the image and its four one-pixel shifts: ``gpunn.tta``)."""
        check_batch_size(batch_size)
        if self.test_shifts:
            from gpunn.tta import shifted_probabilities

            probs = [shifted_probabilities(net, x, batch_size) for net in self.networks]
        else:
            probs = [net.predict_proba(x, batch_size) for net in self.networks]
        return self.xp.stack(probs)

    def predict_proba(self, x, batch_size: int = 1000):
        """(N, classes) members' output activations averaged."""
        return self.member_probabilities(x, batch_size).mean(axis=0)

    def predict(self, x, method: str = "average", batch_size: int = 1000):
        """The ensemble's class for each example (a device array)."""
        if method not in METHODS:
            raise ConfigError(f"unknown ensemble method {method!r}: choose vote or average")
        return combine(self.member_probabilities(x, batch_size), method)

    def evaluate(self, x, labels, batch_size: int = 1000) -> dict:
        """Accuracy of each member and of both combinations, as Python floats (x and labels
        checked as ``Network.evaluate`` checks them)."""
        xp = self.xp
        self.networks[0].check_examples(x, labels)
        if len(x) == 0:
            raise DataError("there are no examples to evaluate")
        labels = xp.asarray(labels)
        probs = self.member_probabilities(x, batch_size)
        members = [float((p.argmax(axis=1) == labels).mean()) for p in probs]
        return {
            "members": members,
            **{m: float((combine(probs, m) == labels).mean()) for m in METHODS},
        }

    def save(self, path, metadata: dict | None = None) -> None:
        from gpunn import __version__

        arrays = {
            f"member{k}/{name}": v
            for k, net in enumerate(self.networks)
            for name, v in net.state().items()
        }
        header = {
            "format": ENSEMBLE_FORMAT,
            "format_version": ENSEMBLE_FORMAT_VERSION,
            "gpunn_version": __version__,
            "members": [net.config() for net in self.networks],
            "metadata": metadata_to_write(metadata),
        }
        write_npz(path, arrays, header)

    @classmethod
    def load(cls, path, device=None) -> Ensemble:
        header, arrays = read_npz(path, {ENSEMBLE_FORMAT: ENSEMBLE_FORMAT_VERSION})
        return cls.from_file(path, header, arrays, device)

    @classmethod
    def from_file(cls, path, header: dict, arrays: dict, device=None) -> Ensemble:
        """The ensemble of an ensemble file's ``header`` and ``arrays`` (see ``read_npz``)."""
        check_parameters(path, arrays)
        networks = []
        try:
            for k, config in enumerate(header["members"]):
                net = network_from_config(config, device)
                prefix = f"member{k}/"
                net.load_state(
                    {n[len(prefix) :]: v for n, v in arrays.items() if n.startswith(prefix)}
                )
                networks.append(net)
            ensemble = cls(networks)
        except (KeyError, TypeError, ValueError) as exc:  # ValueError: ShapeError, ConfigError
            raise ModelFileError(f"{path}: the ensemble description is broken ({exc})") from None
        ensemble.metadata = checked_metadata(path, header.get("metadata", {}))
        return ensemble


def combine(probs, method: str):
    """Classes from (k, N, classes) member probabilities by 'vote' or 'average'."""
    mean = probs.mean(axis=0)
    if method == "average":
        return mean.argmax(axis=1)
    xp = get_array_module(probs)
    k, n, classes = probs.shape
    votes = xp.zeros((n, classes), dtype=mean.dtype)
    winners = probs.argmax(axis=2)  # (k, N)
    for member in range(k):  # k is small (5): a loop over members, not examples
        votes[xp.arange(n), winners[member]] += 1
    # a tie of votes goes to the tied class of highest mean output (then the lowest class):
    # the mean compared among the tied only, whatever its range (linear or ReLU outputs)
    tied = votes == votes.max(axis=1, keepdims=True)
    best = xp.where(tied, mean, -xp.inf).argmax(axis=1)
    # all the tied classes' means at -inf (or NaN): the first tied class, not class 0
    return xp.where(tied[xp.arange(n), best], best, tied.argmax(axis=1))


def accuracy_table(result: dict) -> str:
    rows = [f"member {k}: {a:.2%}" for k, a in enumerate(result["members"])]
    rows += [f"vote: {result['vote']:.2%}", f"average: {result['average']:.2%}"]
    return "\n".join(rows)
