import numpy as np
import pytest

from mnistflow.core import mnist_csv

HEADER = ",".join(mnist_csv.ROWCOL_HEADER)


def row(label, *, pixel=0, first_pixel=None):
    pixels = [str(pixel)] * 784
    if first_pixel is not None:
        pixels[0] = str(first_pixel)
    return ",".join([str(label)] + pixels)


def write(tmp_path, text, name="train.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_csv_returns_uint8_images_and_labels_in_row_major_order(tmp_path):
    pixels = np.arange(784) % 256
    text = HEADER + "\n" + ",".join(["7"] + [str(p) for p in pixels]) + "\n" + row(0, pixel=255) + "\n"
    images, labels = mnist_csv.read_csv(write(tmp_path, text))
    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    assert labels.tolist() == [7, 0]
    assert images.shape == (2, 28, 28)
    assert images[0, 0, :3].tolist() == [0, 1, 2] and images[0, 1, 0] == 28 and images[0, 27, 27] == 783 % 256
    assert (images[1] == 255).all()


def test_write_csv_then_read_csv_gives_back_the_same_arrays(tmp_path, rng):
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1], dtype=np.uint8)
    mnist_csv.write_csv(tmp_path / "out.csv", images, labels)
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == HEADER
    read_images, read_labels = mnist_csv.read_csv(tmp_path / "out.csv")
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_read_csv_accepts_the_pixel_header_only_when_asked(tmp_path):
    path = write(tmp_path, ",".join(mnist_csv.PIXEL_HEADER) + "\n" + row(4) + "\n")
    assert mnist_csv.read_csv(path, layouts=("rowcol", "pixel"))[1].tolist() == [4]
    with pytest.raises(ValueError, match=r"line 1 \(header\), column 2 is 'pixel0'; expected '1x1'"):
        mnist_csv.read_csv(path)


