"""Early-life cycle-life regressors and the long/short-life classifier.

Synthetic cells with a known answer: log10(life) = 3 - 0.4 x0 + 0.2 x1 (+ noise),
x ~ N(0, 1). Linear methods must recover it; every method must beat the
constant predictor; fits are reproducible with a seed. The real-data test
reproduces Severson's variance model on the published split.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from voltlab.errors import DataFormatError, NotFittedError
from voltlab.models import LifeClassifier, LifetimeRegressor, long_life_labels
from voltlab.models.lifetime import LIFETIME_METHODS
from voltlab.models.metrics import classification_error, interval_coverage, rmse


def synthetic(n: int, seed: int, noise: float = 0.0, n_extra: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2 + n_extra))
    log_life = 3.0 - 0.4 * X[:, 0] + 0.2 * X[:, 1] + rng.normal(0.0, noise, n)
    return X, 10.0**log_life


@pytest.mark.parametrize(("method", "rel"), [("linear", 1e-9), ("ridge", 0.02), ("elastic_net", 0.02),
                                             ("pcr", 1e-6), ("plsr", 1e-6)])
def test_linear_methods_recover_an_exact_log_linear_law(method, rel):
    X, y = synthetic(60, 0)
    Xt, yt = synthetic(20, 1)
    model = LifetimeRegressor(method, random_state=0).fit(X, y)
    assert model.predict(Xt) == pytest.approx(yt, rel=rel)
    if method in ("pcr", "plsr"):
        assert 1 <= model.n_components_ <= X.shape[1]


FAST = {"rf": {"n_estimators": 100}, "xgboost": {}, "gp": {"n_restarts_optimizer": 1},
        "gp_linear": {"n_restarts_optimizer": 1}}


@pytest.mark.parametrize("method", ["rf", "xgboost", "gp", "gp_linear"])
def test_nonlinear_methods_beat_the_mean_and_are_reproducible(method):
    X, y = synthetic(60, 2, noise=0.02)
    Xt, yt = synthetic(40, 3, noise=0.02)
    a = LifetimeRegressor(method, params=FAST[method], random_state=7).fit(X, y)
    b = LifetimeRegressor(method, params=FAST[method], random_state=7).fit(X, y)
    pa = a.predict(Xt)
    assert np.array_equal(pa, b.predict(Xt))  # same seed, same model
    # in log10 cycles (the fitted target): a constant predictor has RMSE ~ std = 0.45
    baseline = rmse(np.log10(yt), np.full(yt.size, np.mean(np.log10(y))))
    assert rmse(np.log10(yt), np.log10(pa)) < 0.6 * baseline


def test_random_forest_seed_changes_the_model():
    X, y = synthetic(50, 4, noise=0.05)
    p0 = LifetimeRegressor("rf", params=FAST["rf"], random_state=0).fit(X, y).predict(X[:5])
    p1 = LifetimeRegressor("rf", params=FAST["rf"], random_state=1).fit(X, y).predict(X[:5])
    assert not np.array_equal(p0, p1)


def test_log_target_is_fitted():
    X, y = synthetic(30, 5)
    m = LifetimeRegressor("linear").fit(X, y)
    assert m.predict_target(X[:3]) == pytest.approx(np.log10(y[:3]), abs=1e-9)
    raw = LifetimeRegressor("linear", log_target=False).fit(X, y)
    assert raw.predict_target(X[:3]) == pytest.approx(raw.predict(X[:3]))


def test_conformal_intervals_cover_nominally():
    X, y = synthetic(300, 6, noise=0.05)
    Xt, yt = synthetic(3000, 7, noise=0.05)
    m = LifetimeRegressor("linear", interval_cv=5, random_state=0).fit(X, y)
    lo, hi = m.predict_interval(Xt, coverage=0.9)
    assert np.all(lo < m.predict(Xt)) and np.all(m.predict(Xt) < hi)
    assert interval_coverage(yt, lo, hi) == pytest.approx(0.9, abs=0.03)
    # half-width in log10 ~ 1.645 sigma = 0.082 -> upper / lower = 10 ** (2 * 0.082) ~ 1.46
    assert np.median(hi / lo) == pytest.approx(10 ** (2 * 1.645 * 0.05), rel=0.08)


def test_gp_intervals_from_the_predictive_std():
    X, y = synthetic(80, 8, noise=0.05, n_extra=0)
    Xt, yt = synthetic(1000, 9, noise=0.05, n_extra=0)
    m = LifetimeRegressor("gp_linear", params={"n_restarts_optimizer": 1}, random_state=0).fit(X, y)
    lo, hi = m.predict_interval(Xt, coverage=0.9)
    assert interval_coverage(yt, lo, hi) == pytest.approx(0.9, abs=0.05)


def test_intervals_need_interval_cv_or_a_gp():
    X, y = synthetic(30, 10)
    with pytest.raises(NotFittedError, match="interval_cv"):
        LifetimeRegressor("ridge").fit(X, y).predict_interval(X)


def test_scikit_learn_protocol():
    m = LifetimeRegressor("rf", random_state=3, params={"n_estimators": 50})
    c = clone(m)
    assert c.get_params()["random_state"] == 3 and c.get_params()["params"] == {"n_estimators": 50}
    assert not hasattr(c, "estimator_")
    X, y = synthetic(30, 11)
    assert m.fit(X, y) is m
    assert m.estimator_[-1].n_estimators == 50
    assert set(LIFETIME_METHODS) >= {"elastic_net", "pcr", "plsr", "rf", "xgboost", "gp"}


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda X, y: LifetimeRegressor("linear").predict(X), NotFittedError, "call fit first"),
        (lambda X, y: LifetimeRegressor("svm").fit(X, y), DataFormatError, "method must be one of"),
        (lambda X, y: LifetimeRegressor("linear").fit(X, -y), DataFormatError, "must be > 0"),
        (lambda X, y: LifetimeRegressor("linear").fit(X, y[:-1]), DataFormatError, "must match"),
        (lambda X, y: LifetimeRegressor("linear").fit(X, y).predict(X[:, :2]), DataFormatError, "shape"),
        (lambda X, y: LifetimeRegressor("pcr", n_components=50).fit(X, y), DataFormatError, "n_components"),
        (lambda X, y: LifetimeRegressor("ridge", cv=1).fit(X, y), DataFormatError, "cv must be"),
        (lambda X, y: LifetimeRegressor("linear").fit(X, y).predict_interval(X, coverage=1.5), DataFormatError,
         "coverage"),
    ],
)
def test_invalid_use_raises(make, exc, match):
    X, y = synthetic(20, 12)
    with pytest.raises(exc, match=match):
        make(X, y)


# ---------------------------------------------------------------------------- classifier


def test_long_life_labels_threshold():
    assert long_life_labels([300, 550, 551, 2000]).tolist() == [0, 0, 1, 1]
    assert long_life_labels([300, 800], threshold_cycles=700).tolist() == [0, 1]


def test_classifier_separates_by_a_known_boundary():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    life = 10 ** (2.74 + 0.3 * X[:, 0])  # 550 cycles at x0 = 0
    labels = long_life_labels(life)
    clf = LifeClassifier(random_state=0).fit(X[:80], labels[:80])
    assert classification_error(labels[80:], clf.predict(X[80:])) <= 0.05
    proba = clf.predict_proba(X[80:])
    assert proba.shape == (40, 2) and proba.sum(axis=1) == pytest.approx(1.0)
    assert list(clf.classes_) == [0, 1]
    assert clf.predict_proba(np.array([[3.0, 0.0, 0.0]]))[0, 1] > 0.95


def test_classifier_errors():
    X = np.random.default_rng(1).normal(size=(12, 2))
    with pytest.raises(DataFormatError, match="exactly two classes"):
        LifeClassifier().fit(X, np.arange(12) % 3)
    with pytest.raises(NotFittedError, match="call fit first"):
        LifeClassifier().predict(X)
    with pytest.raises(DataFormatError, match="C must be"):
        LifeClassifier(C=-1.0).fit(X, np.arange(12) % 2)


# ---------------------------------------------------------------------------- real data


@pytest.mark.shared
def test_variance_model_reproduces_severson_on_the_published_split(shared_data):
    from voltlab.data.datasets.severson import load_severson_qdlin
    from voltlab.features import SeversonFeaturizer, severson_early_cycles

    ds = load_severson_qdlin(shared_data / "severson_attia_2019_cycle_life")
    train, test1, test2 = (ds.indices(s) for s in ("train", "test1", "test2"))
    # never a cell, a barcode or a source cell on both sides of the split
    for test in (test1, test2):
        for ids in (ds.cell_ids, ds.barcode, ds.source_cell_id):
            a = {ids[i] for i in train} - {""}
            assert not a & {ids[i] for i in test}
    assert (len(train), len(test1), len(test2)) == (41, 43, 40)

    X = SeversonFeaturizer("variance").featurize_many(severson_early_cycles(ds)).to_numpy()
    life = ds.cycle_life.astype(float)
    model = LifetimeRegressor("linear").fit(X[train], life[train])
    matr1 = np.array([i for i in test1 if ds.source_cell_id[i] != "b2c1"])  # BatteryML's MATR1 (42 cells)
    r_matr1 = rmse(life[matr1], model.predict(X[matr1]))
    r_test1 = rmse(life[test1], model.predict(X[test1]))
    r_test2 = rmse(life[test2], model.predict(X[test2]))
    assert r_matr1 == pytest.approx(136, rel=0.15)  # BatteryML: 136 cycles
    assert r_test1 == pytest.approx(138, rel=0.15)  # Severson et al. Table 1: 138 cycles
    assert r_test2 == pytest.approx(211, rel=0.15)  # BatteryML: 211 cycles (Severson: 196)
