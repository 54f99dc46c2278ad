"""Scripted alarms (`serve --alarm-script FILE`): alarms raised, changed and cleared on a
script in simulated time, and the clients' acknowledgements, confirmations and shelving
checked against it, so that a client's alarm handling can be tested step by step.

```yaml
alarms:                        # the conditions the script drives, by name
  hydraulics: {machine: press-brake, kind: failure}        # a model condition
  door:       {machine: cobot, kind: door_open}            # a script-defined one
repeat: 1                      # run the steps this many times (default 1)
steps:
  - wait: 1m                   # simulated time
  - raise: hydraulics
    severity: 700
    message: Hydraulic pressure lost
  - expect: hydraulics         # a client must act within the time given
    acknowledged: true         # or confirmed: true, or shelved: true
    within: 5m
  - set_severity: hydraulics
    to: 900
  - clear: hydraulics
```

Steps run in order at simulated times: every `wait` moves the script's clock, and each action
is stamped with the plant time it was due at (a paused plant runs the script as it is
stepped; a wall-clock run at the pacing tick). An `expect` holds the script until it is met or
its `within` has passed in plant time; every result is logged and kept in `results`.
`load_script` validates the file and names the file and the key of every problem.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from factory_sim.durations import parse_duration

_logger = logging.getLogger(__name__)

ACTIONS = ("wait", "raise", "clear", "set_severity", "expect")
EXPECTATIONS = ("acknowledged", "confirmed", "shelved")
MAX_STEPS = 10_000
MAX_REPEAT = 100_000
MAX_RESULTS = 10_000
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class AlarmScriptError(ValueError):
    """A script that cannot run; the message names the file and the key."""


@dataclass(frozen=True)
class ScriptedAlarm:
    name: str
    machine: str
    kind: str


@dataclass(frozen=True)
class Step:
    action: str  # one of ACTIONS
    alarm: str = ""
    seconds: float = 0.0  # wait; expect: within
    severity: int = 0
    message: str = ""
    expectation: str = ""  # expect: one of EXPECTATIONS


@dataclass
class AlarmScript:
    alarms: dict[str, ScriptedAlarm]
    steps: list[Step]
    repeat: int = 1


@dataclass(frozen=True)
class Result:
    """What the script did or found, at plant time `time` (simulated seconds)."""

    time: float
    step: int
    text: str
    ok: bool = True


def load_script(path: Path | str, machines: set[str] | None = None) -> AlarmScript:
    """Read and check a script; `machines`: the cell ids it may name (None: unchecked)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AlarmScriptError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise AlarmScriptError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"alarms", "steps", "repeat"}:
        raise AlarmScriptError(f"{path}: expected a mapping with 'alarms', 'steps' and "
                               "optionally 'repeat'")
    alarms = _alarms(path, data.get("alarms"), machines)
    repeat = data.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT:
        raise AlarmScriptError(f"{path}: repeat: expected a whole number 1..{MAX_REPEAT}")
    steps = data.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise AlarmScriptError(f"{path}: steps: expected a list of 1..{MAX_STEPS} steps")
    parsed = [_step(f"{path}: steps[{i}]", entry, alarms) for i, entry in enumerate(steps)]
    return AlarmScript(alarms, parsed, repeat)


def _alarms(path: Path, data, machines: set[str] | None) -> dict[str, ScriptedAlarm]:
    if not isinstance(data, dict) or not data:
        raise AlarmScriptError(f"{path}: alarms: expected a mapping of name -> "
                               "{machine: ..., kind: ...}")
    alarms = {}
    for name, entry in data.items():
        where = f"{path}: alarms.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise AlarmScriptError(f"{where}: a name is a letter, then letters, digits or _")
        if not isinstance(entry, dict) or set(entry) != {"machine", "kind"}:
            raise AlarmScriptError(f"{where}: expected exactly 'machine' and 'kind'")
        machine, kind = entry["machine"], entry["kind"]
        if not isinstance(machine, str) or (machines is not None and machine not in machines):
            known = ", ".join(sorted(machines or ()))
            raise AlarmScriptError(f"{where}.machine: {machine!r} is not a machine online in "
                                   f"this plant ({known})")
        if not isinstance(kind, str) or not _NAME.match(kind):
            raise AlarmScriptError(f"{where}.kind: expected a name like failure or door_open")
        alarms[name] = ScriptedAlarm(name, machine, kind)
    return alarms


