"""The compiled evaluator must be the one serving, unless the reference is asked for."""

import os

import pytest

import engine
from engine import evaluators


def test_compiled_module_loaded():
    """The compiled evaluator serves, unless RIGHTS_EVALUATOR=reference asked otherwise."""
    if os.environ.get("RIGHTS_EVALUATOR") == "reference":
        assert engine.EVALUATOR == "reference"
        return
    from ext import evaluator

    assert engine.EVALUATOR == "compiled"
    assert engine.evaluator is evaluator


def test_missing_compiled_module_fails_loudly(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def refuse_ext(name, *args, **kwargs):
        if name == "ext" or name.startswith("ext."):
            raise ImportError("simulated: extension not built")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse_ext)
    with pytest.raises(evaluators.CompiledMissing, match="RIGHTS_EVALUATOR=reference"):
        evaluators.get("compiled")
    assert evaluators.get("reference").NAME == "reference"


def test_unknown_evaluator_name_is_refused():
    with pytest.raises(ValueError, match="unknown evaluator"):
        evaluators.get("fast")


def test_importing_the_compiled_module_first_works():
    """`import ext.evaluator` before `import engine` must not trip over the cycle between
    them (engine selects the evaluator at import; the evaluator uses engine's records)."""
    import subprocess
    import sys

    from conftest import ROOT

    code = "import ext.evaluator as e, engine; print(e.NAME, engine.EVALUATOR)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["compiled", "compiled"]


def test_the_build_under_test_is_the_one_expected():
    """`make test-debug` sets RIGHTS_EXPECT_DEBUG=1 and must test the bounds-checked build;
    every other run must test the optimised one (a debug build never ships by accident)."""
    from ext import evaluator

    expected = os.environ.get("RIGHTS_EXPECT_DEBUG") == "1"
    assert evaluator.c_constants()["debug_checks"] is expected
