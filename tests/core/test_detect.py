"""HOG detection and chips on real faces."""

from __future__ import annotations

import cv2
import numpy as np

from facenet_core.imageio import load_image
from facenet_core.vision.align import face_chip
from facenet_core.vision.detectors import DetectorConfig, HogDetector


def test_one_centred_face_with_sane_landmarks(lfw_images, hog) -> None:
    found = 0
    for path in lfw_images[:15]:
        image = load_image(path)
        faces = hog.detect(image)
        if not faces:
            continue
        found += 1
        face = min(faces, key=lambda d: abs(d.center[0] - 125) + abs(d.center[1] - 125))
        assert abs(face.center[0] - 125) < 30 and abs(face.center[1] - 130) < 35
        x1, _, x2, _ = face.box
        assert 60 < x2 - x1 < 160
        assert face.landmarks.shape == (5, 2) and face.scheme == "dlib5"
        inside = (face.landmarks[:, 0] > x1 - 10) & (face.landmarks[:, 0] < x2 + 10)
        assert inside.all()
        assert face.landmarks[4, 1] > face.landmarks[:4, 1].max()  # nose below the eyes
    assert found >= 13


def test_downscaled_detection_maps_back_to_original_pixels(lfw_images) -> None:
    image = load_image(lfw_images[1])
    big = cv2.resize(image, (1000, 1000), interpolation=cv2.INTER_CUBIC)
    small_faces = HogDetector(DetectorConfig(upsample=0)).detect(big)
    scaled_faces = HogDetector(DetectorConfig(upsample=1, max_side=500)).detect(big)
    assert small_faces and scaled_faces
    a = np.array(small_faces[0].box)
    b = np.array(scaled_faces[0].box)
    assert np.abs(a - b).max() < 40  # same face, in 1000-px coordinates
    assert b[2] > 500  # coordinates are in the original (large) image


def test_chip_equals_dlib_get_face_chip(lfw_images, hog) -> None:
    import dlib

    image = load_image(lfw_images[2])
    face = hog.detect(image)[0]
    ours = face_chip(image, face)
    assert ours.shape == (150, 150, 3) and ours.dtype == np.uint8
    det = dlib.get_frontal_face_detector()(image, 1)[0]
    from facenet_core.models.files import dlib_model_path

    sp = dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))
    reference = dlib.get_face_chip(image, sp(image, det), size=150, padding=0.25)
    np.testing.assert_array_equal(ours, reference)


def test_the_detector_config_takes_its_defaults_from_the_settings_registry() -> None:
    """One place for each default: the registry's. ``DetectorConfig()`` is the configuration
    of ``Settings()``, and every detection setting reaches the config."""
    from facenet_core.settings import Settings

    assert DetectorConfig() == DetectorConfig.from_settings(Settings())
    changed = Settings().replace(
        detector="mtcnn",
        detect_max_side=900,
        upsample=2,
        min_face_size=25,
        landmarks="native",
        exact_pyramid=True,
        device="cpu",
    )
    assert DetectorConfig.from_settings(changed) == DetectorConfig(
        name="mtcnn",
        max_side=900,
        upsample=2,
        min_face_size=25,
        landmarks="native",
        fast_pyramid=False,
        device="cpu",
    )


def test_every_detector_refuses_what_is_not_an_rgb_photo_with_one_message(hog) -> None:
    import pytest

    from facenet_core.vision.detectors.base import check_rgb

    grey = np.zeros((40, 40), np.uint8)
    rgba = np.zeros((40, 40, 4), np.uint8)
    floats = np.zeros((40, 40, 3), np.float32)
    for bad in (grey, rgba, floats):
        with pytest.raises(ValueError, match=r"expected an RGB uint8 image of shape \(H, W, 3\)"):
            check_rgb(bad)
        with pytest.raises(ValueError, match=r"expected an RGB uint8 image"):
            hog.detect(bad)
    with pytest.raises(ValueError, match="empty image"):
        check_rgb(np.zeros((0, 40, 3), np.uint8))
    check_rgb(np.zeros((40, 40, 3), np.uint8))  # a photo passes
