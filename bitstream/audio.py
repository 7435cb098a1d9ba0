"""Audio carried through a .vtc file as-is (SPEC.md, "Audio chunks"), format 2.1.

    type 3, audio stream := JSON object (UTF-8): codec, sample_rate, layout, format, time_base,
                            bit_rate, extradata (hex), template (base64) -- the source stream's
                            codec parameters, and the same as a Matroska file FFmpeg reads
    type 4, audio packets := { i64 pts | u32 duration | u8 flags | u32 size | size bytes }*

The packets are the source's, byte for byte, in its time base; a decoder that writes a container
muxes them back unchanged. Readers that predate 2.1 skip both types (reserved types are skipped).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from dataclasses import dataclass

from ..errors import FormatError

CHUNK_AUDIO_STREAM = 3
CHUNK_AUDIO_PACKETS = 4
PACKET = struct.Struct("<qIBI")  # pts, duration, flags, size
NO_PTS = -(1 << 63)  # a packet without a timestamp
KEYFRAME = 1
MAX_AUDIO_CHUNK = 1 << 24  # bytes of one audio chunk's payload a reader accepts
MAX_EXTRADATA = 1 << 16


@dataclass(frozen=True)
class AudioStream:
    codec: str  # FFmpeg codec name, e.g. "aac", "opus", "mp3", "ac3", "flac", "pcm_s16le"
    sample_rate: int
    layout: str  # FFmpeg channel layout name, e.g. "stereo", "5.1"
    format: str  # sample format, e.g. "fltp", "s16"
    time_base: tuple[int, int]  # of the packets' pts and duration
    bit_rate: int = 0
    extradata: bytes = b""
    # a Matroska file holding this stream (its codec parameters exactly as FFmpeg keeps them) and
    # one 1-byte packet: what a muxer copies the stream from without opening an encoder; optional
    template: bytes = b""

    def pack(self) -> bytes:
        return json.dumps({"codec": self.codec, "sample_rate": self.sample_rate, "layout": self.layout,
                           "format": self.format, "time_base": list(self.time_base), "bit_rate": self.bit_rate,
                           "extradata": self.extradata.hex(), "template": base64.b64encode(self.template).decode()},
                          sort_keys=True).encode()

    @classmethod
    def parse(cls, payload: bytes) -> AudioStream:
        try:
            d = json.loads(payload.decode("utf-8"))
            tb = d["time_base"]
            out = cls(str(d["codec"]), int(d["sample_rate"]), str(d["layout"]), str(d["format"]),
                      (int(tb[0]), int(tb[1])), int(d.get("bit_rate", 0)), bytes.fromhex(d.get("extradata", "")),
                      base64.b64decode(d.get("template", ""), validate=True))
        except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError, RecursionError, binascii.Error):
            raise FormatError("audio stream chunk is malformed") from None
        if not (0 < out.time_base[0] < 1 << 31 and 0 < out.time_base[1] < 1 << 31 and 0 < out.sample_rate < 1 << 24
                and len(out.extradata) <= MAX_EXTRADATA and len(out.template) <= 4 * MAX_EXTRADATA
                and out.codec.replace("_", "").isalnum()):
            raise FormatError("audio stream chunk holds values out of range")
        return out


Packet = tuple[int | None, int, bool, bytes]  # pts (None: none), duration, keyframe, data


def pack_packets(packets: list[Packet]) -> bytes:
    return b"".join(PACKET.pack(NO_PTS if pts is None else pts, max(0, min(duration, 0xFFFFFFFF)),
                                KEYFRAME if key else 0, len(data)) + data
                    for pts, duration, key, data in packets)


def parse_packets(payload: bytes) -> list[Packet]:
    if len(payload) > MAX_AUDIO_CHUNK:
        raise FormatError(f"audio chunk of {len(payload)} bytes is larger than {MAX_AUDIO_CHUNK}")
    out, pos = [], 0
    while pos < len(payload):
        if pos + PACKET.size > len(payload):
            raise FormatError("audio chunk is malformed (a packet header runs past its end)")
        pts, duration, flags, size = PACKET.unpack_from(payload, pos)
        pos += PACKET.size
        if pos + size > len(payload):
            raise FormatError("audio chunk is malformed (a packet runs past its end)")
        out.append((None if pts == NO_PTS else pts, duration, bool(flags & KEYFRAME), payload[pos:pos + size]))
        pos += size
    return out
