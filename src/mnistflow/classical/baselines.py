"""Classical baselines: scikit-learn pipelines by name, cross-validated, fitted and scored on MNIST.

Each model is a Pipeline `[scaler] -> [PCA] -> estimator` whose settings come from a frozen params
object (`params.yaml`, section `baselines.models.<name>`). The stage `stages/baseline.py` runs one:

    settings = params.parse(BaselinesParams, mapping, key="baselines")
    pipeline, metrics = baselines.run("svc_ovo", baselines.model_params(settings, "svc_ovo"),
                                      cv=settings.cv, train=(images, labels), test=(images, labels),
                                      seed=42, n_jobs=2)

A fitted pipeline takes flat float input (N, 784): `features(images)`; it is saved with joblib
(the one place this project writes a pickle, as issue 5 asks) and loads with scikit-learn alone.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import typing
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from sklearn import base, decomposition, ensemble, linear_model, metrics, model_selection, multiclass, neighbors, pipeline, preprocessing, svm

from mnistflow.core.params import between, check, positive

log = logging.getLogger(__name__)

ModelName = Literal["sgd", "logistic", "random_forest", "svc_ovo", "svc_ovr", "knn"]
MODEL_NAMES: tuple[str, ...] = typing.get_args(ModelName)
# standard: zero mean, unit variance per pixel (linear models converge faster). minmax: each pixel to
# [0, 1], keeping pixels on one common scale: for the distance-based kNN and RBF SVC, standard scaling
# inflates near-empty border pixels (tiny variance) into full-weight features and costs 1.2-1.5 points of
# accuracy (10,000 images; docs/baselines.md). none: raw 0-255 (trees ignore any scaling).
Scaler = Literal["standard", "minmax", "none"]


def _components(default: int | None) -> Any:
    """PCA components in front of the estimator; null = no PCA."""
    return dataclasses.field(default=default, metadata=check(between(1, 784)))


def _at_least_one_per_digit(value: int) -> str | None:
    return None if value >= 10 else "at least 10 (a stratified subset needs one image per digit)"


def _samples(default: int | None) -> Any:
    """A stratified subset of this many training images; null = all of them."""
    return dataclasses.field(default=default, metadata=check(_at_least_one_per_digit))


def _positive(default: Any) -> Any:
    return dataclasses.field(default=default, metadata=check(positive))


@dataclasses.dataclass(frozen=True)
class SGDParams:
    scaler: Scaler = "standard"
    pca_components: int | None = _components(None)
    train_samples: int | None = _samples(None)
    loss: Literal["hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron"] = "hinge"
    alpha: float = _positive(1e-4)  # L2 penalty
    # With standardised pixels the default tolerance stop (tol 0.001, up to 1000 epochs) ran for minutes
    # on 10,000 images; a fixed 20 epochs (tol null) scores 0.908 there in about 2 s of CPU.
    max_iter: int = _positive(20)  # epochs; with tol set, at most this many
    tol: float | None = _positive(None)  # stop when the loss improves by less than this; null = run max_iter epochs


@dataclasses.dataclass(frozen=True)
class LogisticParams:
    scaler: Scaler = "standard"
    pca_components: int | None = _components(None)
    train_samples: int | None = _samples(None)
    C: float = _positive(1.0)  # inverse L2 strength
    max_iter: int = _positive(200)


@dataclasses.dataclass(frozen=True)
class RandomForestParams:
    scaler: Scaler = "none"
    pca_components: int | None = _components(None)
    train_samples: int | None = _samples(None)
    n_estimators: int = _positive(100)
    max_depth: int | None = _positive(None)  # null = grow until leaves are pure
    min_samples_leaf: int = _positive(1)


@dataclasses.dataclass(frozen=True)
class SVCParams:
    scaler: Scaler = "minmax"
    pca_components: int | None = _components(50)
    train_samples: int | None = _samples(20_000)
    C: float = _positive(10.0)
    gamma: float | Literal["scale", "auto"] = "scale"  # RBF width; "scale" = 1 / (features * variance)


@dataclasses.dataclass(frozen=True)
class KNNParams:
    scaler: Scaler = "minmax"
    pca_components: int | None = _components(50)
    train_samples: int | None = _samples(None)
    n_neighbors: int = _positive(4)
    weights: Literal["uniform", "distance"] = "distance"


@dataclasses.dataclass(frozen=True)
class ModelsParams:
    """`baselines.models`: one section per model, named as in MODEL_NAMES."""

    sgd: SGDParams = dataclasses.field(default_factory=SGDParams)
    logistic: LogisticParams = dataclasses.field(default_factory=LogisticParams)
    random_forest: RandomForestParams = dataclasses.field(default_factory=RandomForestParams)
    svc_ovo: SVCParams = dataclasses.field(default_factory=SVCParams)
    svc_ovr: SVCParams = dataclasses.field(default_factory=SVCParams)
    knn: KNNParams = dataclasses.field(default_factory=KNNParams)


@dataclasses.dataclass(frozen=True)
class CVParams:
    """`baselines.cv`: stratified k-fold on (a stratified subset of) each model's training data."""

    folds: int = dataclasses.field(default=3, metadata=check(between(2, 100)))
    max_samples: int | None = _samples(10_000)  # CV subset size; null = the model's whole training data


