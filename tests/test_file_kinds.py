"""Reading a data file: the bytes it holds, capped, and no more memory than the file needs."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mmtune.file_kinds import open_regular, read_at_most


@settings(derandomize=True, database=None, deadline=None, max_examples=60)
@given(content=st.binary(max_size=300), limit=st.integers(0, 400))
def test_it_reads_the_whole_file_or_one_byte_over_the_limit(content, limit, tmp_path_factory):
    path = tmp_path_factory.mktemp("f") / "data.csv"
    path.write_bytes(content)
    with open_regular(path) as fh:
        raw = read_at_most(fh, limit)
    assert raw == content[: limit + 1]


def test_a_small_file_allocates_what_it_holds_not_the_limit(tmp_path):
    """``fh.read(limit + 1)`` allocated the limit up front: 1 GB for every CSV read."""
    path = tmp_path / "p.png"
    path.write_bytes(b"x" * 1000)
    tracemalloc.start()
    try:
        with open_regular(path) as fh:
            raw = read_at_most(fh, 2**30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert raw == b"x" * 1000
    assert peak < 2**20, f"{peak:,} bytes allocated to read 1,000"


class _GrowsOnFirstRead(io.BufferedReader):
    """A real file that another writer appends to between ``fstat`` and the first read."""

    def __init__(self, path: Path, more: bytes) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self.path, self.more = path, more

    def read(self, size: int | None = -1) -> bytes:
        if self.more:
            with open(self.path, "ab") as writer:
                writer.write(self.more)
            self.more = b""
        return super().read(size)


def test_a_file_that_grew_since_its_size_was_read_is_read_on_up_to_the_cap(tmp_path):
    path = tmp_path / "growing.csv"
    path.write_bytes(b"a" * 10)
    with _GrowsOnFirstRead(path, b"b" * 5) as fh:
        assert read_at_most(fh, 100) == b"a" * 10 + b"b" * 5
    with _GrowsOnFirstRead(path, b"c" * 5) as fh:
        assert read_at_most(fh, 17) == b"a" * 10 + b"b" * 5 + b"ccc"


def test_a_file_exactly_at_the_limit_is_not_over_it(tmp_path: Path):
    path = tmp_path / "exact.csv"
    path.write_bytes(b"z" * 64)
    with open_regular(path) as fh:
        assert len(read_at_most(fh, 64)) == 64
    with open_regular(path) as fh:
        assert len(read_at_most(fh, 63)) == 64
