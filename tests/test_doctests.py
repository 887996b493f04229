"""The examples in the package's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import strokeseq


def _broken(name: str) -> None:
    raise ImportError(f"strokeseq subpackage {name} does not import")


def _modules() -> list[str]:
    return [
        *sorted(
            m.name
            for m in pkgutil.walk_packages(strokeseq.__path__, "strokeseq.", onerror=_broken)
            if not m.ispkg and not m.name.endswith("__main__")
        ),
        "strokeseq",
    ]


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # a module of an optional extra (torch, pyarrow, ...)
        if exc.name is None or exc.name.split(".")[0] == "strokeseq":
            raise  # our own import is broken: that is a failure, not a skip
        pytest.skip(f"{name} needs {exc.name}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name) if t.examples]
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, (
        f"{result.failed} docstring example(s) of {name} failed (see stdout)"
    )
