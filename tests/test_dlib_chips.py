"""Our face chips (bench.metrics.dlibnet.chips) equal dlib's ``get_face_chip(img, shape, size=150, padding=0.25)``
pixel for pixel (max abs difference 0) on real portraits, data set frames, generated-looking frames, rotated,
scaled (dlib's image pyramid) and off-image shapes, for 68- and 5-point shapes."""

from __future__ import annotations

import dlib_cases as cases
import numpy as np
import pytest

from bench.metrics.dlibnet.chips import (
    TEMPLATE_5,
    TEMPLATE_68,
    extract_chip,
    face_chip,
    face_chip_details,
    pyramid_down,
)

dlib = pytest.importorskip("dlib")

SIZE, PADDING = 150, 0.25


def _assert_same_chip(image: np.ndarray, points: np.ndarray, size: int = SIZE, padding: float = PADDING) -> None:
    points = np.round(points)
    expected = dlib.get_face_chip(image, cases.detection(points), size=size, padding=padding)
    got = face_chip(image, points, size, float(np.float32(padding)))  # dlib's binding takes the padding as a float
    assert got.shape == expected.shape == (size, size, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def _assert_same_details(points: np.ndarray, size: int = SIZE, padding: float = PADDING) -> None:
    expected = dlib.get_face_chip_details(cases.detection(points), size, padding)  # here a double
    got = face_chip_details(np.round(points), size, padding)
    rect = expected.rect
    np.testing.assert_allclose(
        [got.left, got.top, got.right, got.bottom, got.angle],
        [rect.left(), rect.top(), rect.right(), rect.bottom(), expected.angle],
        rtol=0,
        atol=1e-9,
    )
    assert (got.rows, got.cols) == (expected.rows, expected.cols)


def _probed_template(count: int) -> dict[int, complex]:
    """dlib's template for ``count``-point shapes, recovered from ``get_face_chip_details`` alone: with padding 0
    the chip-to-image transform ``z * p + t`` is the least-squares fit of the template p to the shape, linear in
    the shape's points, so moving point k by one pixel along x moves z by conj(p_k - mean p) / S."""
    size = 1000
    rng = np.random.default_rng(0)
    base = np.round(cases.portraits()["astronaut"][1] if count == 68 else 200 + 60 * rng.random((5, 2)))

    def transform(points: np.ndarray) -> tuple[complex, complex]:
        details = dlib.get_face_chip_details(cases.detection(points), size, 0.0)
        rect = details.rect
        z = (rect.right() - rect.left() + 1) / size * np.exp(1j * details.angle)
        centre = complex((rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2)
        return z, centre - z * complex(size / 2, size / 2)

    z0, t0 = transform(base)
    moved = {}
    for k in range(count):
        points = base.copy()
        points[k, 0] += 1
        z, t = transform(points)
        moved[k] = (z - z0, t - t0)
    used = [k for k in range(count) if abs(moved[k][0]) > 1e-12]
    centred = np.array([np.conj(moved[k][0]) for k in used])  # (p_k - mean p) / S
    spread = 1 / np.sum(np.abs(centred) ** 2)
    mean = np.mean([(1 / len(used) - moved[k][1]) / moved[k][0] for k in used])
    return {k: (c * spread + mean) / size for k, c in zip(used, centred, strict=True)}


@pytest.mark.parametrize(("count", "template"), [(68, TEMPLATE_68), (5, TEMPLATE_5)])
def test_the_template_is_dlibs(count: int, template: dict[int, tuple[float, float]]) -> None:
    probed = _probed_template(count)
    assert sorted(probed) == sorted(template)  # 68 points: the nose, eyes and lips dlib uses (no jaw, brows, lower lip)
    for k, (x, y) in template.items():
        assert abs(probed[k] - complex(x, y)) < 1e-9, k


@pytest.mark.parametrize("name", sorted(cases.face_frames()))
def test_chips_of_detected_faces_are_dlibs(name: str) -> None:
    image = cases.face_frames()[name]
    shape = cases.dlib_shape(image)
    assert shape is not None, name
    points = cases.shape_points(shape)
    _assert_same_details(points)
    np.testing.assert_array_equal(
        face_chip(image, points), dlib.get_face_chip(image, shape, size=SIZE, padding=PADDING)
    )


@pytest.mark.parametrize("name", sorted(cases.portraits()))
def test_chips_of_portraits_at_their_size_are_dlibs(name: str) -> None:
    """Originals (512 and 600x512) and crops from 144 to 400 pixels, with the landmarks that come with them."""
    image, points = cases.portraits()[name]
    _assert_same_chip(image, points)


@pytest.mark.parametrize("scale", [2, 3, 5])
def test_large_faces_go_through_dlibs_image_pyramid(scale: int) -> None:
    """A face more than twice the chip's size is cut from levels of dlib's pyramid (1, 2 and 3 levels down)."""
    from PIL import Image

    image, points = cases.portraits()["grace_hopper"]
    large = np.asarray(Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale)))
    details = face_chip_details(np.round(points * scale))
    assert details.right - details.left + 1 > 2 * SIZE
    _assert_same_chip(large, points * scale)


