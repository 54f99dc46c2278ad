"""What Grafana does to an InfluxQL panel query before sending it: expand the template variables
and the `$timeFilter` / `$__interval` macros (Grafana's InfluxDB datasource, InfluxQL mode)."""

from __future__ import annotations

import re
from collections.abc import Iterable

VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}|\[\[(\w+)\]\]")


def regex_value(values: list[str], multi: bool) -> str:
    """A variable's value inside an InfluxQL regex, as Grafana formats it: each value
    regex-escaped; several values (or a multi/All variable) as a group `(a|b)`."""
    escaped = [re.sub(r"[\\^$*+?.()|{}\[\]/]", lambda m: "\\" + m.group(0), v) for v in values]
    if multi or len(escaped) != 1:
        return "(" + "|".join(escaped) + ")"
    return escaped[0]


def interval_text(seconds: float) -> str:
    """Grafana's $__interval for a time range and ~`max data points`, as InfluxQL duration."""
    for limit, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= limit:
            return f"{max(1, round(seconds / limit))}{unit}"
    return f"{max(1, round(seconds * 1000))}ms"


def expand(query: str, variables: dict[str, str], start_ms: int, end_ms: int,
           interval: str) -> str:
    """`query` with the macros and the variables (already formatted values) replaced; an
    unknown variable raises KeyError, as it would leave Grafana's query broken."""
    query = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    query = query.replace("$__interval_ms", str(_ms(interval))).replace("$__interval", interval)

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return variables[name]

    return VARIABLE.sub(replace, query)


def variable_names(query: str) -> Iterable[str]:
    return (next(g for g in m.groups() if g) for m in VARIABLE.finditer(query))


def _ms(interval: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)", interval).groups()
    return int(number) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[unit]
