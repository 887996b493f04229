"""The dataset folder before a run: what may be kept, what differs, what to clear.

A run continues a folder only if it holds the same dataset (the manifest's
identity keys, including the digit data); kept shards must be the files this
strokeseq wrote (size, inode and mtime as recorded) or match their SHA-256.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from .folder_lock import LOCK, LOCK_INFO
from .manifest import IDENTITY_KEYS, MANIFEST, read_manifest, safe_shard_path
from .shards import hash_shard

__all__ = ["clean_temporaries", "discard_if_empty", "prepare", "stamp"]

log = logging.getLogger(__name__)


def ours(p: Path) -> bool:
    n = p.name
    return n in (MANIFEST, LOCK, LOCK_INFO) or n.startswith(
        ("shard-", ".shard-", ".manifest.", ".lock.json.")
    )


def remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


def clean_temporaries(folder: Path) -> None:
    for p in folder.iterdir():
        if p.name.startswith((".shard-", ".manifest.")) and ".tmp" in p.name:
            remove(p)


def describe_data(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Which digit data differs: files by name, writer provenance on/off, rendering options."""
    out = []
    for name in sorted(set(old) | set(new)):
        o, n = old.get(name) or {}, new.get(name) or {}
        if o == n:
            continue
        of, nf = o.get("files") or {}, n.get("files") or {}
        files = sorted(f for f in set(of) | set(nf) if of.get(f) != nf.get(f))
        if files:
            out.append(f"{name}: other {', '.join(files)}")
        if o.get("writers") != n.get("writers"):
            state = {None: "off"}
            out.append(
                f"{name}: writer provenance {state.get(o.get('writers'), 'on')} there, "
                f"{state.get(n.get('writers'), 'on')} now"
                if (o.get("writers") is None) != (n.get("writers") is None)
                else f"{name}: other writer labels"
            )
        stroke = o and n and (o.get("model"), o.get("sha256")) != (n.get("model"), n.get("sha256"))
        if stroke:
            out.append(f"{name}: other stroke data ({o.get('model')} there, {n.get('model')} now)")
        orr, nr = o.get("render") or {}, n.get("render") or {}
        drawn = sorted(k for k in set(orr) | set(nr) if orr.get(k) != nr.get(k))
        if drawn and o and not orr:  # written before the drawing options were recorded
            out.append(
                f"{name}: drawing options not recorded there (an older strokeseq): this "
                "version cannot tell whether it draws the same digits"
            )
        elif drawn:  # the same stroke data drawn differently (e.g. other defaults)
            out.append(
                f"{name}: drawn with other "
                + ", ".join(f"{k} ({orr.get(k)!r} there, {nr.get(k)!r} now)" for k in drawn)
            )
        if not (files or stroke or drawn) and o.get("writers") == n.get("writers"):
            out.append(f"{name}: {o or 'not used'} there, {n or 'not used'} now")
    return "; ".join(out) or "details"


def describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    diffs = []
    for key in IDENTITY_KEYS:
        if old.get(key) != new.get(key):
            if key == "config_sha256":
                oc, nc = old.get("config", {}), new["config"]
                keys = sorted(k for k in set(oc) | set(nc) if oc.get(k) != nc.get(k))
                diffs.append(f"config ({', '.join(keys) or 'details'})")
            elif key == "data":
                diffs.append(f"digit data ({describe_data(old.get(key) or {}, new[key])})")
            else:
                diffs.append(f"{key} ({old.get(key)!r} there, {new.get(key)!r} now)")
    return "; ".join(diffs)


def stamp(path: Path) -> list[int]:
    """``[size, inode, mtime_ns]`` of a shard file: changes when it is replaced or edited."""
    st = path.stat()
    return [st.st_size, st.st_ino, st.st_mtime_ns]


def prepare(folder: Path, head: dict[str, Any], overwrite: bool, verify: bool) -> list[dict]:
    """Create or reopen ``folder``; return the finished shards that can be kept."""
    old = None
    if (folder / MANIFEST).exists():
        try:
            old = read_manifest(folder)
        except ValueError as exc:
            if not overwrite:
                raise ValueError(
                    f"{exc}; use --overwrite (overwrite=True) to replace it"
                ) from None
    elif any(not ours(p) for p in folder.iterdir()) and not overwrite:
        raise ValueError(
            f"{folder} is not empty and is not a strokeseq dataset; choose a new folder "
            "or use --overwrite (overwrite=True) to write into it"
        )
    if old is not None and head["seed"] is None:
        head["seed"] = old.get("seed")  # resuming without a seed: the folder's seed
    if old is not None and "data" not in old:
        log.warning(
            "%s was made by an older strokeseq that did not record its digit data: "
            "resuming it without checking that the data is the same",
            folder,
        )
        old["data"] = head["data"]
    if old is not None and any(old.get(k) != head.get(k) for k in IDENTITY_KEYS):
        if not overwrite:
            raise ValueError(
                f"{folder} holds a different dataset: {describe_difference(old, head)}. "
                "Use the same arguments to resume it, another folder, or --overwrite "
                "(overwrite=True) to replace it"
            )
        old = None
    if old is None:  # fresh start (overwrite, or only our leftovers): clear our files
        for p in folder.iterdir():
            if ours(p) and p.name not in (LOCK, LOCK_INFO):  # the lock is this run's
                remove(p)
        return []
    if old.get("versions") != head["versions"]:
        log.warning(
            "resuming %s made with %s, now %s: shards may differ byte-wise",
            folder,
            old.get("versions"),
            head["versions"],
        )
    kept = []
    for entry in old["shards"]:
        path = safe_shard_path(folder, entry["file"])
        if not path.exists():
            continue
        # Cheap check: the file is the very one this strokeseq wrote (same size,
        # inode and modification time as recorded); anything else is re-hashed.
        if not verify and not path.is_dir() and entry.get("stat") == stamp(path):
            ok = True
        else:
            try:
                size, digest = hash_shard(path)
            except (OSError, ValueError):  # unreadable, or a damaged PNG folder
                size, digest = -1, ""
            ok = size == entry["bytes"] and digest == entry["sha256"]
        if ok:
            kept.append(entry)
        else:
            log.warning("shard %s does not match the manifest: making it again", entry["file"])
    return kept


def discard_if_empty(folder: Path, keep_lock: bool = False) -> None:
    """Remove a folder this run created if it holds no shard: a refused run leaves nothing."""
    with contextlib.suppress(OSError):
        if any(p.name.startswith("shard-") for p in folder.iterdir()):
            return
        for p in folder.iterdir():
            if ours(p) and not (keep_lock and p.name == LOCK):
                remove(p)
        if not keep_lock:
            folder.rmdir()  # fails (and keeps it) if anything else appeared
