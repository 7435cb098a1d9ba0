"""Layered streams (format 6.0, 5.0 without motion-compensated prediction and 4.0 without block
skips either; vtcodec.layers, vtcodec.skip): the bundled enhancement layers over vt1-fsq, coded by
the codec, decoded exactly, refused cleanly when damaged."""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
import zlib
from dataclasses import replace

import numpy as np
import pytest
from conftest import cli, synth_frames
from test_cli import one_clean_error
from vtcodec.bitstream import Chunk, chunk_spans, header_size, payload_of, seal_stream

from vtcodec import codec, files
from vtcodec.errors import CorruptChunk, ModelError, VtcError
from vtcodec.layers import find_layer, qualities
from vtcodec.presets import PRESETS
from vtcodec.rate import Ladder

LAYERED = "vt1e-fsq"


def encode(frames: np.ndarray, **kw) -> tuple[bytes, list]:
    tokens: list = []
    h, w = frames.shape[1:3]
    with codec.Encoder(w, h, model=kw.pop("model", LAYERED), tokens_out=tokens, **kw) as enc:
        data = b"".join(enc.encode(f) for f in frames) + enc.flush()
    return enc.header_bytes() + data[len(enc.header_bytes()):], tokens


def decode(data: bytes) -> tuple[np.ndarray, list]:
    tokens: list = []
    dec = codec.Decoder(tokens_out=tokens)
    frames = dec.decode(data) + dec.flush()
    return np.stack(frames), tokens


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


def chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    start = header_size(data)
    return data[:start], [data[o:o + n] for o, n in chunk_spans(data, start)]


def frames_chunks(data: bytes) -> list[bytes]:
    return [c for c in chunks(data)[1] if c[4] == 0]


def test_the_ladder_of_a_layered_model_climbs_the_base_then_the_layer():
    """--quality: the base's grids up to 1.41x (qualities 1-8), then the layer from its level 0
    (9-16); target-rate mode: every one of those grids, then every level."""
    ladder = Ladder(0, 8)
    assert list(ladder.qualities) == list(range(1, 17)) and list(qualities(LAYERED)) == list(range(1, 17))
    assert ([ladder.rung(ladder.quality(q)) for q in (1, 6, 8, 9, 11, 16)]
            == [(108, 0), (128, 0), (136, 0), (128, 1), (128, 3), (128, 8)])
    assert (ladder.lo, ladder.hi) == (96, 144) and ladder.rung(137) == (128, 1) and ladder.rung(136) == (136, 0)
    assert list(qualities("vt1-fsq")) == list(range(1, 11))


@pytest.mark.parametrize("older,newer", [(LAYERED, "vt1e-fsq-v2"), ("vt1e-fsq-v2", "vt1e-fsq-v3"),
                                         ("vt1e-w24w", "vt1e-w24w-2")])
def test_each_later_bundled_layer_is_the_one_before_trained_on_over_the_same_base(older, newer):
    """vt1e-fsq-v2 started from vt1e-fsq's weights, v3 from v2's, vt1e-w24w-2 from w24w's (each
    recipe names them by hash), over the same base: below quality 9 both code the same base
    chunks; above, each its own layer, decoded exactly."""
    old, new = find_layer(older), find_layer(newer)
    assert new.bundled and (new.base, new.base_sha256) == (old.base, old.base_sha256) and new.sha256 != old.sha256
    assert new.info["recipe"]["warm_start"]["sha256"] == old.sha256
    assert new.config == replace(old.config, name=new.name)
    src = synth_frames(40, 24, 2)
    a, b = encode(src, quality=6, model=old.name)[0], encode(src, quality=6, model=new.name)[0]
    assert frames_chunks(a) == frames_chunks(b) and a != b  # the header names each layer
    data, tokens = encode(src, quality=14, model=new.name)
    assert frames_chunks(data) != frames_chunks(encode(src, quality=14, model=old.name)[0])
    frames, back = decode(data)
    assert codec.digest_tokens(back) == codec.digest_tokens(tokens) and frames.shape == src.shape


def test_layered_streams_decode_exactly_and_the_layer_adds_quality():
    """Every quality codes a 6.0 stream whose tokens (base and layer) decode exactly; the layer's
    levels add bits and quality over the base alone (quality 6: the base's own bytes)."""
    src = synth_frames(40, 24, 3, seed=3)
    base, base_tokens = encode(src, model="vt1-fsq", quality=6, gop=2)
    sizes, quality = [], []
    for q in (6, 8, 9, 16):
        data, tokens = encode(src, quality=q, gop=2)
        assert data[4:6] == bytes([6, 0])
        out, dtokens = decode(data)
        assert out.shape == src.shape
        assert codec.digest_tokens(tokens) == codec.digest_tokens(dtokens)
        assert len(tokens) == (2 if q <= 8 else 4)  # two chunks: base symbols, plus the layer's
        sizes.append(len(data))
        quality.append(psnr(out, src))
        if q == 6:  # the base layer alone: vt1-fsq's tokens and frames
            assert all(np.array_equal(a, b) for a, b in zip(tokens, base_tokens, strict=True))
            assert np.array_equal(out, decode(base)[0])
    assert sizes == sorted(sizes) and sizes[0] < sizes[1]
    assert quality[-1] > quality[0] + 1.0, quality


def test_a_layered_chunk_decodes_from_any_frame():
    """Random access inside a layered chunk gives the frames of a whole decode."""
    src = synth_frames(33, 17, 5, seed=4)
    data, _ = encode(src, quality=13)
    whole, _ = decode(data)

    def part(tmp, start, n):
        return np.concatenate(list(files.iter_decode(tmp, start=start, frames=n)))

    with tempfile.NamedTemporaryFile(suffix=".vtc") as f:
        f.write(data)
        f.flush()
        assert np.array_equal(part(f.name, 3, 2), whole[3:5])
        assert np.array_equal(part(f.name, 1, 1), whole[1:2])


def test_still_blocks_are_skipped_and_show_the_previous_frame(tmp_path):
    """5.0 and 6.0: where a clip stands still, the encoder skips the layer's blocks (fewer bytes
    than with skips off, about the same quality), and the decoder shows the previous output frame
    there; the tokens decode exactly and random access inside the chunk gives the same frames."""
    src = synth_frames(48, 32, 4, seed=7)
    src[:, 16:] = src[0, 16:]  # the lower half stands still
    data, tokens = encode(src, quality=12, gop=4)
    off, _ = encode(src, quality=12, gop=4, preset=replace(PRESETS["medium"], layer_skip=0.0))
    out, back = decode(data)
    assert codec.digest_tokens(back) == codec.digest_tokens(tokens)
    assert len(data) < 0.9 * len(off), (len(data), len(off))
    assert psnr(out, src) > psnr(decode(off)[0], src) - 0.5
    assert all(np.array_equal(out[t, 16:], out[0, 16:]) for t in range(1, 4))  # copied, not re-coded
    assert not np.array_equal(out[1, :16], out[0, :16])  # the moving half is coded
    path = tmp_path / "s.vtc"
    path.write_bytes(data)
    assert np.array_equal(np.concatenate(list(files.iter_decode(str(path), start=2, frames=2))), out[2:4])


def test_a_skipped_block_shows_the_previous_frame_displaced_with_its_edges_replicated():
    """vtcodec.skip.predict (SPEC.md, "Block skips"): pixel (y, x) of a skipped block is the previous
    output's (clamp(y + dy), clamp(x + dx)); coded blocks keep their own pixels; blocks at the edge
    are cut short."""
    from vtcodec.skip import predict

    prev = np.arange(20 * 36 * 3, dtype=np.int64).reshape(20, 36, 3).astype(np.uint8)
    coded = np.zeros_like(prev)
    flags = np.array([[1, 0, 1], [0, 0, 1]])  # 2 x 3 blocks of 16 px over 20 x 36
    mvs = np.zeros((2, 3, 2), dtype=np.int64)
    mvs[0, 0] = (-3, 2)
    mvs[1, 2] = (5, 7)
    out = predict(prev, flags, mvs, coded)
    ys, xs = np.clip(np.arange(16)[:, None] - 3, 0, 19), np.clip(np.arange(16)[None, :] + 2, 0, 35)
    assert np.array_equal(out[:16, :16], prev[ys, xs])
    assert np.array_equal(out[:16, 32:], prev[:16, 32:])  # a zero vector: the same place
    ys, xs = np.clip(np.arange(16, 20)[:, None] + 5, 0, 19), np.clip(np.arange(32, 36)[None, :] + 7, 0, 35)
    assert np.array_equal(out[16:, 32:], prev[ys, xs])  # the corner block, cut to 4 x 4
    assert not out[:16, 16:32].any() and not out[16:, :32].any()