@dataclasses.dataclass(frozen=True)
class BaselinesParams:
    """The `baselines` section of params.yaml."""

    enabled: tuple[ModelName, ...] = MODEL_NAMES  # [] switches every baseline stage off
    train_data: Literal["prepared", "balanced"] = "prepared"  # balanced = oversample's output
    n_jobs: int = _positive(2)
    cv: CVParams = dataclasses.field(default_factory=CVParams)
    models: ModelsParams = dataclasses.field(default_factory=ModelsParams)

    def __post_init__(self) -> None:
        repeated = sorted({name for name in self.enabled if self.enabled.count(name) > 1})
        if repeated:
            raise ValueError(f"baselines.enabled lists {repeated[0]!r} twice; list each model once")


def _sgd(p: SGDParams, seed: int, n_jobs: int) -> base.BaseEstimator:
    return linear_model.SGDClassifier(
        loss=p.loss, alpha=p.alpha, max_iter=p.max_iter, tol=p.tol, random_state=seed, n_jobs=n_jobs
    )


def _logistic(p: LogisticParams, seed: int, n_jobs: int) -> base.BaseEstimator:
    return linear_model.LogisticRegression(C=p.C, max_iter=p.max_iter, random_state=seed)


def _random_forest(p: RandomForestParams, seed: int, n_jobs: int) -> base.BaseEstimator:
    return ensemble.RandomForestClassifier(
        n_estimators=p.n_estimators, max_depth=p.max_depth, min_samples_leaf=p.min_samples_leaf,
        random_state=seed, n_jobs=n_jobs,
    )


def _svc_ovo(p: SVCParams, seed: int, n_jobs: int) -> base.BaseEstimator:
    # SVC always trains one-vs-one (45 pairwise machines); the shape only names how it votes.
    return svm.SVC(kernel="rbf", C=p.C, gamma=p.gamma, decision_function_shape="ovo", random_state=seed)


def _svc_ovr(p: SVCParams, seed: int, n_jobs: int) -> base.BaseEstimator:
    # Ten machines, each digit against all the others, as the notebook did.
    return multiclass.OneVsRestClassifier(svm.SVC(kernel="rbf", C=p.C, gamma=p.gamma, random_state=seed), n_jobs=n_jobs)


def _knn(p: KNNParams, seed: int, n_jobs: int) -> base.BaseEstimator:
    return neighbors.KNeighborsClassifier(n_neighbors=p.n_neighbors, weights=p.weights, n_jobs=n_jobs)


ESTIMATORS: dict[str, Callable[[Any, int, int], base.BaseEstimator]] = {
    "sgd": _sgd, "logistic": _logistic, "random_forest": _random_forest,
    "svc_ovo": _svc_ovo, "svc_ovr": _svc_ovr, "knn": _knn,
}


def check_name(name: str) -> None:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown baseline model {name!r}; known models: {', '.join(MODEL_NAMES)} (baselines.enabled in params.yaml)")


def model_params(settings: BaselinesParams, name: str) -> Any:
    """The params object of model `name` (`baselines.models.<name>`)."""
    check_name(name)
    return getattr(settings.models, name)


