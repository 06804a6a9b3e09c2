"""Written claims about the house are checked: every module is named in its package's docstring and in the
package's row of docs/architecture.md, every package in the README's architecture table, and every import
inside a function says why it is not at the top of its module.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests")


def modules_of(package: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__")


def named(name: str, text: str) -> bool:
    """``name`` appears as a code span (``name`` or `name`, with or without a package prefix)."""
    return re.search(rf"`{{1,2}}(?:[\w./]*[./])?{re.escape(name)}(?:\.py)?`{{1,2}}", text) is not None


def table_rows(path: Path) -> dict[str, str]:
    """``{package: row}`` of a markdown table whose rows name a package as `name/`."""
    rows = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\|[^|]*\|\s*`(\w+)/`\s*\|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_named_in_its_package_docstring(package):
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text())) or ""
    missing = [m for m in modules_of(package) if not named(m, doc)]
    assert not missing, f"{package}/__init__.py's docstring does not name: {missing}"


def test_every_package_is_in_the_readme_architecture_table():
    rows = table_rows(ROOT / "README.md")
    assert set(PACKAGES) <= set(rows), f"README architecture table lacks {sorted(set(PACKAGES) - set(rows))}"
    assert set(rows) <= set(PACKAGES), (
        f"README architecture table names packages that do not exist: {sorted(set(rows) - set(PACKAGES))}")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_in_the_architecture_page(package):
    rows = table_rows(ROOT / "docs" / "architecture.md")
    assert package in rows, f"docs/architecture.md has no row for {package}/"
    missing = [m for m in modules_of(package) if not named(m, rows[package])]
    assert not missing, f"docs/architecture.md's {package}/ row does not name: {missing}"


def function_level_imports(path: Path):
    """(line, source line) of every import statement inside a function or method of ``path``."""
    tree = ast.parse(path.read_text())
    lines = path.read_text().splitlines()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node.lineno, lines[node.lineno - 1]


def test_every_function_level_import_gives_its_reason():
    """ruff's PLC0415 (import outside the top level) is on; each exception is ``# noqa: PLC0415 - <reason>`` with a
    reason of a few words (an optional dependency, a heavy import kept off a path, a process-local import...)."""
    files = [ROOT / "cli.py", ROOT / "__main__.py"] + [p for pkg in PACKAGES for p in sorted((ROOT / pkg).glob("*.py"))]
    files += sorted((ROOT / "benchmarks").glob("*.py"))
    bad = []
    for path in files:
        for line, src in function_level_imports(path):
            m = re.search(r"#\s*noqa:\s*[A-Z0-9, ]*PLC0415[A-Z0-9, ]*\s*[-–:(]\s*(.+)$", src)
            if not m or len(m.group(1).split()) < 2:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {src.strip()}")
    assert not bad, "function-level imports without a reason:\n" + "\n".join(bad)


def test_the_claim_checker_catches_a_silent_function_level_import(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f():\n    import json  # noqa: PLC0415\n    return json\n")
    (line, src), = list(function_level_imports(p))
    assert line == 2 and not re.search(r"PLC0415[A-Z0-9, ]*\s*[-–:(]\s*(.+)$", src)
