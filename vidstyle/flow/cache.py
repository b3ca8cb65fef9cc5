"""On-disk cache of flow and consistency weights, one file per unordered frame pair.

One entry holds everything about the pair of frames ``lo < hi`` (source frame indices):
the flow lo→hi, the flow hi→lo, and the consistency weights on each frame, so both
directions of traversal (forward passes warp from i−k, backward passes from i+k) read the
same file.

Layout: ``ROOT/<backend>-<identity hash>/<W>x<H>/<lo>-<hi>.vsflow`` (indices zero-padded to
six digits) plus a human-readable ``identity.json`` beside the size folders. The identity
hash covers the backend and its options, the consistency parameters, the format version
and an optional caller-given source id (e.g. the video's fingerprint).

File format (version 1), little-endian::

    b"VSFLOW1\\n"  u32 header length  header (UTF-8 JSON)  payload

The header names the key (identity hash, lo, hi, width, height), the pair, the arrays
(name, dtype, shape), the payload length and its BLAKE2b digest. The payload is zlib (level 1) of the
arrays, float16, channel-planar and byte-shuffled (high bytes, then low bytes: ~30 % of the
float16 size on Sintel, vs ~50 % unshuffled). Float16 keeps flow to 1/32 px below 64 px of
motion and 1/8 px below 256 px.

Files are written atomically (temporary file + rename) and fully verified on read: any
mismatch or corruption makes :meth:`FlowCache.load` return None so the caller recomputes
and overwrites the entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from vidstyle.files.atomic import atomic_write_bytes, os_errors
from vidstyle.flow.consistency import ConsistencyParams

FORMAT_VERSION = 1
MAGIC = b"VSFLOW1\n"
SUFFIX = ".vsflow"
ZLIB_LEVEL = 1
_ARRAY_NAMES = ("flow_fwd", "flow_bwd", "weights_lo", "weights_hi")

log = logging.getLogger(__name__)


@dataclasses.dataclass
class PairEntry:
    """Flow and weights of the frame pair ``lo < hi`` (source frame indices), float16.

    ``flow_fwd`` is lo→hi and ``flow_bwd`` hi→lo (H×W×2); ``weights_lo`` are the
    consistency weights on frame lo for warping hi into lo with ``flow_fwd``, and
    ``weights_hi`` those on frame hi for warping lo into hi with ``flow_bwd`` (H×W).
    """

    lo: int
    hi: int
    flow_fwd: np.ndarray
    flow_bwd: np.ndarray
    weights_lo: np.ndarray
    weights_hi: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.flow_fwd.shape[1]), int(self.flow_fwd.shape[0])

    def towards(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(flow_ij, weights_i) to bring frame j into frame i, float16 as stored."""
        if (i, j) == (self.lo, self.hi):
            return self.flow_fwd, self.weights_lo
        if (i, j) == (self.hi, self.lo):
            return self.flow_bwd, self.weights_hi
        raise KeyError(f"pair ({i}, {j}) is not in the entry for frames {self.lo} and {self.hi}")


def pair_order(i: int, j: int) -> tuple[int, int]:
    """The (lo, hi) key of the unordered pair {i, j}."""
    if i == j:
        raise ValueError(f"a frame pair needs two different frames, got {i} twice")
    return (i, j) if i < j else (j, i)


