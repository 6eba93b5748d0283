"""The direction of imports: import-linter's contracts hold, and no import cycle exists.

The contracts live in pyproject.toml ([tool.importlinter]); the README's "Layout" section
draws them. Each check also runs once against a copy of the code with one bad import added,
to show it would catch it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from scheduler.config import PROJECT_ROOT

PACKAGES = ("scheduler", "workers")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the tree at `root`, with the project's contracts."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(PROJECT_ROOT / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every set of modules that import each other in a loop (Tarjan's strongly connected
    components of more than one module, or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(start: str) -> None:
        # iterative, so a deep import chain cannot hit the recursion limit
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append(
                        (target, iter(sorted(graph.find_modules_directly_imported_by(target))))
                    )
                    break
                if target in on_stack:
                    low[module] = min(low[module], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    looped = module in graph.find_modules_directly_imported_by(module)
                    if len(component) > 1 or looped:
                        cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_import_linter_contracts_hold():
    result = lint_imports(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_attendance_importing_mail_breaks_the_capabilities_contract(tmp_path):
    for package in PACKAGES:
        shutil.copytree(
            PROJECT_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    attendance = tmp_path / "scheduler" / "services" / "gatherings" / "attendance.py"
    attendance.write_text(
        attendance.read_text() + "\nfrom scheduler.services.mail import outbox  # noqa\n"
    )
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Capabilities import one way" in result.stdout and "BROKEN" in result.stdout
    assert "scheduler.services.gatherings.attendance -> scheduler.services.mail.outbox" in (
        result.stdout
    )


def test_no_import_cycle_anywhere_in_the_app_or_the_workers():
    graph = grimp.build_graph(*PACKAGES)
    cycles = import_cycles(graph)
    assert cycles == [], "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_the_cycle_check_finds_a_loop_through_a_function_level_import():
    graph = grimp.ImportGraph()
    for importer, imported in [("a.x", "a.y"), ("a.y", "a.z"), ("a.z", "a.x"), ("a.w", "a.x")]:
        graph.add_import(importer=importer, imported=imported)
    graph.add_import(importer="b.s", imported="b.s")
    assert sorted(import_cycles(graph)) == [["a.x", "a.y", "a.z"], ["b.s"]]