def test_read_csv_accepts_crlf_line_ends_and_a_missing_final_newline(tmp_path):
    path = write(tmp_path, HEADER + "\r\n" + row(1) + "\r\n" + row(2))
    assert mnist_csv.read_csv(path)[1].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            HEADER.replace(",1x2,", ",1x3,") + "\n" + row(1) + "\n",
            r"train\.csv: line 1 \(header\), column 3 is '1x3'; expected '1x2' \(header 'label,1x1,\.\.\.,28x28'\)$",
            id="wrong-header",
        ),
        pytest.param(
            HEADER.rsplit(",", 1)[0] + "\n" + row(1) + "\n",
            r"train\.csv: line 1 \(header\) has 784 columns; expected 785: 'label,1x1,\.\.\.,28x28'$",
            id="header-784-columns",
        ),
        pytest.param(
            HEADER + "\n" + row(1) + "\n" + row(2).rsplit(",", 1)[0] + "\n" + row(3) + "\n",
            r"train\.csv: line 3 has 784 columns; expected 785 \(label \+ 784 pixels\)$",
            id="row-784-columns",
        ),
        pytest.param(
            HEADER + "\n" + row(1) + ",0\n" + row(2) + "\n",
            r"train\.csv: line 2 has 786 columns; expected 785 \(label \+ 784 pixels\)$",
            id="row-786-columns",
        ),
        pytest.param(
            HEADER + "\n" + row(1) + "\n" + row(2, first_pixel="x") + "\n",
            r"train\.csv: line 3, column 2 \(1x1\) is 'x'; expected a pixel, an integer 0-255$",
            id="non-numeric-cell",
        ),
        pytest.param(
            HEADER + "\n" + row(1, first_pixel="1.5") + "\n",
            r"train\.csv: line 2, column 2 \(1x1\) is '1\.5'; expected a pixel, an integer 0-255$",
            id="decimal-pixel",
        ),
        pytest.param(
            HEADER + "\n" + row(1) + "\n" + row(10) + "\n",
            r"train\.csv: line 3, column 1 \(label\) is 10; expected a label, an integer 0-9$",
            id="label-10",
        ),
        pytest.param(
            HEADER + "\n" + row(-1) + "\n" + row(1) + "\n",
            r"train\.csv: line 2, column 1 \(label\) is -1; expected a label, an integer 0-9$",
            id="label-minus-1",
        ),
        pytest.param(
            HEADER + "\n" + row(1) + "\n" + row(2, first_pixel=256) + "\n",
            r"train\.csv: line 3, column 2 \(1x1\) is 256; expected a pixel, an integer 0-255$",
            id="pixel-256",
        ),
        pytest.param(
            HEADER + "\n" + row(1) + "\n" + row(2, first_pixel="") + "\n",
            r"train\.csv: line 3, column 2 \(1x1\) is empty; expected a pixel, an integer 0-255$",
            id="empty-pixel",
        ),
        pytest.param(
            HEADER + "\n" + row(1)[1:] + "\n",
            r"train\.csv: line 2, column 1 \(label\) is empty; expected a label, an integer 0-9$",
            id="empty-label",
        ),
        pytest.param(
            "",
            r"train\.csv: file is empty; expected a header line 'label,1x1,\.\.\.,28x28'$",
            id="empty-file",
        ),
        pytest.param(
            HEADER + "\n",
            r"train\.csv: has a header but no data rows; expected at least one row$",
            id="header-only",
        ),
        pytest.param(
            HEADER + "\n" + row(1) + "\n" + row(2)[:301],
            r"train\.csv: line 3 has 151 columns; expected 785 \(label \+ 784 pixels\) \(truncated last line\?\)$",
            id="truncated-last-row",
        ),
    ],
)
def test_read_csv_rejects_bad_input_naming_file_line_column_and_what_was_expected(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        mnist_csv.read_csv(write(tmp_path, text))


def test_read_csv_counts_lines_past_blank_lines(tmp_path):
    path = write(tmp_path, HEADER + "\n" + row(1) + "\n\n" + row(12) + "\n")
    with pytest.raises(ValueError, match=r"line 4, column 1 \(label\) is 12"):
        mnist_csv.read_csv(path)


def test_read_csv_finds_a_bad_cell_in_a_later_block_of_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_csv, "DIAGNOSE_BLOCK_LINES", 2)
    lines = [row(digit) for digit in range(6)]
    lines[4] = row(4, first_pixel=300)
    path = write(tmp_path, HEADER + "\n" + "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"line 6, column 2 \(1x1\) is 300; expected a pixel"):
        mnist_csv.read_csv(path)


def test_read_csv_does_not_call_a_short_row_truncated_when_more_lines_follow(tmp_path):
    path = write(tmp_path, HEADER + "\n" + row(1)[:301] + "\n" + row(2) + "\n")
    with pytest.raises(ValueError, match=r"line 2 has 151 columns; expected 785 \(label \+ 784 pixels\)$"):
        mnist_csv.read_csv(path)


def test_write_csv_rejects_labels_that_are_not_digits(tmp_path):
    with pytest.raises(ValueError, match=r"labels must be digits 0-9; got values from 0 to 10"):
        mnist_csv.write_csv(tmp_path / "out.csv", np.zeros((2, 28, 28), np.uint8), np.array([0, 10]))
    assert not (tmp_path / "out.csv").exists()


def test_read_rows_keeps_every_good_row_with_its_line_and_reports_each_bad_one(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_csv, "DIAGNOSE_BLOCK_LINES", 3)  # good blocks go through pyarrow, bad ones row by row
    lines = [row(0, first_pixel=10), row(1, first_pixel=11), row(2, first_pixel=12),  # lines 2-4: a clean block
             row(3, first_pixel="x"), "", row(12),  # lines 5-7: bad, blank, bad label
             row(6, first_pixel=16), row(7)[:40]]  # lines 8-9: good, then a truncated last line
    rows = mnist_csv.read_rows(write(tmp_path, HEADER + "\n" + "\n".join(lines)))
    assert rows.lines.tolist() == [2, 3, 4, 8]
    assert rows.images[:, 0, 0].tolist() == [10, 11, 12, 16] and rows.labels.tolist() == [0, 1, 2, 6]
    assert rows.problems == [
        (5, "line 5, column 2 (1x1) is 'x'; expected a pixel, an integer 0-255"),
        (7, "line 7, column 1 (label) is 12; expected a label, an integer 0-9"),
        (9, "line 9 has 21 columns; expected 785 (label + 784 pixels) (truncated last line?)"),
    ]


def test_read_rows_reads_a_layout_without_labels_and_numbers_rows_past_blank_lines(tmp_path):
    header = ",".join(mnist_csv.PIXEL_HEADER[1:])
    rows = mnist_csv.read_rows(write(tmp_path, header + "\n" + row(9)[2:] + "\n\n" + row(9, first_pixel=5)[2:] + "\n"))
    assert rows.labels is None and rows.lines.tolist() == [2, 4] and rows.images[:, 0, 0].tolist() == [0, 5]
    assert rows.problems == []


def test_read_rows_names_the_file_when_the_whole_file_is_unusable(tmp_path):
    with pytest.raises(ValueError, match=r"x\.csv: line 1 \(header\), column 2 is 'pixel_0'; expected 'pixel0'"):
        mnist_csv.read_rows(write(tmp_path, "label,pixel_0" + ",pixel1" * 783 + "\n" + row(1) + "\n", name="x.csv"))
    with pytest.raises(ValueError, match=r"y\.csv: has a header but no data rows"):
        mnist_csv.read_rows(write(tmp_path, HEADER + "\n\n", name="y.csv"))


def test_read_csv_refuses_a_layout_without_labels(tmp_path):
    with pytest.raises(ValueError, match=r"layouts must have a label column; got \['pixel_unlabelled'\]"):
        mnist_csv.read_csv(write(tmp_path, HEADER + "\n" + row(1) + "\n"), layouts=("rowcol", "pixel_unlabelled"))
