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


def dotted_imports(path: Path, module: str) -> set[str]:
    """Every module (dotted, relative imports resolved against ``module``, the file's own dotted
    name) that ``path`` imports,
    at any depth of the file (lazy imports included); ``from M import name`` counts as ``M.name``
    when that is a module of ours, else as ``M``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if _is_module(sub) else base)
    return out


def _is_module(dotted: str) -> bool:
    if not dotted.startswith("vtcodec."):
        return False
    rel = dotted.split(".")[1:]
    roots = {"cli": ROOT / "cli", "models": ROOT / "models", "bitstream": ROOT / "bitstream"}
    base = roots.get(rel[0], ROOT / "vtcodec" / rel[0])
    p = base.joinpath(*rel[1:]) if rel[0] in roots else ROOT / "vtcodec" / Path(*rel)
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


# what the command line may use: the public API and the tools built on it
CLI_MAY_IMPORT = {"vtcodec", "vtcodec.rd", "vtcodec.plot", "vtcodec.lpips", "vtcodec.vmaf", "vtcodec.demo", "vtcodec.batch",
                  "vtcodec.compare",
                  "vtcodec.train.__main__", "vtcodec.train.export"}


def test_cli_imports_only_the_public_api():
    import vtcodec

    for f in (ROOT / "cli").rglob("*.py"):
        ours = {m for m in dotted_imports(f, f"vtcodec.cli.{f.stem}") if m.startswith("vtcodec")}
        assert ours <= CLI_MAY_IMPORT, (f, sorted(ours - CLI_MAY_IMPORT))
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "vtcodec":
                for a in node.names:
                    assert a.name in vtcodec.__all__ or f"vtcodec.{a.name}" in CLI_MAY_IMPORT, a.name


def test_codec_never_imports_files_and_the_layers_point_one_way():
    deps = {p.stem: dotted_imports(p, f"vtcodec.{p.stem}") for p in (ROOT / "vtcodec").glob("*.py")}
    assert not {"vtcodec.files", "vtcodec.output", "vtcodec.cli"} & deps["codec"]
    for low in ("tokens", "rate", "grid", "presets", "entropy", "report", "workers"):
        assert "vtcodec.codec" not in deps[low] and "vtcodec.files" not in deps[low], low
    for f in (ROOT / "bitstream").glob("*.py"):  # the format knows nothing of vtcodec but its errors
        ours = {m for m in dotted_imports(f, f"vtcodec.bitstream.{f.stem}") if m.startswith("vtcodec")}
        allowed = {"vtcodec.errors"} | {f"vtcodec.bitstream.{p.stem}" for p in (ROOT / "bitstream").glob("*.py")}
        assert ours <= allowed, (f, ours - allowed)
