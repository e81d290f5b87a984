"""CPU seconds spent by groups of processes, read from /proc (Linux), for "µs of CPU per
event" figures: on a shared machine a rate depends on what else runs, while the CPU each
part spends per event says where the time goes and what a bigger machine would do."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> list[tuple[int, int, str, float]]:
    """(pid, parent pid, command line, CPU seconds) of every process readable now."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while being read
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
        found.append((int(entry.name), int(fields[1]), command, seconds))
    return found


def tree(root: int) -> Callable[[int, str], bool]:
    """A matcher for `root` and its descendants (as of the first reading)."""
    members = {root}
    changed = True
    processes = _processes()
    while changed:
        changed = False
        for pid, parent, _, _ in processes:
            if parent in members and pid not in members:
                members.add(pid)
                changed = True
    return lambda pid, _command: pid in members


def named(*words: str) -> Callable[[int, str], bool]:
    """A matcher for processes whose command line starts with one of `words`'s programs."""
    return lambda _pid, command: any(command.startswith(w) for w in words)


class CpuMeter:
    """CPU seconds per named group of processes between start() and stop()."""

    def __init__(self, groups: dict[str, Callable[[int, str], bool]]) -> None:
        self._groups = groups
        self._before: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        totals = dict.fromkeys(self._groups, 0.0)
        for pid, _, command, seconds in _processes():
            for name, matches in self._groups.items():
                if matches(pid, command):
                    totals[name] += seconds
                    break
        return totals

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        return {name: after[name] - self._before.get(name, 0.0) for name in after}
