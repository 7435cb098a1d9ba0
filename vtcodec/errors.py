"""Named errors. The CLI turns each into one line on stderr and a non-zero exit."""


class VtcError(Exception):
    """Base class of every error vtcodec raises on purpose."""


class VideoError(VtcError):
    """An input video is missing, unreadable, empty or not a video."""


class FormatError(VtcError):
    """A .vtc stream is malformed (bad magic, truncated, out-of-range fields)."""


class UnsupportedVersion(FormatError):
    """A .vtc stream was written by a newer major format version."""


class CorruptChunk(FormatError):
    """A chunk failed its CRC32 check."""


class ModelError(VtcError):
    """A model is unknown, or its weights do not match their recorded sha256."""


class OutputClosed(VtcError):
    """The reader of a pipe or stream we were writing to went away (``| head``)."""
