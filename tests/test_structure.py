"""The package's structure: one definition per loss, modules by job.

- Nothing outside a loss's definition compares a value with a loss name: the
  generic code asks the definition (`lossbounds.registry`).
- No module imports another module's private names.
- No import cycle between modules.
- ruff and mypy pass (they are configured in pyproject.toml).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lossbounds.registry import accepted_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lossbounds"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _fold(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


LOSS_NAMES = {_fold(name) for name in accepted_names()}


def _is_loss_name(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)
            and _fold(node.value) in LOSS_NAMES)


def _loss_literals(node: ast.AST) -> int:
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return sum(map(_is_loss_name, node.elts))
    return int(_is_loss_name(node))


def test_no_code_branches_on_a_loss_name():
    found = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                if _loss_literals(node.left) + sum(map(_loss_literals, node.comparators)):
                    found.append(f"{module}:{node.lineno}")
            elif isinstance(node, ast.match_case):
                values = [p for p in ast.walk(node.pattern) if isinstance(p, ast.MatchValue)]
                if any(_is_loss_name(p.value) for p in values):
                    found.append(f"{module}:{node.pattern.lineno}")
    assert not found, f"comparisons with a loss name (ask the definition instead): {found}"


def _imports(module: str, path: Path) -> list[tuple[str, str]]:
    """(target module, imported name) of every relative import."""
    is_package = path.name == "__init__.py"
    base = module.split(".") if is_package else module.split(".")[:-1]
    pairs = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            parent = base[: len(base) - (node.level - 1)]
            target = ".".join(parent + ([node.module] if node.module else []))
            pairs.extend((target, alias.name) for alias in node.names)
    return pairs


def test_no_private_name_is_imported_from_another_module():
    modules = _modules()
    found = [f"{module} imports {name} from {target}"
             for module, path in modules.items() for target, name in _imports(module, path)
             if target in modules and target != module and name.startswith("_")
             and not name.startswith("__") and f"{target}.{name}" not in modules]
    assert not found, found


def test_no_import_cycle():
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        if path.name == "__init__.py":
            continue  # a package's re-exports are not a dependency of its modules
        edges = set()
        for target, name in _imports(module, path):
            for candidate in (f"{target}.{name}", target):
                if candidate in modules and not modules[candidate].name == "__init__.py":
                    edges.add(candidate)
                    break
        graph[module] = edges - {module}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, set()))
    assert not cycles, f"modules in an import cycle: {cycles}"


def test_import_leaves_scipys_slow_modules_for_later():
    # scipy.optimize and scipy.special take ~0.35 s to import, twice the rest of `import
    # lossbounds` (importlib.metadata 30 ms), and scipy.stats most of a second: the bounds
    # that search or integrate import them when they run, and the trend tests need none,
    # so the CLI and a plain import start quickly. The commands below answer without them.
    code = """if True:
        import io
        import sys
        import lossbounds
        from lossbounds import cli
        cli.main(["bounds", "sparse_cce", "--n-classes", "7"])
        log = "\\n".join(f"Epoch {e}/40\\n10/10 - 0s - loss: {1 / e + (e > 30) * (e - 30) / 9:.4f}"
                        for e in range(1, 41))  # a fall, then a rise: the trend tests run
        sys.stdin = io.StringIO(log)
        assert cli.main(["check-log", "-"]) == 0
        slow = [m for m in ("scipy.optimize", "scipy.special", "scipy.stats",
                            "importlib.metadata") if m in sys.modules]
        print(slow)
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_structure_check_can_fail():
    # The loss-name check sees a comparison (so the test above can fail).
    tree = ast.parse('if spec.name == "mean_squared_error": pass\nif x in ("bce", "mse"): pass')
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert [(_loss_literals(c.left) + sum(map(_loss_literals, c.comparators))) for c in compares] \
        == [1, 2]


@pytest.mark.parametrize("tool", [["ruff", "check", "."], ["mypy"]])
def test_linters_pass(tool):
    # Run from the environment's own bin directory (the test extra installs both).
    executable = shutil.which(tool[0], path=str(Path(sys.executable).parent))
    assert executable is not None, f"{tool[0]} is not installed: pip install -e '.[test]'"
    result = subprocess.run([executable, *tool[1:]], cwd=ROOT, capture_output=True, text=True,
                            check=False, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