def test_the_prediction_moves_the_previous_frame_into_moved_and_skipped_blocks():
    """vtcodec.skip.prediction (SPEC.md, "Motion-compensated prediction"): the base decode in coded
    blocks, the previous output displaced by the block's vector in moved and skipped ones (edges
    replicated, blocks cut short at the frame's edges); ``predict`` moves skipped blocks only."""
    from vtcodec.skip import CODED, MOTION, SKIPPED, predict, prediction

    rng = np.random.default_rng(3)
    prev = rng.integers(0, 256, (20, 36, 3)).astype(np.uint8)
    base = rng.integers(0, 256, (20, 36, 3)).astype(np.uint8)
    flags = np.array([[MOTION, CODED, SKIPPED], [CODED, MOTION, MOTION]])
    mvs = np.zeros((2, 3, 2), dtype=np.int64)
    mvs[0, 0], mvs[0, 2], mvs[1, 1], mvs[1, 2] = (-3, 2), (1, -4), (6, -7), (5, 7)
    pred = prediction(prev, flags, mvs, base)
    for by, bx in np.ndindex(*flags.shape):
        ys, xs = np.arange(16 * by, min(16 * by + 16, 20)), np.arange(16 * bx, min(16 * bx + 16, 36))
        dy, dx = mvs[by, bx]
        want = base[ys][:, xs] if flags[by, bx] == CODED else \
            prev[np.clip(ys + dy, 0, 19)][:, np.clip(xs + dx, 0, 35)]
        assert np.array_equal(pred[ys][:, xs], want), (by, bx)
    shown = predict(prev, flags, mvs, base)  # the output: only the skipped block is copied
    assert np.array_equal(shown[:16, 32:], pred[:16, 32:])
    assert np.array_equal(np.delete(shown[:16], np.s_[32:], 1), np.delete(base[:16], np.s_[32:], 1))
    assert np.array_equal(shown[16:], base[16:])


def test_block_modes_and_vectors_code_and_read_back_exactly():
    """6.0's block syntax (vtcodec.skip.SkipModel with motion): random modes and vectors over a
    chunk's frames, written as the encoder writes them and read back by the decoder's reader; a
    5.0 model reads the same words differently."""
    from vtcodec.entropy import SymbolReader, SymbolWriter
    from vtcodec.skip import MV_RANGE, TABLE_WIDTH, SkipModel

    rng = np.random.default_rng(11)
    frames = []
    for _ in range(5):
        modes = rng.choice(3, size=(3, 5), p=[0.3, 0.3, 0.4])
        mvs = rng.integers(-MV_RANGE, MV_RANGE + 1, size=(3, 5, 2)) * (modes != 0)[..., None]
        frames.append((modes, mvs))
    writer, model = SymbolWriter(), SkipModel(motion=True)
    for t, (modes, mvs) in enumerate(frames):
        tables, symbols = model.code(modes, mvs, frames[t - 1][0] if t else None, TABLE_WIDTH)
        writer.write(symbols, tables)
    words = writer.finish()
    reader, back = SymbolReader(words, "test"), SkipModel(motion=True)
    for t, (modes, mvs) in enumerate(frames):
        got, got_mvs = back.read(reader, modes.shape, frames[t - 1][0] if t else None, TABLE_WIDTH)
        assert np.array_equal(got, modes) and np.array_equal(got_mvs, mvs), t
    reader.finish()
    old, misread = SymbolReader(words, "test"), []
    for t, (modes, _) in enumerate(frames):
        try:
            misread.append(np.array_equal(SkipModel().read(old, modes.shape, None, TABLE_WIDTH)[0], modes))
        except CorruptChunk:
            misread.append(False)
            break
    assert not all(misread)


