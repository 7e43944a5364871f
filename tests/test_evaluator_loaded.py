"""The compiled evaluator must be the one serving, unless the reference is asked for."""
import os

import pytest

import engine
from engine import evaluators


def test_compiled_module_loaded():
    if os.environ.get("RIGHTS_EVALUATOR") == "reference":
        pytest.skip("the reference evaluator was asked for explicitly")
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
