"""CUDA -> EGL device mapping (render/egl_devices.py) on fake device lists, and one real enumeration."""

import logging
import os

import pytest

from gtforge.render.egl_devices import (
    EglDevice,
    GpuError,
    bind_egl_device,
    describe_plan,
    list_egl_devices,
    map_cuda_to_egl,
    parse_gpus,
    plan_local_devices,
    visible_cuda_ordinal,
)

NV = "EGL_NV_device_cuda EGL_EXT_device_drm"
MESA = "EGL_MESA_device_software EGL_EXT_device_drm_render_node"
#: A 4-GPU node as NVIDIA's EGL often lists it: EGL order is not CUDA order, and Mesa's software device sits in
#: the middle (EGL index 2) with no CUDA id.
NODE = [EglDevice(0, 2, NV, "/dev/dri/card3"), EglDevice(1, 3, NV, "/dev/dri/card4"), EglDevice(2, None, MESA),
        EglDevice(3, 0, NV, "/dev/dri/card1"), EglDevice(4, 1, NV, "/dev/dri/card2")]


@pytest.mark.parametrize("spec, expected", [("all", "all"), ("ALL", "all"), ("0", [0]), ("0,2", [0, 2]),
                                            (" 3 , 1 ", [3, 1])])
def test_parse_gpus(spec, expected):
    assert parse_gpus(spec) == expected


@pytest.mark.parametrize("spec", ["", "-1", "0,,1", "a", "1.5", "0,0", "gpu0"])
def test_parse_gpus_refuses_bad_values_naming_the_flag(spec):
    with pytest.raises(GpuError, match="--gpus") as e:
        parse_gpus(spec)
    assert isinstance(e.value, ValueError)  # argparse-compatible


def test_mapping_follows_the_devices_answers_not_their_order():
    assert map_cuda_to_egl([0, 1, 2, 3], NODE) == {0: 3, 1: 4, 2: 0, 3: 1}
    assert map_cuda_to_egl([2], NODE) == {2: 0}


def test_unknown_cuda_ids_are_named_with_what_exists():
    with pytest.raises(GpuError) as e:
        map_cuda_to_egl([1, 5, 7], NODE)
    msg = str(e.value)
    assert "CUDA device(s) 5, 7" in msg and "1," not in msg.split("EGL devices")[0]
    assert "EGL 3 (CUDA 0, /dev/dri/card1)" in msg and "EGL 2 (EGL_MESA_device_software)" in msg


def test_two_devices_claiming_one_cuda_id_is_an_error():
    with pytest.raises(GpuError, match="both report CUDA device 0"):
        map_cuda_to_egl([0], [EglDevice(0, 0, NV), EglDevice(1, 0, NV)])


def test_plan_all_uses_every_cuda_device_in_cuda_order_and_ignores_mesa():
    assert plan_local_devices("all", 1, NODE) == [3, 4, 0, 1]  # workers 1: one process per GPU
    assert 2 not in plan_local_devices("all", 10, NODE)


def test_plan_round_robin_with_several_renderers_per_gpu():
    # 5 processes on CUDA 1 and 2: dealt in turn, CUDA 1 -> EGL 4, CUDA 2 -> EGL 0
    assert plan_local_devices([1, 2], 5, NODE) == [4, 0, 4, 0, 4]
    assert plan_local_devices([3], 3, NODE) == [1, 1, 1]
    assert plan_local_devices([2, 0], 1, NODE) == [0, 3]


def test_the_plan_is_described_in_cuda_order():
    plan = plan_local_devices([1, 0], 3, NODE)  # CUDA 1, 0, 1
    assert describe_plan(plan, NODE) == "CUDA 0 -> EGL device 3 (1 renderer), CUDA 1 -> EGL device 4 (2 renderers)"


def test_plan_with_fewer_workers_than_gpus_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="gtforge"):
        assert plan_local_devices([0, 1, 2], 2, NODE) == [3, 4]
    assert "CUDA device(s) 2 get no renderer" in caplog.text


def test_plan_errors_name_the_flag():
    with pytest.raises(GpuError, match=r"--gpus 0,9: no EGL device for CUDA device\(s\) 9"):
        plan_local_devices([0, 9], 2, NODE)
    cpu_only = [EglDevice(0, None, MESA)]
    with pytest.raises(GpuError, match="--gpus all: no EGL device with EGL_NV_device_cuda.*EGL_MESA_device_software"):
        plan_local_devices("all", 1, cpu_only)
    with pytest.raises(GpuError, match="--gpus 0"):
        plan_local_devices([0], 1, cpu_only)


def test_visible_cuda_ordinal_is_the_position_in_cuda_visible_devices():
    assert visible_cuda_ordinal(3, None) == 3
    assert visible_cuda_ordinal(3, "3") == 0  # a Ray actor given GPU 3
    assert visible_cuda_ordinal("6", "4,5,6,7") == 2
    assert visible_cuda_ordinal("GPU-5d3a", "GPU-11aa,GPU-5d3a") == 1
    with pytest.raises(GpuError, match="not among CUDA_VISIBLE_DEVICES"):
        visible_cuda_ordinal(0, "4,5")


def test_bind_sets_egl_device_id_and_logs_the_mapping(monkeypatch, caplog):
    # setenv first so that monkeypatch restores the variable's absence afterwards (delenv of an unset
    # variable records nothing, and bind_egl_device's value would leak into every later renderer)
    monkeypatch.setenv("EGL_DEVICE_ID", "0")
    monkeypatch.delenv("EGL_DEVICE_ID")
    with caplog.at_level(logging.INFO, logger="gtforge"):
        bind_egl_device(3, NODE)
    assert os.environ["EGL_DEVICE_ID"] == "3"
    assert f"renderer pid {os.getpid()}: CUDA 0 -> EGL device 3" in caplog.text
    with pytest.raises(GpuError, match="EGL device 9 does not exist"):
        bind_egl_device(9, NODE)


@pytest.mark.gl
def test_real_enumeration_on_this_machine():
    devices = list_egl_devices()
    assert isinstance(devices, list) and devices, "EGL lists no device (PYOPENGL_PLATFORM=egl, Mesa installed?)"
    assert [d.index for d in devices] == list(range(len(devices)))
    assert all(isinstance(d.extensions, str) for d in devices)
    # a device only has a CUDA id when it says it has EGL_NV_device_cuda
    assert all(d.cuda_id is None for d in devices if "EGL_NV_device_cuda" not in d.extensions.split())
    if not any(d.is_cuda for d in devices):  # a CPU machine: Mesa's software device, and --gpus all refuses
        with pytest.raises(GpuError, match="--gpus all"):
            plan_local_devices("all", 1, devices)