def test_moving_blocks_are_coded_over_the_previous_output_moved_into_place(tmp_path):
    """6.0 end to end: on a pan the layer codes blocks over the previous output moved or skips them,
    with the vector the scene moved by; after a scene cut, some blocks over the base decode; the
    tokens decode exactly, the decoder's frames are the encoder's (each layer decode over the
    prediction its modes make), and random access inside the chunk gives the same frames. (What it
    saves is measured on real clips: models/README.md, "Motion-compensated prediction".)"""
    from vtcodec import layers, skip
    from vtcodec.grid import from_grid

    wide = synth_frames(96, 48, 1, seed=9)[0]
    pan = np.stack([wide[:, 4 * t:4 * t + 64] for t in range(5)])  # the window moves 4 px a frame
    src = np.concatenate([pan, synth_frames(64, 48, 2, seed=10)])  # then a cut
    seen: list = []
    code = layers.Layered.code

    def keep(self, *a, **k):
        out = code(self, *a, **k)
        seen.append((self, a, out))
        return out

    layers.Layered.code = keep
    try:
        data, tokens = encode(src, quality=12, gop=8)
    finally:
        layers.Layered.code = code
    layered, (_, shown, level, *_), (symbols, (flags, mvs)) = seen[0]
    assert (flags[1:5] == skip.MOTION).any() and (flags[1:5] != skip.CODED).mean() > 0.8
    moved = mvs[1:5][flags[1:5] != skip.CODED]
    assert (moved[:, 1] == 4).mean() > 0.5  # the previous frame's content lies 4 px to the right
    assert (flags[5] == skip.CODED).any()
    out, back = decode(data)
    assert codec.digest_tokens(back) == codec.digest_tokens(tokens)
    assert psnr(out, src) > 25
    h, w = src.shape[1:3]
    own = shown[0]
    for t in range(len(src)):  # the encoder's own output, frame after frame
        pred = shown[t] if t == 0 else skip.prediction(own, flags[t], mvs[t], shown[t])
        y = from_grid(layered.reconstruct(symbols[t:t + 1], pred[None], level), (h, w), (h, w))[0]
        own = y if t == 0 else skip.predict(own, flags[t], mvs[t], y)
        assert np.abs(own.astype(int) - out[t]).max() <= 2, t  # float rounding of the networks
    path = tmp_path / "m.vtc"
    path.write_bytes(data)
    assert np.array_equal(np.concatenate(list(files.iter_decode(str(path), start=3, frames=3))), out[3:6])