@pytest.mark.parametrize("degrees", [-120, -30, 12, 45, 90, 179])
def test_rotated_shapes(degrees: float) -> None:
    image, points = cases.portraits()["grace_hopper"]
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = points.mean(axis=0)
    rotated = (points - centre) @ rotation.T + centre
    _assert_same_details(rotated)
    _assert_same_chip(image, rotated)


@pytest.mark.parametrize(
    ("offset", "scale"),
    [((-150, -150), 1.0), ((300, 300), 1.0), ((0, 0), 0.2), ((-250, 0), 1.0), ((2000, 2000), 1.0)],
    ids=["over-the-corner", "mostly-outside", "tiny", "half-outside", "all-outside"],
)
def test_chips_at_and_beyond_the_border_are_black_where_dlibs_are(offset: tuple[int, int], scale: float) -> None:
    image, points = cases.portraits()["grace_hopper"]
    _assert_same_chip(image, points * scale + np.array(offset))


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper-256"])
def test_five_point_shapes(name: str) -> None:
    image, points = cases.portraits()[name]
    five = points[[45, 42, 36, 39, 33]]  # dlib's 5-point order: right eye corners, left eye corners, nose
    _assert_same_details(five)
    _assert_same_chip(image, five)


@pytest.mark.parametrize(("size", "padding"), [(200, 0.2), (112, 0.0), (150, 0.5)])
def test_other_sizes_and_paddings(size: int, padding: float) -> None:
    image, points = cases.portraits()["astronaut-256"]
    _assert_same_details(points, size, padding)
    _assert_same_chip(image, points, size, padding)


def test_pyramid_down_is_dlibs() -> None:
    """One level of dlib's pyramid_down<2> (odd and even sizes), against dlib's own, and its point mapping."""
    pyramid = dlib.pyramid_down(2)
    rng = np.random.default_rng(3)
    for rows, cols in ((9, 9), (40, 33), (57, 64)):
        image = rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)
        got = pyramid_down(image)
        assert got.shape == ((rows - 3) // 2, (cols - 3) // 2, 3)
        np.testing.assert_array_equal(got, pyramid(image))
    assert pyramid_down(np.zeros((8, 20, 3), np.uint8)).shape == (0, 0, 3)
    down = pyramid.point_down(dlib.dpoint(10.0, 20.0))
    assert (down.x, down.y) == (10 / 2 - 1.25, 20 / 2 - 0.75)  # the mapping extract_chip uses between levels


def test_an_unrotated_chip_of_its_own_size_is_a_copy() -> None:
    from bench.metrics.dlibnet.chips import ChipDetails

    image = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    chip = extract_chip(image, ChipDetails(-2, 3, 7, 12, 0.0, 10, 10))
    np.testing.assert_array_equal(chip[:, 2:], image[3:13, 0:8])
    assert (chip[:, :2] == 0).all()


def test_errors_name_what_was_wrong() -> None:
    with pytest.raises(
        ValueError, match=r"expected a shape of 68 or 5 \(x, y\) points, got an array of shape \(6, 2\)"
    ):
        face_chip_details(np.zeros((6, 2)))
    with pytest.raises(ValueError, match=r"size must be > 0 and padding >= 0, got size=0, padding=0.25"):
        face_chip_details(np.zeros((5, 2)), size=0)
    with pytest.raises(ValueError, match=r"expected an \(H, W, C\) uint8 image, got shape \(4, 4\) and dtype float64"):
        face_chip(np.zeros((4, 4)), np.zeros((5, 2)))
