"""What the relay holds outside what the byte budget counts: the C allocator's retention, and
copies on the S3 request path. (The figures: bench/relay_memory.py, docs/performance.md.)"""

import os
import subprocess
import sys

import pytest

from inlet.blobstore.s3 import _Body

pytestmark = pytest.mark.unit

GLIBC = bool(hasattr(os, "confstr") and os.confstr("CS_GNU_LIBC_VERSION"))

# After a large buffer is freed, is the next, smaller large buffer still a mapping of its own
# (returned to the system when freed) or carved from the heap? glibc's dynamic threshold
# would put it in the heap; a budget pins the threshold.
PROBE = """
import ctypes, sys
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
    )]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "budget":
    from relay.budget import ByteBudget
    ByteBudget(1 << 20)
big = bytearray(8 << 20)
del big  # a dynamic threshold would now be 8 MiB
before = libc.mallinfo2().hblkhd
part = bytearray(2 << 20)
print(libc.mallinfo2().hblkhd - before >= (2 << 20))
"""


def mapped_after_a_larger_free(mode: str) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


@pytest.mark.skipif(not GLIBC, reason="the setting is glibc's (mallopt M_MMAP_THRESHOLD)")
def test_with_a_budget_large_buffers_stay_out_of_the_heap() -> None:
    assert mapped_after_a_larger_free("budget")
    assert not mapped_after_a_larger_free("plain")  # what glibc does by itself


def test_s3_request_bodies_are_read_as_views_of_the_callers_buffers() -> None:
    first, second = bytearray(b"a" * 300_000), b"b" * 100
    body = _Body([first, second])
    block = body.read(128 * 1024)  # as urllib3 reads to send
    assert isinstance(block, memoryview)
    assert block.obj is first
    assert len(block) == 128 * 1024
    assert bytes(body.read(1 << 20)) == b"a" * (300_000 - 128 * 1024)  # a short read
    assert bytes(body.read(1 << 20)) == second
    assert body.read(1 << 20) == b""
    body.seek(0)
    whole = body.read()  # read() callers get bytes, as files give them
    assert isinstance(whole, bytes)
    assert whole == bytes(first) + second
    body.seek(5)
    assert body.readall() == bytes(first[5:]) + second
    body.close()