def test_the_encoders_skip_choice_is_the_plain_search_it_describes():
    """vtcodec.skip.search then skipped (integer block errors over windows of the edge-padded
    previous frame) decide as the search written out directly does: every vector within SEARCH,
    the previous frame read at clamped coordinates, float block sums; odd sizes, blocks cut at the
    edges, and lambdas from never to always skipping."""
    from vtcodec.skip import BLOCK, MV_BITS, PIXELS, SEARCH, block_sums, blocks, search, skipped

    def choose(source, coded, previous, bits, lam):
        best, mvs = search(source, previous, lam)
        flags = skipped(best, source, coded, bits, lam).astype(np.int64)
        return flags, mvs * flags[..., None]

    def reference(source, coded, previous, bits, lam):
        shape = blocks(*bits.shape)
        h, w = source.shape[:2]
        x, prev = source.astype(np.float64), previous.astype(np.float64)
        best, mvs = np.full(shape, np.inf), np.zeros((*shape, 2), dtype=np.int64)
        for dy in range(-SEARCH, SEARCH + 1):
            for dx in range(-SEARCH, SEARCH + 1):
                moved = prev[np.clip(np.arange(h) + dy, 0, h - 1)][:, np.clip(np.arange(w) + dx, 0, w - 1)]
                d = block_sums(((x - moved) ** 2).sum(-1), PIXELS, shape) + lam * (2.0 if dy == dx == 0 else MV_BITS)
                mvs[d < best] = (dy, dx)
                best = np.minimum(best, d)
        flags = (best <= block_sums(((x - coded) ** 2).sum(-1), PIXELS, shape) + lam * block_sums(bits, BLOCK, shape))
        return flags.astype(np.int64), mvs * flags[..., None]

    rng = np.random.default_rng(5)
    for h, w in ((37, 53), (32, 48), (9, 17)):
        src = synth_frames(w, h, 2, seed=h)
        moved = np.roll(src[1], (2, -3), axis=(0, 1)).astype(int)  # the scene moved, with noise
        previous = np.clip(moved + rng.integers(-12, 13, moved.shape), 0, 255).astype(np.uint8)
        coded = np.clip(src[1].astype(int) + rng.integers(-3, 4, src[1].shape), 0, 255).astype(np.uint8)
        bits = rng.random((-(-h // 8) * 2, -(-w // 8) * 2)) * 30
        seen = set()
        for lam in (0.0, *np.geomspace(10.0, 1e3, 9), 1e6):
            flags, mvs = choose(src[1], coded, previous, bits, lam)
            want_flags, want_mvs = reference(src[1], coded, previous, bits, lam)
            assert np.array_equal(flags, want_flags) and np.array_equal(mvs, want_mvs), (h, w, lam)
            seen.add(float(flags.mean()))
        assert len(seen) >= 3  # the lambdas span skipping none, some and all


def test_target_rate_mode_climbs_into_the_layer():
    """A rate above every grid of the base is reached with the layer (chunk by chunk, the error
    of one paid back by the next)."""
    src = synth_frames(32, 24, 8, seed=5)
    top, _ = encode(src, quality=8, gop=1)  # the base's largest grid
    target = 3 * len(top) * 8 / src[..., 0].size
    data, _ = encode(src, bpp=target, gop=1)
    assert sum(payload_of(c, 0)[1] >= 1 for c in frames_chunks(data)) >= 4
    assert abs(len(data) * 8 / src[..., 0].size / target - 1) < 0.25
    assert decode(data)[0].shape == src.shape


def _with_payload(chunk: bytes, payload: bytes) -> bytes:
    head = struct.unpack_from("<BIH", chunk, 4)
    return Chunk(head[1], head[2], payload, head[0]).pack()


def test_damaged_layered_chunks_are_refused_with_one_line(tmp_path):
    src = synth_frames(32, 24, 2, seed=6)
    data, _ = encode(src, quality=12)
    head, all_chunks = chunks(data)
    all_chunks = frames_chunks(data)
    payload = payload_of(all_chunks[0], 0)
    n = struct.unpack_from("<I", payload, 2)[0]
    bad = {
        "level": bytes([128, 9]) + payload[2:],  # the layer has 8 levels: bytes 1..8
        "grid": bytes([127]) + payload[1:],  # a layer rides on the source-size grid only
        "length": payload[:2] + struct.pack("<I", len(payload)) + payload[6:],
        "layer cut": payload[:6 + n] + payload[6 + n:-4],
        "base cut": payload[:2] + struct.pack("<I", n - 4) + payload[6:6 + n - 4] + payload[6 + n:],
    }
    for what, p in bad.items():
        stream = seal_stream(head, [_with_payload(all_chunks[0], p)])
        with pytest.raises(CorruptChunk):
            decode(stream)
        path = tmp_path / f"{what}.vtc"
        path.write_bytes(stream)
        line = one_clean_error(cli("decode", str(path), "-o", str(tmp_path / "out.y4m")))
        assert "chunk" in line, (what, line)
        assert not (tmp_path / "out.y4m").exists()


def test_a_layered_stream_needs_its_layer_and_its_layer_decodes_over_the_bases_own_decoder(tmp_path):
    src = synth_frames(24, 16, 1, seed=7)
    data, _ = encode(src, quality=11)
    header_end = header_size(data)
    named = bytearray(data[:header_end])
    named[36 + 7] = ord("x")  # vt1e-fsq -> vt1e-fsx: no such layer (CRC fixed)
    named[-4:] = struct.pack("<I", zlib.crc32(bytes(named[:-4])))
    with pytest.raises(ModelError, match="layered model 'vt1e-fsx'"):
        decode(bytes(named) + data[header_end:])
    # a chunk with its layer decodes over the base's own decoder, whichever decoder is asked for
    assert np.array_equal(codec.decompress(data, decoder="vt1-fsq-sharp"), codec.decompress(data))
    old = bytearray(data[:header_end])
    old[4:6] = bytes([3, 2])  # a 3.2 header naming the layer: not a token model
    old[32] = 10  # (its quality byte within 3.x's range)
    old[-4:] = struct.pack("<I", zlib.crc32(bytes(old[:-4])))
    with pytest.raises(ModelError):
        decode(bytes(old) + data[header_end:])
    with pytest.raises(VtcError, match="1..16 for the layered model"):
        encode(src, quality=17)


def test_a_layer_folder_is_checked_before_use(tmp_path):
    entry = find_layer(LAYERED)
    folder = tmp_path / "layer"
    shutil.copytree(entry.path, folder)
    meta = json.loads((folder / "layer.json").read_text())
    meta["config"]["recon"] = 16
    (folder / "layer.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="decoded-frame context"):
        find_layer(folder)
    meta["config"]["recon"] = 0
    meta["config"]["gains"] = 99
    (folder / "layer.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="gains"):
        find_layer(folder)
    meta["config"]["gains"] = entry.config.gains
    (folder / "layer.json").write_text(json.dumps(meta))
    weights = bytearray((folder / "weights.safetensors").read_bytes())
    weights[-1] ^= 1
    (folder / "weights.safetensors").write_bytes(bytes(weights))
    src = synth_frames(16, 16, 1)
    with pytest.raises(ModelError, match="sha256"):
        encode(src, model=str(folder), quality=11)


def test_a_layer_of_ones_own_decodes_with_decode_model(tmp_path, clip):
    """A layer folder outside the zoo encodes by its path and decodes with ``--model FOLDER``
    (registered by path, as a model folder is), and not without it."""
    folder = tmp_path / "mine"
    shutil.copytree(find_layer(LAYERED).path, folder)
    meta = json.loads((folder / "layer.json").read_text())
    meta["name"] = meta["config"]["name"] = "mine"
    (folder / "layer.json").write_text(json.dumps(meta))
    out = tmp_path / "a.vtc"
    assert cli("encode", str(clip), "-o", str(out), "--model", str(folder), "-q", "11", "--frames", "2").returncode == 0
    assert "layered model 'mine'" in one_clean_error(cli("decode", str(out), "-o", str(tmp_path / "a.y4m")))
    p = cli("decode", str(out), "-o", str(tmp_path / "a.y4m"), "--model", str(folder))
    assert p.returncode == 0, p.stderr


def test_two_jobs_code_and_decode_a_layered_stream_as_one(tmp_path):
    src = synth_frames(32, 24, 4, seed=8)
    one, tokens = encode(src, quality=12, gop=2)
    two, _ = encode(src, quality=12, gop=2, jobs=2)
    assert one == two
    path = tmp_path / "a.vtc"
    path.write_bytes(one)
    back: list = []
    frames = np.concatenate(list(files.iter_decode(path, tokens_out=back, jobs=2)))
    assert np.array_equal(frames, decode(one)[0])
    assert codec.digest_tokens(back) == codec.digest_tokens(tokens) and len(back) == 4


def test_a_refining_preset_refines_the_layer_and_the_stream_decodes_exactly():
    """veryslow refines the layer's latents too (vtcodec.refine.refine_layer): other layer tokens
    than medium's, decoded exactly, and never a worse score than the encoder's own latents."""
    from dataclasses import replace

    import torch

    from vtcodec.layers import load_layer
    from vtcodec.presets import PRESETS
    from vtcodec.refine import distortion_loss, refine_layer

    src = synth_frames(40, 24, 2, seed=5)
    plain = replace(PRESETS["veryslow"], refine_steps=0, layer_steps=6, layer_lr=0.03, ms_weight=0.0)
    medium, medium_tokens = encode(src, quality=16, gop=2)
    data, tokens = encode(src, quality=16, gop=2, preset=plain)
    out, dtokens = decode(data)
    assert codec.digest_tokens(tokens) == codec.digest_tokens(dtokens)
    assert np.array_equal(tokens[0], medium_tokens[0])  # the base unrefined: the same base tokens
    assert not np.array_equal(tokens[1], medium_tokens[1])
    assert psnr(out, src) > psnr(decode(medium)[0], src)  # MSE (with the rate term) falls
    # every iterate is scored on its rounded tokens and the best kept: even a wild search (a step
    # far too large) never returns latents that decode worse than the encoder's own
    net = load_layer(find_layer(LAYERED)).net
    z, frames = torch.randn(2, net.cfg.dim, 6, 10), torch.rand(2, 3, 24, 40)

    def loss(latents):
        rec = net.synthesize(net.quantizer(latents, 7), frames).float().clamp(0, 1)
        return float(distortion_loss(rec, frames, PRESETS["veryslow"].ms_weight))

    assert loss(refine_layer(net, z, frames, frames, None, 7, 4, 50.0)) <= loss(z)
