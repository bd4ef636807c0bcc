from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import pytest
import threadpoolctl
from sklearn import base, decomposition, model_selection, preprocessing

from mnistflow.classical import baselines
from mnistflow.core import params
from stage_scripts import load_stage  # tests/stage_scripts.py
from synthetic import make_digits

ROOT = pathlib.Path(__file__).resolve().parent.parent
KNOWN = "sgd, logistic, random_forest, svc_ovo, svc_ovr, knn"


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Tiny arrays gain nothing from BLAS threads; on a busy machine their spin-waits cost seconds."""
    with threadpoolctl.threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def tiny_splits():
    return make_digits(10, seed=1), make_digits(4, seed=2)


@pytest.mark.parametrize("name", baselines.MODEL_NAMES)
def test_run_fits_cross_validates_and_scores_every_baseline_on_tiny_digits(name, tiny_splits):
    train, test = tiny_splits
    settings = baselines.BaselinesParams()
    model, result = baselines.run(
        name, baselines.model_params(settings, name), cv=baselines.CVParams(folds=2, max_samples=None),
        train=train, test=test, seed=0, n_jobs=1,
    )
    assert set(result) == {
        "accuracy", "f1_macro", "cv_accuracy_mean", "cv_accuracy_std", "cv_folds", "cv_samples", "cv_seconds",
        "train_samples", "fit_seconds", "predict_seconds",
    }
    assert (result["train_samples"], result["cv_samples"], result["cv_folds"]) == (100, 100, 2)
    predicted = model.predict(baselines.features(test[0]))
    assert predicted.shape == (40,) and set(predicted) <= set(range(10))
    assert result["accuracy"] == np.mean(predicted == test[1])
    assert result["accuracy"] > 0.2  # twice chance, from 10 images per digit (the CNN does far better)


def test_features_flattens_images_to_float_rows_of_raw_pixels():
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    flat = baselines.features(images)
    assert flat.dtype == np.float32 and flat.shape == (2, 784)
    assert flat[1, :3].tolist() == [16.0, 17.0, 18.0]  # 784 % 256 = 16: row 2 starts at pixel 784


def test_build_puts_scaler_and_pca_in_front_of_the_estimator():
    knn = baselines.build("knn", baselines.KNNParams(), seed=0)
    assert [name for name, _ in knn.steps] == ["scale", "pca", "knn"]
    assert isinstance(knn.named_steps["scale"], preprocessing.MinMaxScaler)
    assert knn.named_steps["pca"].n_components == 50
    forest = baselines.build("random_forest", baselines.RandomForestParams(), seed=0)
    assert [name for name, _ in forest.steps] == ["random_forest"]
    sgd = baselines.build("sgd", baselines.SGDParams(pca_components=20), seed=0)
    assert [type(step).__name__ for _, step in sgd.steps] == ["StandardScaler", "PCA", "SGDClassifier"]


def test_build_passes_the_seed_and_hyperparameters_down():
    svc = baselines.build("svc_ovo", baselines.SVCParams(C=3.0, gamma=0.02), seed=7)
    assert isinstance(svc.named_steps["pca"], decomposition.PCA) and svc.named_steps["pca"].random_state == 7
    estimator = svc.named_steps["svc_ovo"]
    assert (estimator.C, estimator.gamma, estimator.kernel, estimator.random_state) == (3.0, 0.02, "rbf", 7)
    ovr = baselines.build("svc_ovr", baselines.SVCParams(), seed=7, n_jobs=2).named_steps["svc_ovr"]
    assert (type(ovr).__name__, ovr.n_jobs, ovr.estimator.random_state) == ("OneVsRestClassifier", 2, 7)


def test_svc_ovr_trains_one_machine_per_digit(tiny_splits):
    (images, labels), _ = tiny_splits
    model = baselines.build("svc_ovr", baselines.SVCParams(pca_components=10), seed=0)
    model.fit(baselines.features(images), labels)
    assert len(model.named_steps["svc_ovr"].estimators_) == 10


def test_build_rejects_an_unknown_model_name_listing_the_known_ones():
    with pytest.raises(ValueError, match=rf"^unknown baseline model 'svm'; known models: {KNOWN} \(baselines\.enabled in params\.yaml\)$"):
        baselines.build("svm", baselines.SVCParams(), seed=0)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"models": {"svc_ovo": {"gama": 0.1}}},
         r"^baselines\.models\.svc_ovo\.gama is not a known parameter; expected one of: scaler, pca_components, train_samples, C, gamma$"),
        ({"models": {"svm": {}}}, rf"^baselines\.models\.svm is not a known parameter; expected one of: {KNOWN}$"),
        ({"enabled": ["sgd", "svm"]}, r"^baselines\.enabled\[1\] must be one of 'sgd', 'logistic', .*'knn'; got 'svm'$"),
        ({"enabled": ["knn", "sgd", "knn"]}, r"^baselines\.enabled lists 'knn' twice; list each model once$"),
        ({"models": {"knn": {"pca_components": 0}}}, r"^baselines\.models\.knn\.pca_components must be in \[1, 784\]; got 0$"),
        ({"models": {"sgd": {"scaler": "robust"}}},
         r"^baselines\.models\.sgd\.scaler must be one of 'standard', 'minmax', 'none'; got 'robust'$"),
        ({"models": {"svc_ovr": {"gamma": "wide"}}}, r"^baselines\.models\.svc_ovr\.gamma must be float or Literal"),
        ({"cv": {"folds": 1}}, r"^baselines\.cv\.folds must be in \[2, 100\]; got 1$"),
        ({"cv": {"max_samples": 5}},
         r"^baselines\.cv\.max_samples must be at least 10 \(a stratified subset needs one image per digit\); got 5$"),
        ({"train_data": "raw"}, r"^baselines\.train_data must be one of 'prepared', 'balanced'; got 'raw'$"),
    ],
)
def test_baselines_params_reject_bad_values_in_one_line_naming_the_key(mapping, message):
    with pytest.raises(ValueError, match=message) as raised:
        params.parse(baselines.BaselinesParams, mapping, key="baselines")
    assert "\n" not in str(raised.value)


def test_every_registered_model_has_a_params_section_and_an_estimator():
    sections = tuple(field.name for field in dataclasses.fields(baselines.ModelsParams))
    assert sections == baselines.MODEL_NAMES == tuple(baselines.ESTIMATORS)


def test_params_yaml_baselines_section_spells_out_the_defaults():
    assert params.load_section(ROOT / "params.yaml", "baselines", baselines.BaselinesParams) == baselines.BaselinesParams()


def test_stratified_subset_keeps_class_proportions_and_all_returns_everything():
    labels = np.array([0] * 20 + [1] * 10, dtype=np.uint8)
    images = np.arange(30, dtype=np.uint8)
    _, picked = baselines.stratified_subset(images, labels, 6, seed=0)
    assert np.bincount(picked).tolist() == [4, 2]
    same_images, same_labels = baselines.stratified_subset(images, labels, None, seed=0)
    assert same_images is images and same_labels is labels
    assert baselines.stratified_subset(images, labels, 30, seed=0)[1] is labels


def test_cross_validate_returns_mean_and_spread_of_accuracy_over_shuffled_stratified_folds(tiny_splits):
    (images, labels), _ = tiny_splits
    inputs = baselines.features(images)
    model = baselines.build("knn", baselines.KNNParams(pca_components=10, n_neighbors=1), seed=0)
    expected = []
    for fit_rows, score_rows in model_selection.StratifiedKFold(5, shuffle=True, random_state=3).split(inputs, labels):
        fold_model = base.clone(model).fit(inputs[fit_rows], labels[fit_rows])
        expected.append(np.mean(fold_model.predict(inputs[score_rows]) == labels[score_rows]))
    mean, spread = baselines.cross_validate(model, inputs, labels, folds=5, seed=3, n_jobs=1)
    assert (mean, spread) == pytest.approx((np.mean(expected), np.std(expected)), abs=1e-12)
    assert not hasattr(model.named_steps["knn"], "classes_")  # CV fits clones: the model stays unfitted


def test_baseline_stage_rejects_an_unknown_name_with_one_line_and_exit_status_1(tmp_path, capsys):
    from mnistflow.core import cli

    stage = load_stage("baseline")
    argv = ["--params", str(ROOT / "params.yaml"), "--name", "svm", "--train", "t.npz", "--test", "t.npz",
            "--model", str(tmp_path / "m.joblib"), "--metrics", str(tmp_path / "m.json")]
    assert cli.run(stage.main, argv) == 1
    assert capsys.readouterr().err == (
        f"error: unknown baseline model 'svm'; known models: {KNOWN} (baselines.enabled in params.yaml)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_baseline_stage_writes_a_loadable_model_and_its_metrics(tmp_path):
    import json

    import joblib

    from mnistflow.core import arrays, cli

    train, test = make_digits(6, seed=3), make_digits(2, seed=4)
    arrays.save_split(tmp_path / "train.npz", *train)
    arrays.save_split(tmp_path / "test.npz", *test)
    (tmp_path / "params.yaml").write_text(
        "seed: 3\nbaselines:\n  n_jobs: 1\n  cv: {folds: 2, max_samples: null}\n  models:\n    knn: {pca_components: 8, n_neighbors: 1}\n"
    )
    argv = ["--params", str(tmp_path / "params.yaml"), "--name", "knn", "--train", str(tmp_path / "train.npz"),
            "--test", str(tmp_path / "test.npz"), "--model", str(tmp_path / "out" / "knn.joblib"),
            "--metrics", str(tmp_path / "out" / "knn.json"), "--run-log", str(tmp_path / "logs" / "knn.json")]
    assert cli.run(load_stage("baseline").main, argv) == 0
    metrics = json.loads((tmp_path / "out" / "knn.json").read_text())
    model = joblib.load(tmp_path / "out" / "knn.joblib")
    assert metrics["accuracy"] == np.mean(model.predict(baselines.features(test[0])) == test[1])
    assert (metrics["train_samples"], metrics["cv_folds"]) == (60, 2)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["knn.joblib", "knn.json"]
    # Wall-clock times go to the run log, not to the tracked metrics.
    assert not [name for name in metrics if name.endswith("_seconds")]
    run_log = json.loads((tmp_path / "logs" / "knn.json").read_text())
    assert run_log["stage"] == "baseline@knn"
    assert {"cv_seconds", "fit_seconds", "predict_seconds"} <= set(run_log)