class FlowCache:
    """A directory of :class:`PairEntry` files for one backend setting and one source.

    Cheap to create and picklable (worker processes receive it); nothing touches the disk
    until the first :meth:`store`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        backend_identity: dict[str, Any],
        params: ConsistencyParams = ConsistencyParams(),
        source: str = "",
    ) -> None:
        self.root = Path(root)
        self.identity: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "backend": backend_identity,
            "consistency": dataclasses.asdict(params),
            "source": source,
        }
        blob = json.dumps(self.identity, sort_keys=True, separators=(",", ":"), default=str).encode()
        self.identity_hash = hashlib.blake2b(blob, digest_size=8).hexdigest()
        name = str(backend_identity.get("name", "flow"))
        self.directory = self.root / f"{name}-{self.identity_hash}"

    def path(self, lo: int, hi: int, size: tuple[int, int]) -> Path:
        """Where the entry of the pair (lo < hi) at ``size`` (W, H) lives."""
        w, h = size
        return self.directory / f"{w}x{h}" / f"{lo:06d}-{hi:06d}{SUFFIX}"

    def load(self, lo: int, hi: int, size: tuple[int, int]) -> PairEntry | None:
        """The stored entry, or None when absent, stale or corrupt (the reason is logged)."""
        path = self.path(lo, hi, size)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("%s: unreadable flow cache entry (%s); recomputing", path, e)
            return None
        try:
            return decode_entry(data, self._key(lo, hi, size))
        except (ValueError, KeyError, TypeError, zlib.error, json.JSONDecodeError, struct.error) as e:
            log.warning("%s: invalid flow cache entry (%s); recomputing", path, e)
            return None

    def store(self, entry: PairEntry) -> Path:
        """Write ``entry`` atomically (replacing any previous file) and return its path."""
        path = self.path(entry.lo, entry.hi, entry.size)
        with os_errors(path.parent, "cannot create the flow cache folder"):
            path.parent.mkdir(parents=True, exist_ok=True)
        ident = self.directory / "identity.json"
        if not ident.exists():
            atomic_write_bytes(
                ident, (json.dumps(self.identity, indent=2, sort_keys=True, default=str) + "\n").encode()
            )
        atomic_write_bytes(path, encode_entry(entry, self._key(entry.lo, entry.hi, entry.size)))
        return path

    def _key(self, lo: int, hi: int, size: tuple[int, int]) -> dict[str, Any]:
        return {
            "identity": self.identity_hash,
            "lo": int(lo),
            "hi": int(hi),
            "width": int(size[0]),
            "height": int(size[1]),
        }


def _shuffle(a: np.ndarray) -> bytes:
    """Float16 array → channel-planar, byte-shuffled bytes (compresses much better)."""
    a = np.asarray(a, np.float16)
    if a.ndim == 3:
        a = a.transpose(2, 0, 1)
    b = np.ascontiguousarray(a, "<f2").view(np.uint8).reshape(-1, 2)
    return b[:, 1].tobytes() + b[:, 0].tobytes()


def _unshuffle(raw: bytes, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    if len(raw) != 2 * n:
        raise ValueError("array size mismatch")
    b = np.empty((n, 2), np.uint8)
    u = np.frombuffer(raw, np.uint8)
    b[:, 1] = u[:n]
    b[:, 0] = u[n:]
    a = b.view("<f2").reshape(shape if len(shape) != 3 else (shape[2], shape[0], shape[1]))
    if len(shape) == 3:
        a = a.transpose(1, 2, 0)
    return np.ascontiguousarray(a, np.float16)


def encode_entry(entry: PairEntry, key: dict[str, Any]) -> bytes:
    """Serialise ``entry`` with ``key`` in the header (see the module docstring)."""
    arrays = [np.asarray(getattr(entry, name)) for name in _ARRAY_NAMES]
    h, w = arrays[0].shape[:2]
    for name, a in zip(_ARRAY_NAMES, arrays, strict=True):
        expected = (h, w, 2) if name.startswith("flow") else (h, w)
        if a.shape != expected:
            raise ValueError(f"{name} has shape {a.shape}, expected {expected}")
    payload = zlib.compress(b"".join(_shuffle(a) for a in arrays), ZLIB_LEVEL)
    header = {
        "format": FORMAT_VERSION,
        "key": key,
        "pair": [int(entry.lo), int(entry.hi)],
        "arrays": [
            {"name": n, "dtype": "float16", "shape": list(a.shape)} for n, a in zip(_ARRAY_NAMES, arrays, strict=True)
        ],
        "payload_bytes": len(payload),
        "blake2b": hashlib.blake2b(payload, digest_size=16).hexdigest(),
    }
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(hb)) + hb + payload


def decode_entry(data: bytes, key: dict[str, Any] | None = None) -> PairEntry:
    """Parse and verify an entry; raises ValueError (or a parsing error) on any mismatch."""
    if not data.startswith(MAGIC):
        raise ValueError("not a vidstyle flow cache file")
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    if hlen > len(data) - start:
        raise ValueError("truncated header")
    header = json.loads(data[start : start + hlen].decode())
    if header.get("format") != FORMAT_VERSION:
        raise ValueError(f"format {header.get('format')!r}, expected {FORMAT_VERSION}")
    if key is not None and header.get("key") != key:
        raise ValueError(f"key {header.get('key')} does not match {key}")
    payload = data[start + hlen :]
    if len(payload) != header["payload_bytes"]:
        raise ValueError(f"payload is {len(payload)} bytes, header says {header['payload_bytes']} (truncated?)")
    if hashlib.blake2b(payload, digest_size=16).hexdigest() != header["blake2b"]:
        raise ValueError("checksum mismatch")
    raw = zlib.decompress(payload)
    arrays: dict[str, np.ndarray] = {}
    pos = 0
    specs = header["arrays"]
    if [s["name"] for s in specs] != list(_ARRAY_NAMES) or any(s["dtype"] != "float16" for s in specs):
        raise ValueError("unexpected array list")
    for s in specs:
        shape = tuple(int(x) for x in s["shape"])
        nbytes = 2 * int(np.prod(shape))
        arrays[s["name"]] = _unshuffle(raw[pos : pos + nbytes], shape)
        pos += nbytes
    if pos != len(raw):
        raise ValueError("trailing bytes in payload")
    lo, hi = (int(x) for x in header["pair"])
    return PairEntry(lo=lo, hi=hi, **arrays)
