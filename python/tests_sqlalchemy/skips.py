"""Keeps SKIPS.md, the list of the suite's tests that are skipped or expected to fail, and
why, true: each run compares what it skipped with the file and fails when they differ;
``--write-skips`` rewrites the file from the run."""

from __future__ import annotations

import collections
import os
import re
from typing import Dict, List, Tuple

import pytest

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "SKIPS.md")

HEADER = """\
# SQLAlchemy's compliance suite on sqlited: what it skips, and why

Written by `pytest --write-skips` in this directory; every whole run of the suite compares
the tests it skipped (or ran expecting them to fail, as they fail on SQLite) with this file
and fails if they differ (a test behind two closed requirements may be listed under either).
Tests of a class whose own requirements fail are not collected at all; they are listed too.
Each reason names the requirement of `sqlited/sqlalchemy/requirements.py` or the override
in `test_suite.py` that decides it; "SQLite has no such feature" is what SQLAlchemy's own
requirements say for SQLite too. A test with several variants is listed once, with their
count.
"""


def _test_name(nodeid: str) -> str:
    """``Class::test`` without the backend suffix pytest adds to the class, nor variants."""
    name = nodeid.split("::", 1)[-1]
    name = re.sub(r"_sqlite\+sqlited[_0-9]*::", "::", name)
    return name.split("[", 1)[0]


def _counts(text: str) -> Dict[Tuple[str, str], int]:
    """How many variants of each test the file lists as skipped or expected to fail. A test
    behind two closed requirements is skipped for whichever SQLAlchemy looks at first, which
    changes from run to run, so the comparison leaves the reasons out."""
    counts: Dict[Tuple[str, str], int] = collections.Counter()
    kind = ""
    for line in text.splitlines():
        if line.startswith("## "):
            kind = line[3:].split(":", 1)[0]
        found = re.match(r"- `([^`]+)`(?: \((\d+) variants\))?$", line)
        if found:
            counts[(kind, found.group(1))] += int(found.group(2) or 1)
    return dict(counts)


class SkipList:
    def __init__(self, write: bool) -> None:
        self.write = write
        self.seen: Dict[Tuple[str, str], collections.Counter] = {}
        self.failed = False
        self.difference: List[str] = []

    def _record(self, kind: str, reason: str, nodeid: str) -> None:
        reason = " ".join(reason.split())
        self.seen.setdefault((kind, reason), collections.Counter())[_test_name(nodeid)] += 1

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.skipped and isinstance(report.longrepr, tuple):
            # "Skipped: 'nodeid (call)' : reason", or the reason alone.
            reason = re.sub(r"^Skipped: ", "", str(report.longrepr[2]))
            reason = re.sub(r"^'.*? \((?:setup|call|teardown)\)' : ", "", reason)
            self._record("skipped", reason, report.nodeid)
        elif report.when == "call" and report.passed:
            for line in report.capstdout.splitlines():
                found = re.search(r"failed as expected \((.*)\): ", line)
                if found:
                    self._record("expected to fail", found.group(1), report.nodeid)
                    break

    def pytest_collection_finish(self, session):
        """Classes whose own requirements (``__requires__``) fail make no tests at all, so
        nothing reports them skipped: their tests are recorded here, with the reasons."""
        from sqlalchemy.testing.plugin import plugin_base

        collected = {getattr(item.cls, "_sa_orig_cls_name", item.cls.__name__) for item in session.items if item.cls}
        modules = {item.module for item in session.items}
        for module in modules:
            for name, cls in sorted(vars(module).items()):
                if not isinstance(cls, type) or not plugin_base.want_class(name, cls) or name in collected:
                    continue
                reasons: List[str] = []
                plugin_base._possible_configs_for_cls(cls, reasons)
                if not reasons:
                    continue
                for method in sorted(m for m in dir(cls) if m.startswith("test_")):
                    self._record("skipped", "; ".join(map(str, reasons)), f"{module.__name__}.py::{name}::{method}")

    def render(self) -> str:
        out: List[str] = [HEADER]
        for (kind, reason), tests in sorted(self.seen.items()):
            total = sum(tests.values())
            out.append(f"\n## {kind}: {reason}\n\n{total} test{'s' if total != 1 else ''}:\n")
            for name, count in sorted(tests.items()):
                out.append(f"- `{name}`" + (f" ({count} variants)" if count > 1 else ""))
        return "\n".join(out) + "\n"

    def pytest_sessionfinish(self, session, exitstatus):
        here = os.path.dirname(PATH)
        option = session.config.option
        whole = not option.keyword and not option.markexpr and not option.collectonly
        whole = whole and all(os.path.abspath(arg) == here for arg in session.config.args)
        if not whole or session.testsfailed:
            return  # a partial or failed run: nothing to compare, nor to write
        text = self.render()
        if self.write:
            with open(PATH, "w") as f:
                f.write(text)
            return
        try:
            with open(PATH) as f:
                listed = _counts(f.read())
        except FileNotFoundError:
            listed = {}
        ran = _counts(text)
        if listed != ran:
            self.difference = sorted(
                f"{kind} {name}: {listed.get((kind, name), 0)} listed, {ran.get((kind, name), 0)} in this run"
                for kind, name in set(listed) | set(ran)
                if listed.get((kind, name)) != ran.get((kind, name))
            )
            self.failed = True
            session.exitstatus = 1

    def pytest_terminal_summary(self, terminalreporter):
        if self.failed:
            for line in self.difference:
                terminalreporter.write_line(line, red=True)
            terminalreporter.write_line(
                f"{PATH} does not list what this run skipped: look at the difference "
                "(pytest --write-skips rewrites it) and give each new skip its reason",
                red=True,
            )
