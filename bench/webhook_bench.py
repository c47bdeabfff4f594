"""Webhook throughput of the outbox alone: N events emitted to a fresh outbox, then delivered
by one WebhookDeliverer (its default pool of 4) to a receiver on 127.0.0.1 answering 204.

Prints events/s from the first emit to the last delivery, the emit and delivery parts apart, and
CPU ms per event of this process (the receiver is a separate process, so its CPU is not counted).
Bounded: at most --count events, and it stops after --timeout seconds.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from inlet.events import Event, event_of
from inlet.webhook.delivery import WebhookDeliverer
from inlet.webhook.outbox import Outbox

SECRET = "bench-webhook-secret-0123456789"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.builders: the documents

from tests.builders import make_document  # noqa: E402

RECEIVER = Path(__file__).resolve().parent.parent / "examples" / "webhook_receiver.py"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    if not 0 < args.count <= 100_000:
        parser.error("--count: 1 to 100000")
    receiver = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--port", "0", "--host", "127.0.0.1"],
        env={"INLET_WEBHOOK_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its request log; failures show as "left pending"
        text=True,
    )
    # The receiver prints a line per event: read them all, or once the pipe's buffer (64 KiB,
    # some 700 lines) is full its handlers block on print and deliveries time out.
    printed: list[str] = []
    try:
        out = receiver.stdout
        assert out is not None
        url = out.readline().split("listening on ")[1].strip()
        drain = threading.Thread(target=lambda: printed.extend(out), daemon=True)
        drain.start()
        made = [event_of(make_document()) for _ in range(args.count)]  # type: ignore[arg-type]
        events: list[Event] = [e for e in made if e is not None]
        with tempfile.TemporaryDirectory() as tmp:
            outbox = Outbox(Path(tmp))
            worker = WebhookDeliverer(outbox, url, SECRET)
            cpu0, t0 = cpu(), time.monotonic()
            for event in events:
                outbox.emit([event])  # one at a time, as the index step emits
            t1 = time.monotonic()
            deadline = t1 + args.timeout
            while outbox.pending_count() and time.monotonic() < deadline:
                worker.deliver_due()
            t2, cpu1 = time.monotonic(), cpu()
            worker.stop()
            left = outbox.pending_count()
    finally:
        receiver.terminate()
        receiver.wait(10)
        drain.join(10)
    n = len(events)
    taken = sum(1 for line in printed if not line.startswith(("duplicate", "stopped")))
    print(f"{'events':<28}{n:>12}")
    print(f"{'emit (durable write) /s':<28}{n / (t1 - t0):>12.0f}")
    print(f"{'delivery /s':<28}{(n - left) / (t2 - t1):>12.0f}")
    print(f"{'end to end /s':<28}{(n - left) / (t2 - t0):>12.0f}")
    print(f"{'CPU ms per event (inlet)':<28}{(cpu1 - cpu0) * 1000 / n:>12.2f}")
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak RSS MiB (inlet)':<28}{rss_mib:>12.0f}")
    print(f"{'left pending':<28}{left:>12}")
    print(f"{'taken by the receiver':<28}{taken:>12}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
