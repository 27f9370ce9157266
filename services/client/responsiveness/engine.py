"""The I/O of a responsiveness test: one asyncio loop runs the load flows, the probes and the sampler.

The loop follows the timeline (`phases.Timeline`): at a loaded phase's start it opens the flows of its
directions, at its end it aborts them. Throughout the test, UDP probes leave every `udp_interval_s`,
a foreign probe starts every `foreign_interval_s`, and every `sample_interval_s` the sampler reads
TCP_INFO of each live flow (self RTT, bytes). It only records (`records.Records`); `analyze` derives
the statistics afterwards.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from typing import TextIO

from services.client.httpc import Target, resolve_target
from services.client.responsiveness import tcpinfo
from services.client.responsiveness.config import RespConfig
from services.client.responsiveness.flows import DownloadFlow, Flow, UploadFlow
from services.client.responsiveness.phases import Timeline, phase_at
from services.client.responsiveness.probes import UdpProber, foreign_probe, resolve
from services.client.responsiveness.records import ByteSample, Records, SelfSample

RECONNECT_PAUSE_S = 0.2
REPLACEMENTS_PER_FLOW = 20  # a flow that keeps failing is replaced at most this often per phase


class Engine:
    def __init__(self, config: RespConfig, rng: random.Random | None = None,
                 progress: TextIO | None = None) -> None:
        self.config = config.validate()
        self.rng = rng or random.Random()
        self.progress = progress
        self.plan = config.plan()
        self.timeline = Timeline(self.plan)
        self.flows: list[Flow] = []
        self.want = {"down": False, "up": False}
        self.replaced = {"down": 0, "up": 0}
        self.records = Records(0, 0)
        self._targets: dict[str, tuple[Target, tuple[str, int]]] = {}
        self._foreign: set[asyncio.Task[None]] = set()
        self._connecting: set[asyncio.Task[None]] = set()
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self._numbers = 0
        self._start = 0.0  # the loop's clock (time.monotonic) at the test's time zero

    def _target(self, url: str) -> tuple[Target, tuple[str, int]]:
        target = resolve_target(url, self.config.proxy)
        return target, resolve(target.host, target.port, self.config.family)

    async def run(self) -> Records:
        loop = asyncio.get_running_loop()
        config = self.config
        self._targets = {"down": self._target(config.download_url), "up": self._target(config.upload_url),
                         "probe": self._target(config.probe_url)}
        udp = self._udp(loop)
        self.records.start_mono_ns, self.records.start_wall_ns = time.monotonic_ns(), time.time_ns()
        self._start = self.records.start_mono_ns / 1e9
        if udp is not None:
            udp.start()
        self._foreign_tick()
        self._sample_tick()
        try:
            await asyncio.sleep(self.timeline.end_s)
        finally:
            for handle in self._handles.values():
                handle.cancel()
            self._set_load(False, False)
            self._sample(time.monotonic_ns())
            for task in self._connecting:
                task.cancel()
            if udp is not None:
                udp.stop_sending()
        await self._finish(udp)
        return self.records

    async def _finish(self, udp: UdpProber | None) -> None:
        """Late UDP replies and foreign probes still in flight (bounded by their timeout)."""
        if self._foreign:
            await asyncio.wait(self._foreign, timeout=self.config.timeout_s)
        await asyncio.sleep(self.config.linger_s)
        if udp is not None:
            udp.close()

    def _udp(self, loop: asyncio.AbstractEventLoop) -> UdpProber | None:
        if self.config.udp_target is None:
            self.records.udp_error = "no UDP target"
            return None
        host, port = self.config.udp_target
        try:
            prober = UdpProber(loop, host, port, self.config.udp_interval_s, self.config.udp_size,
                               self.records.udp, self.rng, self.config.family)
        except OSError as exc:
            self.records.udp_error = f"{type(exc).__name__}: {exc}"
            return None
        return prober

    def _next_slot(self, interval_s: float) -> float:
        """The next multiple of `interval_s` after now, on the loop's clock (no drift, no bursts)."""
        elapsed = asyncio.get_running_loop().time() - self._start
        return self._start + (int(elapsed / interval_s) + 1) * interval_s

    def _foreign_tick(self) -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._one_foreign())
        self._foreign.add(task)
        task.add_done_callback(self._foreign.discard)
        due = self._next_slot(self.config.foreign_interval_s)
        if due - self._start < self.timeline.end_s:
            self._handles["foreign"] = loop.call_at(due, self._foreign_tick)

    async def _one_foreign(self) -> None:
        target, address = self._targets["probe"]
        self.records.foreign.append(await foreign_probe(address, target, self.config.timeout_s))

    def _sample_tick(self) -> None:
        """Apply the load changes that are due, sample every flow; again at the next slot or change."""
        loop = asyncio.get_running_loop()
        elapsed_s = loop.time() - self._start
        for change in self.timeline.due(elapsed_s):
            self._set_load(change.down, change.up)
        self._sample(time.monotonic_ns())
        self._paint(elapsed_s)
        due = self._next_slot(self.config.sample_interval_s)
        next_change = self._start + self.timeline.next_s()
        if loop.time() < next_change < due:
            due = next_change
        self._handles["sample"] = loop.call_at(due, self._sample_tick)

    def _sample(self, now_ns: int) -> None:
        for flow in self.flows:
            info = flow.sample()
            if info is None:
                continue
            rtt = tcpinfo.self_rtt_us(info, sending=flow.direction == "up")
            if rtt > 0:
                self.records.self_samples.append(SelfSample(now_ns, flow.number, flow.direction, rtt))
        down = sum(f.moved for f in self.flows if f.direction == "down")
        up = sum(f.moved for f in self.flows if f.direction == "up")
        self.records.bytes.append(ByteSample(now_ns, down, up))

    def _set_load(self, down: bool, up: bool) -> None:
        for direction, on in (("down", down), ("up", up)):
            if on and not self.want[direction]:
                self.replaced[direction] = 0
                count = self.config.flows_down if direction == "down" else self.config.flows_up
                for _ in range(count):
                    self._open(direction)
            if not on:
                for flow in self.flows:
                    if flow.direction == direction:
                        flow.stop()
            self.want[direction] = on

    def _open(self, direction: str, delay_s: float = 0.0) -> None:
        task = asyncio.get_running_loop().create_task(self._connect(direction, delay_s))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, direction: str, delay_s: float) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        if not self.want[direction]:
            return
        target, address = self._targets[direction]
        self._numbers += 1
        number = self._numbers
        flow: Flow = (DownloadFlow(number, target, self._failed) if direction == "down" else
                      UploadFlow(number, target, self._failed, self.config.upload_bytes))
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.create_connection(lambda: flow, *address), self.config.timeout_s)
        except (TimeoutError, OSError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else "connect"
            self._failed(flow, kind)
            return
        self.records.flows_opened[direction] += 1
        self.flows.append(flow)
        if not self.want[direction]:
            flow.stop()

    def _failed(self, flow: Flow, kind: str) -> None:
        """A load connection broke: count it, and replace it while its phase lasts (bounded)."""
        self.records.load_errors[kind] += 1
        direction = flow.direction
        count = self.config.flows_down if direction == "down" else self.config.flows_up
        if self.want[direction] and self.replaced[direction] < REPLACEMENTS_PER_FLOW * count:
            self.replaced[direction] += 1
            self._open(direction, RECONNECT_PAUSE_S)

    def _paint(self, elapsed_s: float) -> None:
        if self.progress is None or len(self.records.bytes) < 11:
            return
        if int(elapsed_s * 10) % 10:
            return
        then, now = self.records.bytes[-11], self.records.bytes[-1]
        seconds = max((now.at_ns - then.at_ns) / 1e9, 1e-9)
        phase = phase_at(self.plan, elapsed_s)
        self.progress.write(f"\r  {elapsed_s:5.1f} s  {phase.name if phase else 'gap':<8}"
                            f"  down {(now.down_bytes - then.down_bytes) * 8 / seconds / 1e6:7.2f} Mbit/s"
                            f"  up {(now.up_bytes - then.up_bytes) * 8 / seconds / 1e6:7.2f} Mbit/s   ")
        self.progress.flush()


def run(config: RespConfig, rng: random.Random | None = None, progress: TextIO | None = None) -> Records:
    """Run the whole test; raises OSError when a target cannot even be resolved."""
    records = asyncio.run(Engine(config, rng, progress).run())
    if progress is not None:
        progress.write("\r" + " " * 78 + "\r")
        progress.flush()
    return records


def stderr_if_tty() -> TextIO | None:
    try:
        return sys.stderr if sys.stderr.isatty() else None
    except (AttributeError, ValueError):
        return None
