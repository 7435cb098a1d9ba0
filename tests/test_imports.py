"""The dependency graph points one way: cli -> codec -> models / entropy / bitstream."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports_of(folder: str) -> dict[str, set[str]]:
    out = {}
    for f in (ROOT / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names.add((node.module or "").split(".")[0] if node.level == 0 else "." * node.level + (node.module or ""))
        out[str(f.relative_to(ROOT))] = names
    return out


def test_bitstream_uses_standard_library_only():
    for f, names in imports_of("bitstream").items():
        assert not names & {"torch", "numpy", "av", "constriction"}, f


def test_only_entropy_imports_constriction_and_only_io_imports_av():
    everything = {**imports_of("vtcodec"), **imports_of("models"), **imports_of("cli"),
                  **imports_of("bitstream")}
    assert [f for f, n in everything.items() if "constriction" in n] == ["vtcodec/entropy.py"]
    assert sorted(f for f, n in everything.items() if "av" in n) == ["vtcodec/anchors.py", "vtcodec/video.py"]


def test_models_do_not_touch_bytes_or_codec():
    for f, names in imports_of("models").items():
        assert not names & {"constriction", "av", "struct", "zlib"}, f
        assert not any(n.startswith("..") for n in names), f  # no imports out of the models package


def test_library_does_not_import_training():
    for f, names in {**imports_of("vtcodec"), **imports_of("models")}.items():
        if "/train/" in f or "cli" in f:
            continue
        assert not any("train" in n for n in names), f