def _step(where: str, entry, alarms: dict[str, ScriptedAlarm]) -> Step:
    if not isinstance(entry, dict):
        raise AlarmScriptError(f"{where}: expected a mapping with one of {', '.join(ACTIONS)}")
    actions = [key for key in entry if key in ACTIONS]
    if len(actions) != 1:
        raise AlarmScriptError(f"{where}: expected exactly one of {', '.join(ACTIONS)}")
    action = actions[0]
    allowed = {"wait": set(), "raise": {"severity", "message"}, "clear": set(),
               "set_severity": {"to"}, "expect": {"within", *EXPECTATIONS}}[action]
    extra = set(entry) - allowed - {action}
    if extra:
        raise AlarmScriptError(f"{where}.{sorted(extra)[0]}: not a key of a {action} step")
    if action == "wait":
        return Step("wait", seconds=_duration(f"{where}.wait", entry["wait"]))
    alarm = entry[action]
    if alarm not in alarms:
        raise AlarmScriptError(f"{where}.{action}: {alarm!r} is not one of the script's alarms "
                               f"({', '.join(alarms)})")
    if action == "raise":
        message = entry.get("message", "")
        if not isinstance(message, str) or len(message) > 1000:
            raise AlarmScriptError(f"{where}.message: expected a text of up to 1000 characters")
        return Step("raise", alarm, severity=_severity(f"{where}.severity",
                                                        entry.get("severity", 500)),
                    message=message)
    if action == "set_severity":
        if "to" not in entry:
            raise AlarmScriptError(f"{where}.to: missing (the new severity, 1..1000)")
        return Step("set_severity", alarm, severity=_severity(f"{where}.to", entry["to"]))
    if action == "expect":
        wanted = [key for key in EXPECTATIONS if key in entry]
        if len(wanted) != 1 or entry[wanted[0]] is not True:
            raise AlarmScriptError(f"{where}: expected exactly one of "
                                   f"{', '.join(f'{k}: true' for k in EXPECTATIONS)}")
        if "within" not in entry:
            raise AlarmScriptError(f"{where}.within: missing (how long a client may take)")
        return Step("expect", alarm, seconds=_duration(f"{where}.within", entry["within"]),
                    expectation=wanted[0])
    return Step("clear", alarm)


def _duration(where: str, value) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise AlarmScriptError(f"{where}: {exc}") from None
    if seconds > 366 * 86400:
        raise AlarmScriptError(f"{where}: at most a year")
    return seconds


def _severity(where: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
        raise AlarmScriptError(f"{where}: expected a severity 1..1000, got {value!r}")
    return value


@dataclass
class ScriptRunner:
    """Runs a script against a server's AlarmManager as plant time passes (`advance`)."""

    script: AlarmScript
    alarms: object  # opcua_server.alarms.AlarmManager
    sources: dict[str, object]  # machine id -> its NodeId
    source_time: object  # simulated seconds -> datetime (Writes.source_time)
    #: the latest results (a repeated script keeps the last MAX_RESULTS)
    results: deque[Result] = field(default_factory=lambda: deque(maxlen=MAX_RESULTS))
    _index: int = 0
    _round: int = 0
    _due: float = 0.0
    _raised: dict[str, str] = field(default_factory=dict)  # alarm -> its alarm id
    _count: int = 0

    @property
    def finished(self) -> bool:
        return self._round >= self.script.repeat

    async def advance(self, now: float) -> None:
        """Run every step due by plant time `now` (seconds since the plant's start)."""
        steps = self.script.steps
        while not self.finished:
            step = steps[self._index]
            if step.action == "wait":
                if self._due + step.seconds > now:
                    return
                self._due += step.seconds
            elif step.action == "expect":
                if not self._check(step, now):
                    return
            else:
                await self._act(step)
            self._index += 1
            if self._index == len(steps):
                self._index, self._round = 0, self._round + 1

    def _check(self, step: Step, now: float) -> bool:
        """Whether the script goes on past an expectation (met, or its time is up)."""
        alarm = self.script.alarms[step.alarm]
        cond = self.alarms.condition_for(self.sources[alarm.machine], alarm.kind)
        met = cond is not None and {
            "acknowledged": cond.acked, "confirmed": cond.confirmed,
            "shelved": cond.shelving != "Unshelved"}[step.expectation]
        if met:
            self._record(max(self._due, min(now, self._due + step.seconds)), step,
                         f"{step.alarm} {step.expectation}")
            self._due = max(self._due, min(now, self._due + step.seconds))
            return True
        if now >= self._due + step.seconds:
            self._due += step.seconds
            self._record(self._due, step, f"{step.alarm} not {step.expectation} within "
                         f"{step.seconds:g} s", ok=False)
            return True
        return False

    async def _act(self, step: Step) -> None:
        alarm = self.script.alarms[step.alarm]
        source, when = self.sources[alarm.machine], self.source_time(self._due)
        if step.action in ("raise", "set_severity"):
            if step.action == "raise" or step.alarm not in self._raised:
                self._count += 1
                self._raised[step.alarm] = f"script:{step.alarm}:{self._count}"
            await self.alarms.raise_alarm(source, self._raised[step.alarm], alarm.kind,
                                          step.severity, step.message or "", when)
            self._record(self._due, step, f"{step.alarm} {step.action.replace('_', ' ')} "
                         f"{step.severity}")
        else:
            alarm_id = self._raised.pop(step.alarm, None)
            if alarm_id is not None:
                await self.alarms.clear(alarm_id, when)
            self._record(self._due, step, f"{step.alarm} clear")

    def _record(self, time: float, step: Step, text: str, ok: bool = True) -> None:
        result = Result(time, self._index, text, ok)
        self.results.append(result)
        (_logger.info if ok else _logger.warning)("alarm script at %g s, step %d: %s",
                                                  time, self._index, text)
