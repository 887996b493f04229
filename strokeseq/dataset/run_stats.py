"""What a dataset run did and cost: its summary, and the accounting of the processes that made shards.

:func:`strokeseq.dataset.runner.generate_dataset` returns a
:class:`DatasetSummary`; while it runs, :class:`RunAccounts` adds up the
statistics each shard reports (``_stats`` of a shard entry: the pid that
made it, its CPU split, peak memory and wall-clock span)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DatasetSummary", "RunAccounts", "children_cpu"]


@dataclass
class DatasetSummary:
    """What a :func:`generate_dataset` call did.

    Attributes
    ----------
    folder : pathlib.Path
        The dataset folder.
    count, shards : int
        Samples and shards of the whole dataset.
    shards_written, shards_kept : int
        Shards made by this call, and finished shards found from an earlier run.
    samples_written : int
        Samples made by this call.
    seconds : float
        Wall time of this call.
    seed : int
        The dataset's seed (drawn from OS entropy when none was given).
    bytes : int
        Size of all shards.
    worker_maxrss_mb : dict of int to float
        Peak resident memory of each process that made shards (by pid, this
        one included), in MiB. A forked worker's figure includes the pages it
        shares with this process (everything this process held when it forked).
    cpu : dict
        Where the CPU time went (seconds, measured with :func:`time.process_time`
        in each process, so they hold on a loaded machine): ``parent`` (this
        process during the call, its own shards included), ``parent_setup``
        (this process before the first shard: checks, loading the sources,
        the manifest), ``children`` (every worker process from its start to
        its exit, from ``RUSAGE_CHILDREN``; 0 without worker processes), and
        ``processes``: per process that made shards (by pid), ``shards``,
        ``start`` (CPU it had spent before its first shard: interpreter and
        imports; 0 for this process), ``load`` (sources and data checks),
        ``generate`` and ``write`` (encoding, writing and hashing the files);
        ``start_method``: how local worker processes were started (``"fork"``
        or ``"spawn"``, see :func:`strokeseq.dataset.local_engine.start_method`;
        None without them); ``timeline`` (wall clock, ``time.monotonic()``, the same clock in
        every process on Linux): ``start`` of the call, ``setup_end`` (first
        shard may start), ``engine_end`` (last shard recorded), ``end``, and
        ``shards``: ``[pid, id, start, end]`` of each shard made.
    """

    folder: Path
    count: int
    shards: int
    shards_written: int
    shards_kept: int
    samples_written: int
    seconds: float
    seed: int
    bytes: int
    worker_maxrss_mb: dict[int, float] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)

    @property
    def samples_per_second(self) -> float:
        return self.samples_written / self.seconds if self.seconds > 0 else float("nan")


class RunAccounts:
    """Per-process sums of the statistics the shards of one run report.

    Examples
    --------
    >>> acc = RunAccounts()
    >>> acc.add({"pid": 7, "maxrss_kb": 2048, "cpu_before": 0.5, "load": 0.1,
    ...          "generate": 1.0, "write": 0.2, "id": 0, "wall": [0.0, 1.5]})
    >>> acc.rss[7], acc.processes[7]["shards"], acc.processes[7]["start"]
    (2.0, 1, 0.5)
    >>> acc.cpu(parent=1.0, parent_setup=0.2, children=0.0, start_method=None,
    ...         timeline={})["timeline"]["shards"]
    [[7, 0, 0.0, 1.5]]
    """

    def __init__(self) -> None:
        self.rss: dict[int, float] = {}  # peak resident MiB by pid
        self.processes: dict[int, dict[str, float]] = {}
        self.events: list[list[float]] = []  # per shard: pid, id, start, end (time.monotonic())
        self._me = os.getpid()

    def add(self, st: dict[str, Any]) -> None:
        """Add one shard's statistics (``st["id"]`` is the shard's id)."""
        pid = st["pid"]
        self.rss[pid] = max(self.rss.get(pid, 0.0), st["maxrss_kb"] / 1024)
        p = self.processes.setdefault(
            pid,
            {"shards": 0, "start": 0.0 if pid == self._me else st["cpu_before"], "load": 0.0,
             "generate": 0.0, "write": 0.0},
        )  # fmt: skip
        if pid != self._me:  # shards may be recorded out of order: the earliest start counts
            p["start"] = min(p["start"], st["cpu_before"])
        p["shards"] += 1
        for key in ("load", "generate", "write"):
            p[key] += st[key]
        for key in ("init", "ready"):
            if key in st:
                p[key] = st[key]
        if "wall" in st:
            self.events.append([pid, st.get("id", -1), *st["wall"]])

    def cpu(
        self,
        *,
        parent: float,
        parent_setup: float,
        children: float,
        start_method: str | None,
        timeline: dict[str, float],
    ) -> dict[str, Any]:
        """:attr:`DatasetSummary.cpu` of the run: the given totals and the per-process sums."""
        return {
            "parent": parent,
            "parent_setup": parent_setup,
            "children": children,
            # how the local workers were started ("fork" or "spawn"), None without
            "start_method": start_method,
            "processes": self.processes,
            "timeline": dict(timeline, shards=self.events),
        }


def children_cpu() -> float:
    """User + system CPU seconds of this process's ended (waited-for) children (0 without)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0.0

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime
