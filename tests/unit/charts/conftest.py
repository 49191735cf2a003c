import pytest


@pytest.fixture
def png():
    """(width, height, colours) of a PNG file; fails unless the file is one."""
    from PIL import Image

    def read(path):
        with Image.open(path) as image:
            assert image.format == "PNG"
            colours = image.convert("RGB").getcolors(maxcolors=1 << 24)
            return image.width, image.height, len(colours)

    return read
