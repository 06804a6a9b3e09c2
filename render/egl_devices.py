"""Which EGL device renders: CUDA device ids -> EGL device indices, and binding a process to one.

pyrender's offscreen EGL platform (``pyrender/offscreen.py``, ``pyrender/platforms/egl.py``) opens
the display of the device at position ``EGL_DEVICE_ID`` (default 0) in the list that
``eglQueryDevicesEXT`` returns, when the ``OffscreenRenderer`` is created. That list is EGL's own
order: it is not CUDA's (on multi-GPU nodes the two are often permuted) and it may hold non-GPU
devices (Mesa's software rasteriser). So a CUDA id is never used as an EGL index here: each EGL
device is asked which CUDA device it is.

Specifications (Khronos EGL registry, ``registry.khronos.org/EGL/extensions``):

* ``EGL_EXT_device_enumeration``: ``eglQueryDevicesEXT(max, devices, &n)`` lists the devices.
* ``EGL_EXT_device_query``: ``eglQueryDeviceStringEXT(dev, EGL_EXTENSIONS)`` gives a device's own
  extension string; ``eglQueryDeviceAttribEXT(dev, attribute, &value)`` an ``EGLAttrib`` (intptr_t)
  attribute, ``EGL_FALSE`` with ``EGL_BAD_ATTRIBUTE`` when the device does not have it.
* ``EGL_NV_device_cuda`` (NVIDIA driver): a device that lists it in its extension string answers
  ``EGL_CUDA_DEVICE_NV`` (0x323A) with its CUDA device enumerant, the ordinal ``cuDeviceGet`` takes.
* ``EGL_EXT_device_drm``: ``EGL_DRM_DEVICE_FILE_EXT`` (0x3233), the device's ``/dev/dri/card*`` file.

**CUDA ids and ``CUDA_VISIBLE_DEVICES``.** A "CUDA id" here is the CUDA ordinal *as the calling
process sees it*, i.e. what ``EGL_CUDA_DEVICE_NV`` reports in that process: the CUDA driver numbers
only the devices named in ``CUDA_VISIBLE_DEVICES`` (position in that list), while EGL's enumeration
ignores the variable, so a GPU hidden from CUDA has an EGL index but no readable CUDA id. Hence:

* ``--gpus 0,2`` (local pool) means CUDA devices 0 and 2 of the ``gtforge`` process, as
  ``torch.device("cuda:2")`` would; the pool's processes inherit the environment, so the mapping
  made in the parent holds in them.
* a Ray actor's GPU comes from ``ray.get_gpu_ids()`` (ids in the node's numbering) and Ray sets the
  actor's ``CUDA_VISIBLE_DEVICES`` to those ids, so the actor's CUDA ordinal is the id's position in
  its ``CUDA_VISIBLE_DEVICES`` (:func:`visible_cuda_ordinal`), usually 0.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass

log = logging.getLogger("gtforge")

#: ``EGL_NV_device_cuda``: attribute of an EGL device holding its CUDA device enumerant.
EGL_CUDA_DEVICE_NV = 0x323A
#: ``EGL_EXT_device_drm``: string of an EGL device naming its DRM device file.
EGL_DRM_DEVICE_FILE_EXT = 0x3233
#: Extension name a device lists when it answers :data:`EGL_CUDA_DEVICE_NV`.
NV_DEVICE_CUDA = "EGL_NV_device_cuda"


class GpuError(ValueError):
    """A GPU request that cannot be met (bad ``--gpus`` value, unknown CUDA id, no CUDA-capable EGL device).

    A ValueError, so argparse and callers that expect ``parse_gpus`` to raise ValueError see one; the
    message names ``--gpus`` where the request came from that flag. The CLI exits 2.
    """


@dataclass(frozen=True)
class EglDevice:
    """One entry of ``eglQueryDevicesEXT``.

    Attributes
    ----------
    index : int
        Position in EGL's device list: the value of ``EGL_DEVICE_ID`` that selects it in pyrender.
    cuda_id : int or None
        ``EGL_CUDA_DEVICE_NV`` (CUDA ordinal in the calling process), None when the device does not
        have ``EGL_NV_device_cuda`` or the query fails (e.g. hidden by ``CUDA_VISIBLE_DEVICES``).
    extensions : str
        The device's extension string (``eglQueryDeviceStringEXT(dev, EGL_EXTENSIONS)``), e.g.
        ``"EGL_NV_device_cuda EGL_EXT_device_drm"`` or ``"EGL_MESA_device_software ..."``.
    drm_file : str or None
        ``EGL_DRM_DEVICE_FILE_EXT`` where the device has ``EGL_EXT_device_drm``.
    """

    index: int
    cuda_id: int | None
    extensions: str = ""
    drm_file: str | None = None

    @property
    def is_cuda(self) -> bool:
        """True when the device names a CUDA device (NVIDIA's ``EGL_NV_device_cuda`` answered)."""
        return self.cuda_id is not None

    def describe(self) -> str:
        """Short text for messages: ``EGL 1 (CUDA 0, /dev/dri/card1)`` or ``EGL 0 (EGL_MESA_device_software)``."""
        if self.cuda_id is not None:
            what = f"CUDA {self.cuda_id}" + (f", {self.drm_file}" if self.drm_file else "")
        else:
            what = next((e for e in self.extensions.split() if e.endswith("_device_software")), None) \
                or self.drm_file or (self.extensions.split() or ["no extensions"])[0]
        return f"EGL {self.index} ({what})"


def _egl_functions():
    """PyOpenGL's EGL bindings for the device extensions: (eglQueryDevicesEXT, eglQueryDeviceStringEXT,
    eglQueryDeviceAttribEXT, EGL module, EGLDeviceEXT type).

    ``eglQueryDeviceAttribEXT`` is bound through ``eglGetProcAddress`` with the spec's prototype
    (``EGLAttrib *`` is ``intptr_t *``): PyOpenGL's wrapper checks the extension against a current
    display, which a device query has not got. Raises GpuError when libEGL cannot be loaded.
    """
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        from OpenGL import EGL  # noqa: PLC0415 - loads libEGL; only listing the EGL devices needs it, not planning or parsing --gpus
        from OpenGL.EGL.EXT.device_enumeration import eglQueryDevicesEXT  # noqa: PLC0415 - loads libEGL; only listing the EGL devices needs it, not planning or parsing --gpus
        from OpenGL.EGL.EXT.device_query import eglQueryDeviceStringEXT  # noqa: PLC0415 - loads libEGL; only listing the EGL devices needs it, not planning or parsing --gpus
        from OpenGL.raw.EGL._types import EGLDeviceEXT  # noqa: PLC0415 - loads libEGL; only listing the EGL devices needs it, not planning or parsing --gpus
    except Exception as e:  # noqa: BLE001 - probing libEGL: failures vary by machine  # pragma: no cover
        raise GpuError(f"cannot load EGL to enumerate devices ({type(e).__name__}: {e}); "
                       "PYOPENGL_PLATFORM must be egl and libEGL installed") from None
    address = EGL.eglGetProcAddress(b"eglQueryDeviceAttribEXT")
    attrib = None
    if address:
        proto = ctypes.CFUNCTYPE(ctypes.c_uint, EGLDeviceEXT, ctypes.c_int32, ctypes.POINTER(ctypes.c_ssize_t))
        attrib = proto(address)
    return eglQueryDevicesEXT, eglQueryDeviceStringEXT, attrib, EGL, EGLDeviceEXT


def list_egl_devices() -> list[EglDevice]:
    """Enumerate this process's EGL devices (``EGL_EXT_device_enumeration``) and ask each for its CUDA id.

    Cheap (no display is initialised, no context created); safe to call before pyrender creates its
    context, in any process.

    Returns
    -------
    list of EglDevice
        In EGL's order (``index`` = position). Empty when EGL has no device enumeration. On a machine
        without an NVIDIA driver, e.g. ``[EglDevice(0, None, "EGL_MESA_device_software ...")]``.

    Raises
    ------
    GpuError
        When libEGL cannot be loaded through PyOpenGL.
    """
    query_devices, query_string, query_attrib, EGL, EGLDeviceEXT = _egl_functions()
    n = EGL.EGLint()
    try:
        if not query_devices(0, None, ctypes.pointer(n)) or n.value < 1:
            return []
        handles = (EGLDeviceEXT * n.value)()
        if not query_devices(n.value, handles, ctypes.pointer(n)):
            return []
    except Exception:  # noqa: BLE001 - probe: no EGL_EXT_device_enumeration (PyOpenGL raises on a missing entry point)
        return []
    out = []
    for i in range(n.value):
        dev = handles[i]
        try:
            ext = (query_string(dev, EGL.EGL_EXTENSIONS) or b"").decode("ascii", "replace")
        except Exception:  # noqa: BLE001 - probe of the driver's EGL: a device that cannot answer has no extensions
            ext = ""
        names = ext.split()
        cuda_id = None
        if NV_DEVICE_CUDA in names and query_attrib is not None:
            value = ctypes.c_ssize_t(-1)
            if query_attrib(dev, EGL_CUDA_DEVICE_NV, ctypes.byref(value)) and value.value >= 0:
                cuda_id = int(value.value)
            else:
                EGL.eglGetError()  # clear EGL_BAD_ATTRIBUTE / EGL_BAD_DEVICE_EXT
        drm = None
        if "EGL_EXT_device_drm" in names:
            try:
                raw = query_string(dev, EGL_DRM_DEVICE_FILE_EXT)
                drm = raw.decode("ascii", "replace") if raw else None
            except Exception:  # noqa: BLE001 - probe of the driver's EGL: a device that cannot answer has no DRM file
                drm = None
        out.append(EglDevice(index=i, cuda_id=cuda_id, extensions=ext, drm_file=drm))
    return out


def parse_gpus(spec: str):
    """Parse a ``--gpus`` value.

    Parameters
    ----------
    spec : str
        ``"all"`` or a comma-separated list of distinct non-negative CUDA ids, e.g. ``"0,2"``.

    Returns
    -------
    "all" or list of int
        The ids in the order given.

    Raises
    ------
    GpuError (a ValueError)
        Naming ``--gpus`` and the bad item.
    """
    text = str(spec).strip()
    if text.lower() == "all":
        return "all"
    if not text:
        raise GpuError("--gpus: expected 'all' or a comma-separated list of CUDA device ids such as 0,2 (got '')")
    ids: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit():
            raise GpuError(f"--gpus {spec}: {item!r} is not a CUDA device id (expected 'all' or ids such as 0,2)")
        if int(item) in ids:
            raise GpuError(f"--gpus {spec}: CUDA device {int(item)} is listed twice "
                           "(use --workers to put several renderers on one GPU)")
        ids.append(int(item))
    return ids


def _inventory(devices) -> str:
    """What exists, for error messages."""
    return ", ".join(d.describe() for d in devices) if devices else "none"


def map_cuda_to_egl(cuda_ids, devices) -> dict[int, int]:
    """The EGL device of each CUDA id, by the devices' own ``EGL_CUDA_DEVICE_NV`` answers (never by order).

    Parameters
    ----------
    cuda_ids : iterable of int
        CUDA ordinals as the process sees them (see the module docstring on ``CUDA_VISIBLE_DEVICES``).
    devices : list of EglDevice
        From :func:`list_egl_devices` (or a fake list in tests).

    Returns
    -------
    dict
        ``{cuda_id: egl_index}``.

    Raises
    ------
    GpuError
        Naming the CUDA ids no device answers to, and listing the EGL devices that exist; or when two EGL
        devices claim the same CUDA id (a driver fault seen with some old drivers).
    """
    by_cuda: dict[int, int] = {}
    for d in devices:
        if d.cuda_id is None:
            continue
        if d.cuda_id in by_cuda:
            raise GpuError(f"EGL devices {by_cuda[d.cuda_id]} and {d.index} both report CUDA device {d.cuda_id}; "
                           "cannot tell which one renders (check the NVIDIA driver's EGL installation)")
        by_cuda[d.cuda_id] = d.index
    wanted = [int(c) for c in cuda_ids]
    missing = [c for c in wanted if c not in by_cuda]
    if missing:
        which = ", ".join(str(c) for c in missing)
        raise GpuError(f"no EGL device for CUDA device(s) {which}; EGL devices: {_inventory(devices)} "
                       f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')})")
    return {c: by_cuda[c] for c in wanted}


def plan_local_devices(gpus, workers: int, devices) -> list[int]:
    """The EGL device index of each process of a local pool.

    Parameters
    ----------
    gpus : "all" or list of int
        From :func:`parse_gpus`. ``"all"``: every EGL device with a CUDA id, in CUDA order.
    workers : int
        ``--workers``. The pool has ``workers`` processes, dealt to the GPUs in turn (process k renders on
        GPU ``k mod len(gpus)``; several per GPU allowed). With ``workers == 1`` and several GPUs it has one
        process per GPU. With ``1 < workers < len(gpus)`` the GPUs past the first ``workers`` stay idle
        (a warning says so).
    devices : list of EglDevice

    Returns
    -------
    list of int
        One EGL index per process, length ``max(workers, 1)`` or ``len(gpus)`` (``workers == 1``).

    Raises
    ------
    GpuError
        Naming ``--gpus``: no EGL device with ``EGL_NV_device_cuda`` (for ``all``), or CUDA ids without an EGL
        device (listing those that exist).
    """
    if gpus == "all":
        cuda_ids = sorted(d.cuda_id for d in devices if d.cuda_id is not None)
        if not cuda_ids:
            raise GpuError(f"--gpus all: no EGL device with {NV_DEVICE_CUDA} (an NVIDIA GPU with its driver's EGL); "
                           f"EGL devices: {_inventory(devices)}")
        spec = "all"
    else:
        cuda_ids = [int(c) for c in gpus]
        if not cuda_ids:
            raise GpuError("--gpus: no CUDA device given")
        spec = ",".join(str(c) for c in cuda_ids)
    try:
        mapping = map_cuda_to_egl(cuda_ids, devices)
    except GpuError as e:
        raise GpuError(f"--gpus {spec}: {e}") from None
    n = len(cuda_ids) if workers <= 1 else int(workers)
    if n < len(cuda_ids):
        log.warning("--gpus %s with --workers %d: CUDA device(s) %s get no renderer", spec, n,
                    ", ".join(str(c) for c in cuda_ids[n:]))
    return [mapping[cuda_ids[k % len(cuda_ids)]] for k in range(n)]


def describe_plan(plan: list[int], devices) -> str:
    """One line for the log: which GPU each renderer of a :func:`plan_local_devices` plan uses.

    E.g. ``"CUDA 0 -> EGL device 3 (2 renderers), CUDA 1 -> EGL device 4 (1 renderer)"``, in CUDA order.
    """
    by_index = {d.index: d for d in devices}
    counts: dict[int, int] = {}
    for e in plan:
        counts[e] = counts.get(e, 0) + 1

    def key(e):
        c = by_index[e].cuda_id if e in by_index else None
        return (c is None, c if c is not None else e)

    parts = []
    for e in sorted(counts, key=key):
        c = by_index[e].cuda_id if e in by_index else None
        n = counts[e]
        parts.append(f"{'CUDA ' + str(c) if c is not None else 'no CUDA id'} -> EGL device {e} "
                     f"({n} renderer{'s' if n != 1 else ''})")
    return ", ".join(parts)


def visible_cuda_ordinal(device_id, cuda_visible_devices: str | None) -> int:
    """The CUDA ordinal, in a process, of a GPU named by its node-level id (as ``ray.get_gpu_ids()`` gives it).

    Parameters
    ----------
    device_id : int or str
        The GPU's id in the node's numbering (an int, or the string Ray copies from a pre-set
        ``CUDA_VISIBLE_DEVICES``, which may be a UUID such as ``GPU-5d3...``).
    cuda_visible_devices : str or None
        The process's ``CUDA_VISIBLE_DEVICES``; None when unset (every GPU visible, ordinal = id).

    Returns
    -------
    int
        Position of ``device_id`` in ``cuda_visible_devices`` (CUDA numbers visible devices in that order),
        or ``int(device_id)`` when the variable is unset.

    Raises
    ------
    GpuError
        When the id is not visible to the process.
    """
    if cuda_visible_devices is None:
        try:
            return int(device_id)
        except ValueError:
            raise GpuError(f"GPU id {device_id!r} is not a CUDA ordinal and CUDA_VISIBLE_DEVICES is unset") from None
    entries = [s.strip() for s in cuda_visible_devices.split(",") if s.strip()]
    key = str(device_id).strip()
    if key in entries:
        return entries.index(key)
    raise GpuError(f"GPU {device_id} is not among CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} of pid {os.getpid()}")


def bind_egl_device(index: int, devices=None) -> None:
    """Make this process's renderer use EGL device ``index``: sets ``EGL_DEVICE_ID``, which pyrender reads when
    its ``OffscreenRenderer`` is created (``pyrender/offscreen.py``). Call it before the renderer is created;
    a context that exists already stays on its device.

    Logs ``renderer pid P: CUDA c -> EGL device e`` on logger ``gtforge`` (INFO; the CLI prints it as
    ``gtforge: renderer pid ...``).

    Parameters
    ----------
    index : int
        EGL device index (:func:`plan_local_devices`, :func:`map_cuda_to_egl`).
    devices : list of EglDevice or None
        The process's devices (enumerated when None), to check the index and name its CUDA id in the log.

    Raises
    ------
    GpuError
        If ``index`` is not an EGL device of this process.
    """
    devices = list_egl_devices() if devices is None else devices
    index = int(index)
    match = [d for d in devices if d.index == index]
    if not match:
        raise GpuError(f"EGL device {index} does not exist in pid {os.getpid()}; EGL devices: {_inventory(devices)}")
    os.environ["EGL_DEVICE_ID"] = str(index)
    cuda = match[0].cuda_id
    if cuda is None:
        log.info("renderer pid %d: EGL device %d (no CUDA id)", os.getpid(), index)
    else:
        log.info("renderer pid %d: CUDA %d -> EGL device %d", os.getpid(), cuda, index)
