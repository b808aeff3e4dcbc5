"""The brand images follow Home Assistant's rules for them (home-assistant/brands README).

PNG, transparent, trimmed to the drawing; icons square at 256 and 512 px; logos landscape with
the shortest side 256 (512 for @2x); each @2x image the same picture at twice the size.
"""

from __future__ import annotations

import pytest
from PIL import Image

from release.version import ROOT

BRAND = ROOT / "custom_components/ipcom/brand"
# Home Assistant reads exactly these names; anything else in the folder is never shown.
KNOWN = {
    f"{dark}{kind}{hidpi}.png"
    for dark in ("", "dark_")
    for kind in ("icon", "logo")
    for hidpi in ("", "@2x")
}


def _open(name: str) -> Image.Image:
    image = Image.open(BRAND / name)
    assert image.format == "PNG"
    return image


def test_the_folder_holds_only_names_home_assistant_reads() -> None:
    names = {path.name for path in BRAND.iterdir()}
    assert {"icon.png", "icon@2x.png", "logo.png", "logo@2x.png"} <= names
    assert names <= KNOWN


@pytest.mark.parametrize("name", sorted(path.name for path in BRAND.glob("*.png")))
def test_each_image_is_transparent_and_trimmed(name: str) -> None:
    image = _open(name)
    assert image.mode == "RGBA"
    alpha = image.getchannel("A")
    assert alpha.getextrema()[0] == 0, "no transparent pixel: the background must be transparent"
    left, top, right, bottom = alpha.getbbox() or (0, 0, 0, 0)
    width, height = image.size
    # Trimmed: the drawing reaches every edge (one pixel of antialiasing allowed).
    assert left <= 1 and top <= 1 and right >= width - 1 and bottom >= height - 1


@pytest.mark.parametrize("prefix", ["", "dark_"])
def test_icons_are_square_at_256_and_512(prefix: str) -> None:
    if not (BRAND / f"{prefix}icon.png").exists():
        assert not (BRAND / f"{prefix}icon@2x.png").exists()
        pytest.skip(f"no {prefix}icon: the light one serves both themes")
    assert _open(f"{prefix}icon.png").size == (256, 256)
    assert _open(f"{prefix}icon@2x.png").size == (512, 512)


@pytest.mark.parametrize("prefix", ["", "dark_"])
def test_logos_are_landscape_with_the_largest_allowed_short_side(prefix: str) -> None:
    if not (BRAND / f"{prefix}logo.png").exists():
        pytest.skip(f"no {prefix}logo")
    width, height = _open(f"{prefix}logo.png").size
    assert width > height == 256
    assert _open(f"{prefix}logo@2x.png").size == (2 * width, 512)


def test_a_dark_logo_is_the_same_drawing_in_other_colours() -> None:
    light, dark = _open("logo.png"), _open("dark_logo.png")
    assert light.size == dark.size
    assert light.getchannel("A").getbbox() == dark.getchannel("A").getbbox()
    assert light.tobytes() != dark.tobytes()
