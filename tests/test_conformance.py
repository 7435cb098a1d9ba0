"""Every conformance vector, through the file reader and through the streaming Decoder."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from conftest import ROOT

import vtcodec
from vtcodec import codec, files, metrics

VECTORS = ROOT / "conformance" / "vectors"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())


def decode_file_path(path) -> tuple[np.ndarray, str]:
    tokens: list = []
    frames = np.concatenate(list(files.iter_decode(path, tokens_out=tokens)))
    return frames, codec.digest_tokens(tokens)


def decode_streaming(data: bytes) -> tuple[np.ndarray, str]:
    tokens: list = []
    dec = vtcodec.Decoder(tokens_out=tokens)
    out = []
    for i in range(0, len(data), 777):
        out += dec.decode(data[i:i + 777])
    dec.flush()
    return np.stack(out), codec.digest_tokens(tokens)


def test_there_are_enough_vectors_of_each_kind():
    groups = [v["group"] for v in MANIFEST["vectors"]]
    assert len(groups) >= 20
    assert groups.count("valid") >= 10 and groups.count("faulty") >= 10
    for group in ("valid", "uncommon", "faulty"):
        assert (VECTORS / group / "README.md").is_file()


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=lambda v: v["file"])
def test_vector(entry):
    path = VECTORS / entry["file"]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], "vector file changed"
    if entry["group"] == "faulty":
        with pytest.raises(vtcodec.VtcError) as by_file:
            decode_file_path(path)
        with pytest.raises(vtcodec.VtcError) as by_stream:
            decode_streaming(data)
        # one decoder behind both paths: the same verdict, in the same words unless the file
        # reader could tell more from knowing the file's size (truncation)
        assert type(by_file.value) is type(by_stream.value)
        if not str(by_file.value).startswith(("truncated", "empty")):
            assert str(by_file.value) == str(by_stream.value)
        return
    if entry["group"] == "uncommon" and entry["result"] == "rejected":
        with pytest.raises(vtcodec.VtcError):
            decode_file_path(path)
        return
    for frames, tokens in (decode_file_path(path), decode_streaming(data)):
        assert tokens == entry["tokens_sha256"]  # tokens: exactly
        assert frames.shape[0] == entry["frames"]
        if "frames_file" in entry:  # frames: within the stated tolerance
            ref = np.load(VECTORS / entry["frames_file"])["frames"]
            tol = MANIFEST["tolerance"]
            assert frames.shape == ref.shape
            diff = np.abs(frames.astype(int) - ref.astype(int))
            assert diff.max() <= tol["max_abs_diff"]
            assert metrics.psnr(frames, ref) >= tol["min_psnr_db"]
