import numpy as np
import pytest
from PIL import Image

from mnistflow.core import digit_image


def square_image(*, ink: int, paper: int, side: int = 10, top: int = 3, left: int = 3, size: int = 4) -> np.ndarray:
    image = np.full((side, side), paper, dtype=np.uint8)
    image[top : top + size, left : left + size] = ink
    return image


def expected_centred_square() -> np.ndarray:
    """A square fills the 20x20 box; its centre of mass (9.5, 9.5) lands on MNIST's 14.0: rows/columns 5-24
    (14.0 - 9.5 = 4.5, rounded half up)."""
    expected = np.zeros((28, 28), dtype=np.uint8)
    expected[5:25, 5:25] = 255
    return expected


def test_prepare_centres_a_bright_square_in_the_20x20_box():
    np.testing.assert_array_equal(digit_image.prepare(square_image(ink=255, paper=0)), expected_centred_square())


def test_prepare_inverts_dark_ink_on_light_paper():
    np.testing.assert_array_equal(digit_image.prepare(square_image(ink=0, paper=255)), expected_centred_square())


def test_prepare_centres_an_off_centre_square_the_same_way():
    image = square_image(ink=255, paper=0, side=50, top=1, left=40, size=6)
    np.testing.assert_array_equal(digit_image.prepare(image), expected_centred_square())


def test_prepare_stretches_faint_ink_on_grey_paper_to_full_range():
    np.testing.assert_array_equal(digit_image.prepare(square_image(ink=150, paper=100)), expected_centred_square())


def test_prepare_keeps_the_aspect_ratio_of_a_tall_bar():
    image = np.zeros((12, 12), dtype=np.uint8)
    image[2:10, 5:7] = 255  # 8 tall, 2 wide -> 20 tall, 5 wide
    expected = np.zeros((28, 28), dtype=np.uint8)
    expected[5:25, 12:17] = 255  # centre of mass column 2 -> 14.0 - 2 = 12
    np.testing.assert_array_equal(digit_image.prepare(image), expected)


def test_prepare_ignores_faint_paper_noise_when_cropping():
    image = square_image(ink=255, paper=0)
    image[0, 0] = 40  # below a quarter of the ink's range: not part of the digit's bounding box
    prepared = digit_image.prepare(image)
    assert prepared[5:25, 5:25].min() == 255 and prepared.sum() == 255 * 400  # the speck is cropped away


def test_prepare_shifts_a_lopsided_digit_back_inside_the_frame():
    image = np.zeros((10, 10), dtype=np.uint8)
    image[0, :] = 255  # a top bar and one pixel at the bottom-left: mass near the top of a square box
    image[9, 0] = 255
    prepared = digit_image.prepare(image)
    # The centre of mass asks for the box to start at row 12; it is clipped to row 8 so the bottom survives.
    assert prepared[:8].max() == 0
    assert prepared[8, 5:25].tolist() == [255] * 20  # the bar: first row of the 20x20 box (columns 5-24)
    assert prepared[27, 5] == 255  # the bottom pixel, in the last row of the frame


def test_prepare_returns_uint8_28x28_for_a_large_photo_sized_image():
    image = np.full((300, 200), 230, dtype=np.uint8)
    image[100:200, 90:110] = 20
    prepared = digit_image.prepare(image)
    assert prepared.shape == (28, 28) and prepared.dtype == np.uint8 and prepared.max() == 255


@pytest.mark.parametrize("value", [0, 255, 128])
def test_prepare_rejects_a_uniform_image_as_having_no_ink(value):
    with pytest.raises(ValueError, match=r"no ink found: the strongest stroke is 0 grey levels from the background"):
        digit_image.prepare(np.full((8, 8), value, dtype=np.uint8))


def test_prepare_finds_dark_ink_on_dim_grey_paper():
    np.testing.assert_array_equal(digit_image.prepare(square_image(ink=10, paper=90)), expected_centred_square())


def test_prepare_rejects_ink_too_faint_to_tell_from_paper():
    with pytest.raises(ValueError, match=r"no ink found: the strongest stroke is 20 grey levels from the background \(grey level 200\); need at least 32"):
        digit_image.prepare(square_image(ink=220, paper=200))


def test_prepare_rejects_a_colour_array():
    with pytest.raises(ValueError, match=r"expected a 2-D grayscale image; got shape \(4, 4, 3\)"):
        digit_image.prepare(np.zeros((4, 4, 3), dtype=np.uint8))


def test_load_grayscale_reads_a_colour_png_as_grey(tmp_path):
    pixels = np.zeros((3, 2, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 255, 255)
    Image.fromarray(pixels, mode="RGB").save(tmp_path / "d.png")
    gray = digit_image.load_grayscale(tmp_path / "d.png")
    assert gray.shape == (3, 2) and gray.dtype == np.uint8 and gray[0, 0] == 255 and gray[1, 1] == 0


def test_load_grayscale_puts_transparent_pixels_on_white_paper(tmp_path):
    pixels = np.zeros((2, 2, 4), dtype=np.uint8)  # black, fully transparent ...
    pixels[0, 0] = (0, 0, 0, 255)  # ... except one opaque black ink pixel
    Image.fromarray(pixels, mode="RGBA").save(tmp_path / "d.png")
    assert digit_image.load_grayscale(tmp_path / "d.png").tolist() == [[0, 255], [255, 255]]


def test_load_grayscale_scales_16_bit_pngs_to_8_bits(tmp_path):
    Image.fromarray(np.array([[0, 65535]], dtype=np.uint16)).save(tmp_path / "d.png")
    assert digit_image.load_grayscale(tmp_path / "d.png").tolist() == [[0, 255]]


def test_load_grayscale_rejects_a_text_file(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"not an image that can be read \(cannot identify image file"):
        digit_image.load_grayscale(tmp_path / "notes.png")


def test_load_grayscale_rejects_a_truncated_png(tmp_path):
    Image.fromarray(np.arange(64 * 64, dtype=np.uint32).reshape(64, 64).astype(np.uint8)).save(tmp_path / "d.png")
    data = (tmp_path / "d.png").read_bytes()
    (tmp_path / "d.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"unreadable image data \("):
        digit_image.load_grayscale(tmp_path / "d.png")


def test_prepare_leaves_an_already_prepared_digit_unchanged():
    once = digit_image.prepare(square_image(ink=255, paper=0))
    np.testing.assert_array_equal(digit_image.prepare(once), once)
