"""Every exception class lives in hubpg/errors.py, subclasses HubpgError and a
builtin, and has a name of its own."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import hubpg
import hubpg.errors as errors

PACKAGE = Path(hubpg.__file__).resolve().parent


def _exception_names() -> set[str]:
    return {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
    }


def test_no_module_but_errors_defines_an_exception_class() -> None:
    known = _exception_names() | {"Exception", "BaseException"}
    outside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
            if bases & known or any(b.endswith(("Error", "Exception")) for b in bases):
                outside.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert outside == []


#: Not HubpgErrors on purpose: raised where Ctrl-C would be, so ``except Exception`` keeps
#: letting an interrupt through.
INTERRUPTS = {"TrainingInterrupted"}


def test_every_error_is_a_hubpg_error_and_a_builtin() -> None:
    for name in _exception_names():
        cls = getattr(errors, name)
        if cls is errors.HubpgError or cls.__module__ != errors.__name__:
            continue
        if name in INTERRUPTS:
            assert issubclass(cls, KeyboardInterrupt) and not issubclass(cls, Exception), name
            assert cls.__doc__, name
            continue
        assert issubclass(cls, errors.HubpgError), name
        extra = [
            base
            for base in cls.__mro__
            if base.__module__ == "builtins" and base not in (Exception, BaseException, object)
        ]
        assert extra, f"{name} subclasses no builtin besides Exception"
        assert cls.exit_code in (1, 2, 130), name
        assert cls.__doc__, name


def test_the_two_card_errors_have_names_of_their_own() -> None:
    names = _exception_names()
    assert "CardError" not in names
    assert {"CardBuildError", "CardMetadataError", "CardDataError"} <= names
