"""Source `local`: two CSV files on disk in either Kaggle layout ("MNIST in CSV" or "Digit Recognizer")."""
from __future__ import annotations

import os

from mnistflow.core import mnist_csv
from mnistflow.fetch import data


def load(train: str | os.PathLike[str], test: str | os.PathLike[str]) -> data.MnistData:
    train_images, train_labels = mnist_csv.read_csv(train, layouts=("rowcol", "pixel"))
    test_images, test_labels = mnist_csv.read_csv(test, layouts=("rowcol", "pixel"))
    return data.MnistData(train_images, train_labels, test_images, test_labels)