def build(name: str, model_params: Any, *, seed: int, n_jobs: int = 1) -> pipeline.Pipeline:
    """An unfitted Pipeline [scaler] -> [PCA] -> estimator for model `name`."""
    check_name(name)
    steps: list[tuple[str, Any]] = []
    if model_params.scaler == "standard":
        steps.append(("scale", preprocessing.StandardScaler()))
    elif model_params.scaler == "minmax":
        steps.append(("scale", preprocessing.MinMaxScaler()))
    if model_params.pca_components is not None:
        steps.append(("pca", decomposition.PCA(n_components=model_params.pca_components, random_state=seed)))
    steps.append((name, ESTIMATORS[name](model_params, seed, n_jobs)))
    return pipeline.Pipeline(steps)


def features(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float32 (N, 784), raw 0-255: what every baseline pipeline takes."""
    return np.asarray(images, dtype=np.float32).reshape(len(images), -1)


def stratified_subset(
    images: np.ndarray, labels: np.ndarray, size: int | None, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`size` images drawn with the class proportions of `labels`; all of them when size is None or >= N."""
    if size is None or size >= len(labels):
        return images, labels
    picked, _ = model_selection.train_test_split(
        np.arange(len(labels)), train_size=size, stratify=labels, random_state=seed
    )
    picked = np.sort(picked)
    return images[picked], labels[picked]


def cross_validate(
    model: pipeline.Pipeline, inputs: np.ndarray, labels: np.ndarray, *, folds: int, seed: int, n_jobs: int
) -> tuple[float, float]:
    """Stratified k-fold accuracy of an unfitted `model`: (mean, standard deviation) over the folds."""
    splitter = model_selection.StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = model_selection.cross_val_score(base.clone(model), inputs, labels, cv=splitter, scoring="accuracy", n_jobs=n_jobs)
    return float(np.mean(scores)), float(np.std(scores))


def fit_and_score(
    model: pipeline.Pipeline, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]
) -> dict[str, float]:
    """Fit `model` in place on flat `train`, score it on flat `test`: accuracy, macro F1, seconds."""
    started = time.perf_counter()
    model.fit(*train)
    fitted = time.perf_counter()
    predicted = model.predict(test[0])
    finished = time.perf_counter()
    return {
        "accuracy": float(metrics.accuracy_score(test[1], predicted)),
        "f1_macro": float(metrics.f1_score(test[1], predicted, average="macro")),
        "fit_seconds": fitted - started,
        "predict_seconds": finished - fitted,
    }


def run(
    name: str,
    model_params: Any,
    *,
    cv: CVParams,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    seed: int,
    n_jobs: int,
) -> tuple[pipeline.Pipeline, dict[str, Any]]:
    """Cross-validate, fit and score model `name` on image splits; return the fitted pipeline and its metrics."""
    model = build(name, model_params, seed=seed, n_jobs=n_jobs)
    train_images, train_labels = stratified_subset(*train, model_params.train_samples, seed=seed)
    cv_images, cv_labels = stratified_subset(train_images, train_labels, cv.max_samples, seed=seed)
    log.info("%s: cross-validating on %d images, %d folds", name, len(cv_labels), cv.folds)
    started = time.perf_counter()
    cv_mean, cv_std = cross_validate(model, features(cv_images), cv_labels, folds=cv.folds, seed=seed, n_jobs=n_jobs)
    cv_seconds = time.perf_counter() - started
    log.info("%s: fitting on %d images, testing on %d", name, len(train_labels), len(test[1]))
    scores = fit_and_score(model, (features(train_images), train_labels), (features(test[0]), test[1]))
    result = {
        "cv_accuracy_mean": cv_mean,
        "cv_accuracy_std": cv_std,
        "cv_folds": cv.folds,
        "cv_samples": len(cv_labels),
        "cv_seconds": cv_seconds,
        "train_samples": len(train_labels),
        **scores,
    }
    log.info("%s: cv %.4f ± %.4f, test accuracy %.4f, fit %.1f s", name, cv_mean, cv_std, scores["accuracy"], scores["fit_seconds"])
    return model, result
