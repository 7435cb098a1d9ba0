"""vtcodec: a video codec built on learned discrete tokens."""

__version__ = "0.1.0"
