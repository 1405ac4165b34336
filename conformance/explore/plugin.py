"""`--explore` in a run of the suite: one more item, and an EXPLORE line beside the rules.

The item runs after the fixed checks (or alone, with --explore-only) on the
run's target, plus every further --base-url as another instance. Its result
becomes a rule-like entry of the report (terminal table, JSON, JUnit): PASS
when no divergence reproduced, FAIL naming the rule the shrunk history breaks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from conformance import rules
from conformance.client import Target
from conformance.explore import run as explore_run
from conformance.options import base_urls

PACKAGE_DIR = Path(__file__).resolve().parent.parent
RESULT = pytest.StashKey[explore_run.Result]()
TITLE = "random histories and concurrent pairs follow the model of the contract"


def _wanted(config: pytest.Config) -> bool:
    option = config.option
    return bool(getattr(option, "explore", False) or getattr(option, "explore_only", False))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _wanted(config):
        return
    if config.option.explore_only:
        drop = [item for item in items if PACKAGE_DIR in Path(item.path).resolve().parents]
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = [item for item in items if item not in drop]
    items.append(ExploreItem.from_parent(session, name="EXPLORE"))


class ExploreFailure(AssertionError):
    """A divergence that reproduced: the text is the shrunk history."""


class ExploreItem(pytest.Item):
    def runtest(self) -> None:
        from conformance.state import STATE  # the run's target, set up by the suite's plugin

        config = self.config
        option = config.option
        state = config.stash[STATE]
        target = state.target
        assert target is not None
        targets = [target]
        for url in base_urls(option)[1:]:
            targets.append(Target(url, cookie_name=target.cookie_name, cookie_name_declared=True, https=target.https,
                                  idle_timeout=target.idle_timeout, absolute_timeout=target.absolute_timeout,
                                  touch_interval=target.touch_interval, log=target.log, redact=target.redact))
        command = ["python", "-m", "conformance", "--explore-only", "--level", state.level]
        for url in base_urls(option) or [target.base_url]:
            command += ["--base-url", url]
        if target.touch_interval is not None:
            command += ["--touch-interval", f"{target.touch_interval:g}"]
        result = explore_run.explore(
            targets,
            state.level,
            touch_interval=target.touch_interval,
            examples=option.explore_examples or explore_run.DEFAULT_EXAMPLES,
            seconds=option.explore_seconds if option.explore_seconds is not None else explore_run.DEFAULT_SECONDS,
            seed=option.explore_seed,
            database=option.explore_db,
            script_dir=option.explore_dir or tempfile.gettempdir(),
            command=command,
        )
        target.log.clear()
        config.stash[RESULT] = result
        if result.failed:
            raise ExploreFailure(details(result, target.redact))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, ExploreFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, "EXPLORE"


def details(result: explore_run.Result, redact: Any = None) -> str:
    lines = [explore_run.summary(result), "", "shrunk history (⇉: sent at the same moment):",
             explore_run.numbered(result, redact), ""]
    lines.append(f"replayed before blame: {result.reproduced}")
    if result.script_path:
        lines.append(f"as a curl script: {result.script_path}")
    lines.append(f"replay the exploration: {result.replay_command}")
    return "\n".join(lines)


def results(config: pytest.Config, state: Any) -> list[dict[str, Any]]:
    """The EXPLORE entry of the report, when the run explored; the plugin adds it beside the rules."""
    result = config.stash.get(RESULT, None)
    if result is None:
        return []
    outcome = "fail" if result.failed else "pass"
    entry = {
        "id": "EXPLORE",
        "level": state.level,
        "title": TITLE,
        "outcome": outcome,
        "message": explore_run.summary(result),
        # No checks: a failure is the EXPLORE item's own, which the report shows with its shrunk history.
        "tests": [],
        "explore": {
            "seed": result.seed,
            "histories": result.histories,
            "steps": result.steps,
            "concurrent_pairs": result.pairs,
            "requests": result.requests,
            "seconds": round(result.seconds, 1),
            "rule": result.rule if result.failed else None,
            "divergence": result.message or None,
            "reproduced": result.reproduced or None,
            "not_blamed": result.flaky,
            "history_steps": len(result.history),
            "history": [record.text for record in result.history],
            "script": result.script_path or None,
            "replay": result.replay_command,
        },
    }
    if result.flaky:
        state.notes.append(f"EXPLORE: {explore_run.summary(result)}")
    return [entry]
