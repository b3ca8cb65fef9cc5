"""What identifies an input (vidstyle.files.identity): content hash, path/size/mtime, the flow cache's source id."""

from __future__ import annotations

import hashlib
import os

from vidstyle.files.identity import file_sha256, input_identity, source_id


def test_file_sha256(tmp_path):
    f = tmp_path / "style.png"
    data = os.urandom(3 << 20 | 5)  # more than one 1 MiB block
    f.write_bytes(data)
    assert file_sha256(f) == hashlib.sha256(data).hexdigest()


def test_input_identity_and_source_id(tmp_path):
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"12345")
    os.utime(f, ns=(1_000_000_000, 2_000_000_000))
    assert input_identity(f) == {"path": str(f.resolve()), "bytes": 5, "mtime_ns": 2_000_000_000}
    assert source_id(f) == f"{f.resolve()}:5:2000000000"
    # A frame pattern is identified by its folder; for the flow cache, folders and patterns by path alone.
    frames = tmp_path / "frames"
    frames.mkdir()
    st = frames.stat()
    pattern = frames / "%05d.png"
    assert input_identity(pattern) == {"path": str(pattern.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    assert source_id(pattern) == str(pattern.resolve())
    assert source_id(frames) == str(frames.resolve())
    assert source_id(tmp_path / "missing.mp4") == str((tmp_path / "missing.mp4").resolve())
