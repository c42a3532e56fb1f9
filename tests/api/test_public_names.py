"""The public names of ``vmat``: exactly these, each importable, and `import vmat` loads none of the heavy ones."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vmat

PUBLIC = {"__version__", "Clip", "run", "matte", "RunConfig", "VmatError"}


def test_all_is_the_public_api():
    # Adding a public name is a decision: add it here and to docs/python.md.
    assert set(vmat.__all__) == PUBLIC
    assert PUBLIC <= set(dir(vmat))


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_resolves(name):
    assert getattr(vmat, name) is not None


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'convert_video'"):
        vmat.convert_video  # noqa: B018


def test_import_vmat_is_light():
    # In a fresh interpreter: importing vmat imports no torch, numpy or OpenCV and no vmat submodule.
    code = "import sys, vmat; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'cv2', 'vmat')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['vmat']"
