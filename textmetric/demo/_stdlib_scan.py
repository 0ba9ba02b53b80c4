"""Collect the docstrings of the Python standard library; run as a script by ``stdlib.py``.

It runs in a child interpreter started with ``-I -S -B`` (no site-packages, no
current folder on ``sys.path``, no bytecode written) and in a scratch working
folder, so that whatever a module does when imported -- print, change ``sys``,
register handlers -- happens there and not in the caller. Usage::

    python -I -S -B _stdlib_scan.py OUTPUT.json < modules.json

``modules.json`` is a JSON list of top-level module names (``null``: every name
in ``sys.stdlib_module_names``). Each public submodule of a package is scanned
too. The output is a JSON list of ``{"id", "kind", "signature", "doc"}`` records
sorted by id: one per public module, class, function and method that has a
docstring. Everything about which records become documents is decided by the
caller; this script only reads the live objects.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import pkgutil
import re
import sys
import warnings

# Modules that open windows, a browser, print on import, write files or are not for this platform.
SKIP = frozenset({
    "antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "lib2to3", "distutils", "pydoc_data",
    "encodings", "ensurepip", "test", "msilib", "msvcrt", "nt", "winreg", "winsound", "_winapi",
})
SKIP_PARTS = frozenset({"test", "tests", "idle_test"})
MAX_DEFAULT = 40  # longer default values are shown as "..." (os.environ would print the environment)
MAX_SIGNATURE = 160


def public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


@contextlib.contextmanager
def silenced():
    """Both standard streams to /dev/null at the file-descriptor level (C code prints there too)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def import_quietly(name: str):
    try:
        with silenced():
            return importlib.import_module(name)
    except BaseException:  # ImportError, platform errors, even SystemExit: the module is skipped
        return None


def modules(top_level: list[str]) -> dict[str, object]:
    """Every importable public module under the given top-level names, by name."""
    found: dict[str, object] = {}
    for top in sorted(top_level):
        if not public(top) or top in SKIP:
            continue
        queue = [top]
        while queue:
            name = queue.pop(0)
            module = import_quietly(name)
            if module is None:
                continue
            found[name] = module
            path = getattr(module, "__path__", None)
            if path is not None:
                subs = sorted(info.name for info in pkgutil.iter_modules(list(path), name + "."))
                queue += [s for s in subs if public(s) and not SKIP_PARTS & set(s.split("."))]
    return found


def docstring(obj) -> str | None:
    """The object's own docstring, cleaned (never one inherited from a base class, as inspect.getdoc gives)."""
    try:
        doc = obj.__doc__
    except Exception:
        return None
    if not isinstance(doc, str) or not doc.strip():
        return None
    return inspect.cleandoc(doc)


class _Shown:
    """A default value shown by a fixed text (no memory addresses, nothing long)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _default_text(value) -> str:
    try:
        if isinstance(value, (set, frozenset)) and value:  # set order varies with the hash seed
            text = f"{type(value).__name__}({{{', '.join(sorted(map(repr, value)))}}})"
            text = text[4:-1] if type(value) is set else text
        else:
            text = repr(value)
    except Exception:
        return "..."
    text = re.sub(r" (object )?at 0x[0-9a-fA-F]+", "", text)
    return text if len(text) <= MAX_DEFAULT and "\n" not in text else "..."


def signature(obj, drop_first: bool) -> str:
    """``(a, b=1, *, c=None)`` without annotations; '' when Python cannot tell."""
    try:
        with silenced():
            sig = inspect.signature(obj)
    except BaseException:
        return ""
    params = list(sig.parameters.values())
    if drop_first and params and params[0].name in ("self", "cls"):
        params = params[1:]
    shown = []
    for p in params:
        p = p.replace(annotation=inspect.Parameter.empty)
        if p.default is not inspect.Parameter.empty:
            p = p.replace(default=_Shown(_default_text(p.default)))
        shown.append(p)
    try:
        text = str(inspect.Signature(shown))
    except (TypeError, ValueError):
        return ""
    return text if len(text) <= MAX_SIGNATURE else text[:MAX_SIGNATURE - 4] + "...)"


def owned(module_name: str, module, attr: str, obj) -> bool:
    """Whether ``module`` is where ``obj`` is documented: defined there, or defined in a private
    module (``_io``, ``_heapq``) and re-exported by this public one."""
    home = getattr(obj, "__module__", None)
    if home == module_name:
        return True
    if not isinstance(home, str) or public(home):
        return False
    exported = getattr(module, "__all__", None)
    return exported is None or attr in exported


def records(found: dict[str, object]) -> list[dict]:
    out: list[dict] = []
    seen: set[int] = set()

    def add(qualified: str, obj, kind: str, drop_first: bool = False) -> None:
        doc = docstring(obj)
        if doc is None:
            return
        sig = "" if kind == "module" else signature(obj, drop_first)
        out.append({"id": qualified, "kind": kind, "signature": sig, "doc": doc})

    for name in sorted(found):
        module = found[name]
        add(name, module, "module")
        try:
            members = sorted(vars(module).items())
        except TypeError:
            continue
        for attr, obj in members:
            if attr.startswith("_") or not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue
            if not owned(name, module, attr, obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            if not inspect.isclass(obj):
                add(f"{name}.{attr}", obj, "function")
                continue
            add(f"{name}.{attr}", obj, "class", drop_first=True)
            for method_name, method in sorted(vars(obj).items()):
                if method_name.startswith("_"):
                    continue
                if isinstance(method, (staticmethod, classmethod)):
                    method = method.__func__
                if inspect.isroutine(method):
                    add(f"{name}.{attr}.{method_name}", method, "method", drop_first=True)
    out.sort(key=lambda r: r["id"])
    return out


def main() -> None:
    requested = json.load(sys.stdin)
    names = sorted(sys.stdlib_module_names) if requested is None else sorted(set(requested))
    result = records(modules(names))
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
