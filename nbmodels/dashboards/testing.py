"""Widgets talking to a real ipykernel without a front end: for headless tests and benchmarks.

`kernel_comms()` starts an in-process ipykernel and makes it the kernel every widget comm
created inside the block talks through. So each widget update takes the path it takes in
JupyterLab up to the socket: ipywidgets' state serialization (binary buffers included),
ipykernel's `Comm.publish_msg`, `Session.send` (JSON packing and HMAC signing) and the IOPub
thread. Only the last hop differs: messages land in an in-memory socket, where they are
counted, instead of a ZMQ socket to the browser.

Example:
>>> import ipywidgets
>>> from nbmodels.dashboards.testing import kernel_comms
>>> with kernel_comms() as traffic:
...     slider = ipywidgets.IntSlider()
...     slider.value = 3
>>> traffic.messages >= 2  # comm_open and the update
True
"""

from __future__ import annotations

import contextlib
import threading
import time


class Traffic:
    """Messages and bytes that reached the IOPub socket."""

    def __init__(self, socket):
        self.messages = 0
        self.bytes = 0
        self._socket = socket
        self._lock = threading.Lock()

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the IOPub thread has handed over what was sent so far."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if self._socket.message_sent == last:
                return
            last = self._socket.message_sent

    def add(self, parts) -> None:
        with self._lock:
            self.messages += 1
            self.bytes += sum(len(p.bytes if hasattr(p, "bytes") else p) for p in parts)


@contextlib.contextmanager
def kernel_comms():
    """Run the block with an in-process ipykernel as the widgets' kernel; yields a `Traffic`."""
    from ipykernel.inprocess.manager import InProcessKernelManager
    from ipykernel.kernelbase import Kernel

    manager = InProcessKernelManager()
    manager.start_kernel()
    kernel = manager.kernel
    socket = kernel._underlying_iopub_socket
    traffic = Traffic(socket)

    def drain(_change):
        # Take the message off the in-memory socket (no client decodes it: a browser would).
        while not socket.queue.empty():
            traffic.add(socket.queue.get_nowait())

    socket.unobserve(kernel._io_dispatch, names=["message_sent"])
    socket.observe(drain, names=["message_sent"])
    # ipykernel's comms publish through Kernel.instance(); an in-process kernel is not the
    # singleton until registered as such.
    previous = getattr(Kernel, "_instance", None)
    Kernel._instance = kernel
    try:
        yield traffic
        traffic.settle()
    finally:
        Kernel._instance = previous
        manager.shutdown_kernel()
