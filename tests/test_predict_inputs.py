import numpy as np
from PIL import Image

from mnistflow.core import mnist_csv
from mnistflow.serving import predict_inputs

PIXEL_HEADER = ",".join(f"pixel{i}" for i in range(784))


def digit(value: int) -> np.ndarray:
    """A 28x28 uint8 image whose first pixel is `value` and the rest 0: rows are told apart by it."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[0, 0] = value
    return image


def row(*cells: int | str) -> str:
    return ",".join(str(c) for c in cells)


def pixel_cells(first: int | str = 7) -> list[int | str]:
    return [first] + [0] * 783


def save_square_png(path, *, ink=0, paper=255):
    image = np.full((40, 30), paper, dtype=np.uint8)
    image[10:30, 10:20] = ink
    Image.fromarray(image).save(path)


def test_read_inputs_reads_a_canonical_csv_with_labels_one_input_per_row(tmp_path):
    mnist_csv.write_csv(tmp_path / "t.csv", np.stack([digit(1), digit(2), digit(3)]), np.array([4, 5, 6], np.uint8))
    inputs = predict_inputs.read_inputs([tmp_path / "t.csv"])
    assert inputs.names == [f"{tmp_path}/t.csv:2", f"{tmp_path}/t.csv:3", f"{tmp_path}/t.csv:4"]
    assert inputs.stacked()[:, 0, 0].tolist() == [1, 2, 3] and inputs.failures == []


def test_read_inputs_reads_digit_recognizer_test_csv_without_label_column(tmp_path):
    (tmp_path / "test.csv").write_text(PIXEL_HEADER + "\n" + row(*pixel_cells(9)) + "\n" + row(*pixel_cells(8)) + "\n")
    inputs = predict_inputs.read_inputs([tmp_path / "test.csv"])
    assert inputs.stacked().shape == (2, 28, 28) and inputs.stacked()[:, 0, 0].tolist() == [9, 8]
    assert inputs.failures == []


def test_read_inputs_reads_digit_recognizer_train_csv_with_label_column(tmp_path):
    (tmp_path / "train.csv").write_text("label," + PIXEL_HEADER + "\n" + row(3, *pixel_cells(200)) + "\n")
    assert predict_inputs.read_inputs([tmp_path / "train.csv"]).stacked()[0, 0, :2].tolist() == [200, 0]


def test_read_inputs_fails_each_bad_csv_row_alone_and_keeps_the_good_ones(tmp_path):
    lines = [
        "label," + PIXEL_HEADER,
        row(1, *pixel_cells(11)),  # line 2: good
        row(1, *pixel_cells("x")),  # line 3: not a number
        row(1, 2, 3),  # line 4: too few columns
        row(12, *pixel_cells(14)),  # line 5: label out of range
        row(1, *pixel_cells(256)),  # line 6: pixel out of range
        "",  # line 7: blank, skipped
        row(1, *pixel_cells(17)),  # line 8: good
    ]
    path = tmp_path / "train.csv"
    path.write_text("\n".join(lines) + "\n")
    inputs = predict_inputs.read_inputs([path])
    assert inputs.names == [f"{path}:2", f"{path}:8"] and inputs.stacked()[:, 0, 0].tolist() == [11, 17]
    assert inputs.failures == [
        (f"{path}:3", "line 3, column 2 (pixel0) is 'x'; expected a pixel, an integer 0-255"),
        (f"{path}:4", "line 4 has 3 columns; expected 785 (label + 784 pixels)"),
        (f"{path}:5", "line 5, column 1 (label) is 12; expected a label, an integer 0-9"),
        (f"{path}:6", "line 6, column 2 (pixel0) is 256; expected a pixel, an integer 0-255"),
    ]


def test_read_inputs_rejects_a_csv_with_an_unknown_header(tmp_path):
    (tmp_path / "x.csv").write_text("a,b,c,d\n1,2,3,4\n")
    inputs = predict_inputs.read_inputs([tmp_path / "x.csv"])
    assert inputs.failures == [
        (
            f"{tmp_path}/x.csv",
            "line 1 (header) has 4 columns; expected 785 or 784: 'label,1x1,...,28x28', "
            "'label,pixel0,...,pixel783', '1x1,...,28x28' or 'pixel0,...,pixel783'",
        )
    ]


def test_read_inputs_rejects_an_empty_csv_and_one_with_only_a_header(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text(PIXEL_HEADER + "\n")
    inputs = predict_inputs.read_inputs([tmp_path / "empty.csv", tmp_path / "header.csv"])
    assert [message for _, message in inputs.failures] == [
        "file is empty; expected a header line 'label,1x1,...,28x28', 'label,pixel0,...,pixel783', "
        "'1x1,...,28x28' or 'pixel0,...,pixel783'",
        "has a header but no data rows; expected at least one row",
    ]


def test_read_inputs_takes_a_directory_s_images_sorted_and_skips_other_files(tmp_path):
    save_square_png(tmp_path / "b.png")
    save_square_png(tmp_path / "a.bmp")
    (tmp_path / "notes.txt").write_text("not a digit")
    (tmp_path / "sub").mkdir()
    save_square_png(tmp_path / "sub" / "c.png")  # not searched
    inputs = predict_inputs.read_inputs([tmp_path])
    assert inputs.names == [f"{tmp_path}/a.bmp", f"{tmp_path}/b.png"] and inputs.failures == []
    assert inputs.stacked().shape == (2, 28, 28) and inputs.stacked().max() == 255


def test_read_inputs_reports_a_directory_without_images(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    inputs = predict_inputs.read_inputs([tmp_path])
    assert inputs.failures == [(str(tmp_path), "directory has no image files (subdirectories are not searched)")]


def test_read_inputs_reports_each_bad_file_and_keeps_the_good_one(tmp_path):
    save_square_png(tmp_path / "good.png")
    (tmp_path / "text.png").write_text("hello")
    Image.fromarray(np.full((20, 20), 255, np.uint8)).save(tmp_path / "blank.png")
    paths = [tmp_path / "missing.png", tmp_path / "text.png", tmp_path / "blank.png", tmp_path / "good.png"]
    inputs = predict_inputs.read_inputs(paths)
    assert inputs.names == [f"{tmp_path}/good.png"]
    names, messages = zip(*inputs.failures)
    assert names == tuple(str(p) for p in paths[:3])
    assert messages[0] == "no such file or directory"
    assert messages[1].startswith("not an image that can be read (cannot identify image file")
    assert messages[2].startswith("no ink found: the strongest stroke is 0 grey levels from the background")


def test_inputs_stacked_is_empty_uint8_when_nothing_was_read():
    stacked = predict_inputs.Inputs().stacked()
    assert stacked.shape == (0, 28, 28) and stacked.dtype == np.uint8


def test_read_inputs_reads_a_csv_with_windows_line_ends_and_no_final_newline(tmp_path):
    (tmp_path / "t.csv").write_bytes((PIXEL_HEADER + "\r\n" + row(*pixel_cells(5)) + "\r\n" + row(*pixel_cells(6))).encode())
    inputs = predict_inputs.read_inputs([tmp_path / "t.csv"])
    assert inputs.names == [f"{tmp_path}/t.csv:2", f"{tmp_path}/t.csv:3"] and inputs.stacked()[:, 0, 0].tolist() == [5, 6]
