"""Ensembles: vote and average on hand-made probabilities (ties too), files in and out."""

import io
import json

import numpy as np
import pytest

from gpunn.ensemble import Ensemble, accuracy_table, combine
from gpunn.errors import ConfigError, DataError, ModelFileError, ShapeError
from gpunn.layers import FullyConnected, Softmax
from gpunn.network import Network
from gpunn.serialize import load_model


def probs(*members):
    """(k, N, classes) from k members' rows of class probabilities."""
    return np.array(members, dtype=np.float64)


def make_net(seed, n_out=10, n_in=784):
    return Network(
        [FullyConnected(8, "relu"), Softmax(n_out, init="default")],
        "log-likelihood",
        input_shape=(n_in,),
        device="cpu",
        seed=seed,
    )


def test_average_takes_the_largest_mean_probability():
    p = probs([[0.6, 0.4, 0.0]], [[0.6, 0.4, 0.0]], [[0.0, 0.3, 0.7]])
    # means: 0.4, 0.367, 0.233 -> class 0; votes 2:0:1 agree here
    assert combine(p, "average").tolist() == [0]
    assert combine(p, "vote").tolist() == [0]


def test_a_vote_is_a_vote_whatever_the_outputs_range():
    """Linear or ReLU outputs may exceed 1: the mean breaks ties among the tied classes only."""
    p = probs([[0.1, 0.0, 0.0]], [[0.1, 0.0, 0.0]], [[0.0, 10.0, 0.0]])  # votes 2 : 1
    assert combine(p, "vote").tolist() == [0]
    assert combine(p, "average").tolist() == [1]
    tie = probs([[3.0, 0.0, 0.0]], [[0.0, 2.0, 0.0]], [[0.0, 0.0, 9.0]])  # 1 : 1 : 1
    assert combine(tie, "vote").tolist() == [2]  # the highest mean of the three
    level = probs([[1.0, 0.0]], [[0.0, 1.0]])  # votes and means tied: the lowest class
    assert combine(level, "vote").tolist() == [0]
    inf = float("inf")
    lost = probs([[-1.0, 0.0, -inf]], [[-1.0, -inf, 0.0]])  # 0 : 1 : 1, the tied means -inf
    assert combine(lost, "vote").tolist() == [1]  # a tied class, never the untied 0


def test_vote_and_average_can_disagree():
    # Two members a little sure of class 0, one very sure of class 1.
    p = probs([[0.5, 0.4, 0.1]], [[0.5, 0.4, 0.1]], [[0.0, 1.0, 0.0]])
    assert combine(p, "vote").tolist() == [0]  # 2 votes to 1
    assert combine(p, "average").tolist() == [1]  # 0.6 against 0.333


def test_a_tied_vote_goes_to_the_larger_average():
    # Votes 1:1 between classes 0 and 2 (class 1 none); class 2 has the larger mean.
    p = probs([[0.5, 0.2, 0.3]], [[0.1, 0.2, 0.7]])
    assert combine(p, "vote").tolist() == [2]
    # ... but a class with no votes never wins, however large its mean.
    p = probs([[0.40, 0.35, 0.25]], [[0.25, 0.35, 0.40]])
    assert combine(p, "vote").tolist() == [0]  # 1:0:1 tie, means equal: the first
    assert combine(p, "average").tolist() == [1]


def test_a_complete_tie_goes_to_the_first_class():
    p = probs([[0.5, 0.5]], [[0.5, 0.5]])
    assert combine(p, "vote").tolist() == [0]
    assert combine(p, "average").tolist() == [0]


def test_one_member_is_its_own_argmax_and_rows_are_independent():
    rng = np.random.default_rng(0)
    p = rng.random((1, 50, 10))
    assert np.array_equal(combine(p, "vote"), p[0].argmax(axis=1))
    assert np.array_equal(combine(p, "average"), p[0].argmax(axis=1))
    q = rng.random((5, 50, 10))
    rows = [combine(q[:, i : i + 1], "vote")[0] for i in range(50)]
    assert combine(q, "vote").tolist() == rows


def test_predict_evaluate_and_the_table():
    nets = [make_net(s) for s in range(3)]
    x = np.random.default_rng(1).random((40, 784)).astype(np.float32)
    ensemble = Ensemble(nets)
    member_p = np.stack([n.predict_proba(x) for n in nets])
    assert np.array_equal(ensemble.predict(x, "vote"), combine(member_p, "vote"))
    assert np.array_equal(ensemble.predict(x), combine(member_p, "average"))
    y = ensemble.predict(x)
    result = ensemble.evaluate(x, y)
    assert result["average"] == 1.0 and len(result["members"]) == 3
    assert accuracy_table(result).splitlines()[-1] == "average: 100.00%"


