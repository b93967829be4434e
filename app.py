"""LLM Playground: run ``python app.py`` (``--profile offline|hub|tiny``, default offline)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

INTEL_OPENMP_ENV = "PLAYGROUND_INTEL_OPENMP"


def with_intel_openmp(argv: list[str] | None = None) -> None:
    """Run this process again with Intel's OpenMP runtime preloaded, where the ``intel-openmp``
    wheel put it (``sys.prefix/lib/libiomp5.so``; Linux only; ``PLAYGROUND_INTEL_OPENMP=0``: never).

    Why: torch's CPU wheels use GNU OpenMP, whose thread pool runs small operations at full speed
    only for the process's main thread, and the app runs every model on worker threads (gradio's
    handlers, the generation thread). Measured on 2 cores: a decode-sized matmul 4.4x slower on a
    worker thread, SmolLM2's 50-token generation 1.92 s on the main thread and 3.98 s on a
    worker; with Intel's runtime preloaded (it takes over the GOMP calls), 1.95 s and 2.01 s
    (pytorch/pytorch#90760). Must run before torch is imported, hence a fresh process.

    Its threads sleep as soon as a parallel region ends (``KMP_BLOCKTIME=0`` unless set): by
    default they spin for 200 ms, which takes the cores from every other request running at
    the same time. On the 2-core EPYC a 33 ms sentiment prediction took 172 ms (median) beside
    a running generation, 42 ms with threads that sleep; alone, a generation or an
    explanation runs about as fast either way (``python bench/priority.py``)."""
    lib = os.path.join(sys.prefix, "lib", "libiomp5.so")
    preloaded = os.environ.get("LD_PRELOAD", "")
    if (not sys.platform.startswith("linux") or os.environ.get(INTEL_OPENMP_ENV, "1") == "0" or not os.path.exists(lib)
            or lib in preloaded.split(":") or "torch" in sys.modules):
        return
    env = {"KMP_BLOCKTIME": "0", **os.environ, "LD_PRELOAD": ":".join(p for p in (lib, preloaded) if p),
           INTEL_OPENMP_ENV: "0"}  # once
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *(sys.argv if argv is None else argv)], env)


def main() -> None:
    from playground import config

    parser = argparse.ArgumentParser(description="LLM Playground")
    parser.add_argument("--profile", choices=config.PROFILES, default=None, help=f"model profile (env {config.PROFILE_ENV})")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("shap").setLevel(logging.WARNING)  # shap logs its internal arrays at INFO
    if args.profile:
        os.environ[config.PROFILE_ENV] = args.profile

    from playground import models
    from playground.api import warm_up
    from playground.ui.app import build_demo, launch
    from playground.ui.zerogpu import on_zero_gpu

    if on_zero_gpu():
        # A GPU call runs in a fork that must find the models loaded: load them now, outside any.
        models.prepare(load_defaults=True)
    demo, i18n = build_demo()

    def prepare_then_warm_up() -> None:
        # GGUF conversions (20-98 s each, once per cache) before the first visitor asks, with
        # progress in the log; then shap's JIT and the first batches. Start-up does not wait.
        models.prepare()
        warm_up()

    threading.Thread(target=prepare_then_warm_up, daemon=True).start()
    launch(demo, i18n, server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    with_intel_openmp()
    main()
