"""The bridge as a library changes nothing process-wide: no asyncua attribute, no garbage
collector setting. `factory-sim bridge` opts in to the asyncua adapter and the GC tuning, and
undoes both when it stops."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

from factory_cli.commands.bridge import run_tuned
from factory_cli.tuning import GC_THRESHOLDS
from mqtt_bridge.app import Bridge
from mqtt_bridge.config import BridgeConfig, load
from mqtt_bridge.inputs.opcua import asyncua_adapter
from tests.bridge.machinery_server import MachineryServer
from tests.services import MqttRecorder

SECOND_PUBLISHER = "second PublishRequest"


def is_code(value: object) -> bool:
    return callable(value) or isinstance(value, staticmethod | classmethod | property)


def asyncua_state() -> dict[tuple[str, str], int]:
    """What every function, class and method of every loaded asyncua module is bound to
    (counters and caches change as asyncua works; code changes only if patched)."""
    state: dict[tuple[str, str], int] = {}
    for name, module in list(sys.modules.items()):
        if name != "asyncua" and not name.startswith("asyncua."):
            continue
        for attr, value in list(vars(module).items()):
            if not is_code(value):
                continue
            state[(name, attr)] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for class_attr, member in list(vars(value).items()):
                    if is_code(member):
                        state[(f"{name}.{attr}", class_attr)] = id(member)
    return state


def changed(before: dict, after: dict) -> set:
    return {key for key, value in before.items() if key in after and after[key] != value}


def gc_state() -> tuple:
    return gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()


def config(server: MachineryServer, mosquitto, state: Path) -> BridgeConfig:
    return load({("opcua", "url"): server.url, ("mqtt", "url"): mosquitto.url,
                 ("opcua", "publishing_interval"): 50.0, ("", "state_dir"): str(state)}, env={})


def second_publishers() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == SECOND_PUBLISHER and not t.done()]


async def test_the_bridge_as_a_library_patches_and_tunes_nothing(
    machinery_server: MachineryServer, mosquitto, tmp_path: Path
) -> None:
    recorder = MqttRecorder(mosquitto, "factory/#")
    patches, collector = asyncua_state(), gc_state()
    bridge = Bridge(config(machinery_server, mosquitto, tmp_path))
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        await asyncio.to_thread(recorder.wait_until, lambda m: len(m) >= 10)
        assert bridge.source.connected.is_set()
        assert changed(patches, asyncua_state()) == set()
        assert gc_state() == collector
        assert not asyncua_adapter.installed() and second_publishers() == []
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        recorder.close()
    assert changed(patches, asyncua_state()) == set() and gc_state() == collector


async def test_the_command_opts_in_and_undoes_it_on_stop(
    machinery_server: MachineryServer, mosquitto, tmp_path: Path
) -> None:
    recorder = MqttRecorder(mosquitto, "factory/#")
    patches, collector = asyncua_state(), gc_state()
    stop = asyncio.Event()
    task = asyncio.create_task(run_tuned(config(machinery_server, mosquitto, tmp_path), stop))
    try:
        await asyncio.to_thread(recorder.wait_until, lambda m: len(m) >= 10)
        while gc.get_freeze_count() == 0:  # frozen once the source is connected
            assert not task.done(), task.result()
            await asyncio.sleep(0.02)
        assert changed(patches, asyncua_state()) == {("asyncua.ua.ua_binary", "from_binary")}
        assert asyncua_adapter.installed() and len(second_publishers()) == 1
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        recorder.close()
    assert changed(patches, asyncua_state()) == set() and gc_state() == collector
    assert not asyncua_adapter.installed() and second_publishers() == []


def test_an_asyncua_outside_the_tested_range_keeps_its_own_behaviour(monkeypatch) -> None:
    monkeypatch.setattr(asyncua_adapter, "TESTED_VERSIONS", ((0, 1), (0, 2)))
    patches = asyncua_state()
    assert "outside the tested range" in asyncua_adapter.unsupported_reason()
    assert asyncua_adapter.install() is False
    assert not asyncua_adapter.installed() and changed(patches, asyncua_state()) == set()


def test_at_exit_the_command_leaves_the_final_collection_nothing_to_traverse() -> None:
    """`factory-sim bridge` calls skip_final_collection: when the interpreter exits, every
    object is frozen before Python's last full collection (which walked the whole heap of a
    stopped bridge: seconds of its stop after SIGTERM). Observed by an exit handler that
    runs after it (exit handlers run last registered, first called)."""
    import subprocess

    program = (
        "import atexit, gc\n"
        "atexit.register(lambda: print(gc.get_freeze_count(), len(gc.get_objects())))\n"
        "from factory_cli.tuning import skip_final_collection\n"
        "skip_final_collection()\n"
        "alive = [[i] for i in range(20000)]  # tracked objects alive at exit\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60, check=True)
    frozen, tracked = map(int, done.stdout.split())
    assert frozen > 20000 and tracked < 100, done.stdout