def test_bad_ensembles_and_methods_are_refused():
    with pytest.raises(ConfigError, match="at least one"):
        Ensemble([])
    with pytest.raises(ConfigError, match="number of classes"):
        Ensemble([make_net(0), make_net(1, n_out=5)])
    with pytest.raises(ConfigError, match="unknown ensemble method"):
        Ensemble([make_net(0)]).predict(np.zeros((1, 784)), "median")


def test_save_load_round_trip(tmp_path):
    nets = [make_net(s) for s in range(3)]
    Ensemble(nets).save(tmp_path / "e.npz", {"note": "three"})
    back = Ensemble.load(tmp_path / "e.npz", "cpu")
    assert len(back.networks) == 3
    for a, b in zip(nets, back.networks, strict=True):
        assert a.config() == b.config()
        for k, v in a.state().items():
            assert np.array_equal(b.state()[k], v)
    x = np.random.default_rng(2).random((20, 784))
    assert np.array_equal(back.predict(x, "vote"), Ensemble(nets).predict(x, "vote"))


def test_load_model_tells_networks_and_ensembles_apart(tmp_path):
    nets = [make_net(s) for s in range(2)]
    Ensemble(nets).save(tmp_path / "e.npz", {"note": "two"})
    nets[0].save(tmp_path / "n.npz")
    ensemble, single = load_model(tmp_path / "e.npz", "cpu"), load_model(tmp_path / "n.npz")
    assert isinstance(ensemble, Ensemble) and ensemble.metadata == {"note": "two"}
    assert isinstance(single, Network) and single.config() == nets[0].config()
    x = np.random.default_rng(3).random((5, 784))
    mean = (nets[0].predict_proba(x) + nets[1].predict_proba(x)) / 2
    assert np.allclose(ensemble.predict_proba(x), mean)
    assert np.array_equal(ensemble.predict(x), mean.argmax(axis=1))


def test_members_must_share_an_input_shape():
    with pytest.raises(ConfigError, match="input shape"):
        Ensemble([make_net(0), make_net(1, n_in=100)])


def rewrite(path, header=None, drop=()):
    """Rewrite the ensemble file at ``path`` with its header edited or arrays dropped."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k not in drop}
    if header is not None:
        arrays["__gpunn__"] = np.array(json.dumps(header(json.loads(str(arrays["__gpunn__"])))))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:300]), "cannot be read"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: rewrite(p, drop=("member1/layer0/w",)), "member1|layer0/w"),
        (lambda p: rewrite(p, lambda h: {**h, "members": []}), "at least one"),
        (lambda p: rewrite(p, lambda h: {k: v for k, v in h.items() if k != "members"}), "members"),
        (lambda p: rewrite(p, lambda h: {**h, "members": [{"layers": 3}]}), "broken"),
        (lambda p: rewrite(p, lambda h: {**h, "format_version": 9}), "newer gpunn"),
    ],
    ids=[
        "truncated",
        "empty",
        "a member's weights missing",
        "no members",
        "no member list",
        "a member not a network",
        "future version",
    ],
)
def test_a_broken_ensemble_file_is_one_error_naming_it(tmp_path, breakage, message):
    path = tmp_path / "e.npz"
    Ensemble([make_net(0), make_net(1)]).save(path)
    breakage(path)
    with pytest.raises(ModelFileError, match=str(path)) as info:
        Ensemble.load(path, "cpu")
    assert any(part in str(info.value) for part in message.split("|"))


def test_an_ensemble_file_with_nan_or_an_average_is_checked_as_a_network_is(tmp_path):
    nets = [make_net(1), make_net(2)]
    nets[1].layers[0].b[:] = np.nan
    Ensemble(nets).save(tmp_path / "nan.npz")
    with pytest.raises(ModelFileError, match="nan.npz: member1/layer0/b holds NaN"):
        load_model(tmp_path / "nan.npz")
    Ensemble([make_net(1), make_net(2)]).save(tmp_path / "ema.npz", {"train": {"ema": 0.9}})
    assert isinstance(load_model(tmp_path / "ema.npz"), Ensemble)
    with pytest.raises(ModelFileError, match="ema.npz: holds the average of its run's weights"):
        load_model(tmp_path / "ema.npz", trained_weights=True)


def test_ensemble_evaluate_checks_labels_as_a_network_does():
    ensemble = Ensemble([make_net(1), make_net(2)])
    x = np.random.default_rng(0).random((6, 784), dtype=np.float32)
    y = np.arange(6)
    for labels, error, words in (
        (y + 20, DataError, "labels run from 20 to 25"),
        (y + 0.3, DataError, "labels must be integers"),
        (y[:, None], ShapeError, "labels have shape"),
        (y[:4], ShapeError, "labels have shape"),
    ):
        with pytest.raises(error, match=words):
            ensemble.evaluate(x, labels)
    with pytest.raises(DataError, match="no examples"):
        ensemble.evaluate(x[:0], y[:0])


def test_an_ensemble_takes_networks_only():
    with pytest.raises(ConfigError, match="members must be gpunn Networks, not str"):
        Ensemble([make_net(1), "b"])
