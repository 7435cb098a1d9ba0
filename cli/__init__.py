"""The vtcodec command line (installed as vtcodec.cli)."""
