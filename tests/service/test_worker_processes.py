"""``CXR_WORKERS`` > 1, the parent's side, with stand-in children: which port and settings each child gets,
and that a stop signal reaches every child started, however the signal and the starts interleave."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service import processes
from service.__main__ import main
from service.settings import Settings, SettingsError, load_settings, settings_from_env

HOST = "127.0.0.1"


class FakeChild:
    """Records how the parent treats it; ``exit`` (or a watchdog, so a test cannot hang) ends it."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str, on_start: Any) -> None:
        self.target, self.args, self.name = target, args, name
        self.pid: int | None = None
        self.exitcode: int | None = None
        self.told_to_stop = False
        self._on_start = on_start
        self._read, self._write = os.pipe()
        self.sentinel = self._read
        self._watchdog = threading.Timer(5.0, self.exit, args=(99,))

    def start(self) -> None:
        self._on_start(self)
        self.pid = 4_000_000 + int(self.name.rsplit("-", 1)[1])
        self._watchdog.start()

    def terminate(self) -> None:
        self.told_to_stop = True
        self.exit(-signal.SIGTERM)

    def exit(self, code: int) -> None:
        if self.exitcode is None:
            self.exitcode = code
            os.write(self._write, b"x")

    def close(self) -> None:
        self._watchdog.cancel()
        os.close(self._read)
        os.close(self._write)


class FakeContext:
    def __init__(self, on_start: Callable[[FakeChild], None] = lambda child: None) -> None:
        self.children: list[FakeChild] = []
        self._on_start = on_start

    def Process(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> FakeChild:  # noqa: N802
        child = FakeChild(target, args, name, self._on_start)
        self.children.append(child)
        return child


@pytest.fixture
def fake_children(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeContext]]:
    made: list[FakeContext] = []

    def install(on_start: Callable[[FakeChild], None] = lambda child: None) -> FakeContext:
        context = FakeContext(on_start)
        made.append(context)
        monkeypatch.setattr(multiprocessing, "get_context", lambda method: context)
        return context

    yield install
    for context in made:
        for child in context.children:
            child.close()


def test_port_0_is_chosen_once_and_every_child_gets_that_port(
    fake_children: Callable[..., FakeContext],
) -> None:
    context = fake_children(lambda child: child.exit(0))

    assert processes.run_workers(load_settings(workers=3), HOST, 0) == 0

    ports = {child.args[2] for child in context.children}
    assert len(context.children) == 3 and len(ports) == 1 and 0 not in ports


def test_children_are_given_the_parents_settings_not_the_environment(
    fake_children: Callable[..., FakeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    context = fake_children(lambda child: child.exit(0))
    settings = load_settings(workers=2, max_batch_size=3, api_keys=["k" * 24])
    monkeypatch.setenv("CXR_MAX_BATCH_SIZE", "17")

    processes.run_workers(settings, HOST, 0)

    assert [child.args[0] for child in context.children] == [settings, settings]
    assert pickle.loads(pickle.dumps(settings)) == settings  # spawn pickles what a child is given


def test_a_child_serves_the_settings_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Settings] = []

    def serve(settings: Settings, host: str, port: int, sock: object) -> bool:
        served.append(settings)
        return True

    monkeypatch.setattr("service.server.serve", serve)
    monkeypatch.setenv("CXR_MAX_BATCH_SIZE", "17")
    settings = load_settings(workers=2, max_batch_size=3)

    processes._child(settings, HOST, 0)

    assert served == [settings]


def test_a_stop_signal_while_a_child_starts_stops_that_child_and_starts_no_more(
    fake_children: Callable[..., FakeContext],
) -> None:
    def sigterm_mid_start(child: FakeChild) -> None:
        if child.name.endswith("-1"):
            signal.raise_signal(signal.SIGTERM)

    context = fake_children(sigterm_mid_start)

    code = processes.run_workers(load_settings(workers=4), HOST, 0)

    started = [child for child in context.children if child.pid is not None]
    assert [child.name for child in started] == ["cxr-worker-0", "cxr-worker-1"]
    assert all(child.told_to_stop for child in started)
    assert code == 0


@pytest.mark.parametrize("port", ["-1", "65536", "70000"])
def test_the_cli_port_is_range_checked_like_cxr_port(
    port: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(processes, "run_workers", lambda *args: pytest.fail("started with a bad port"))
    monkeypatch.setattr("service.server.serve", lambda *args: pytest.fail("started with a bad port"))

    with pytest.raises(SystemExit) as exited:
        main(["--port", port])

    assert exited.value.code == 2 and "--port" in capsys.readouterr().err
    monkeypatch.setenv("CXR_PORT", port)
    settings_from_env.cache_clear()
    with pytest.raises(SettingsError, match="CXR_PORT"):
        settings_from_env()
    settings_from_env.cache_clear()
