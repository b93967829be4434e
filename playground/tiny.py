"""Tiny randomly initialised models of the real architectures, built locally.

They let tests and CI run every code path (loading, scoring, gradients, attention) in seconds,
with no hub and no weights to download. Their outputs mean nothing.
"""

from __future__ import annotations

import string
from pathlib import Path

from .config import ModelSpec

# A WordPiece vocabulary that covers any English or Chinese text: whole common words, then
# single characters and their "##" continuations, so nothing falls back to [UNK].
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = (
    "the a an and or but not no is was are were be i you he she it we they this that movie film "
    "good great bad terrible love loved hate hated waste time best worst very really so of to in "
    "on for with at by from as my your its our their"
).split()
_CJK = "我你他她它们的是不很好坏电影喜欢讨厌今天天气这部太棒了真无聊时间浪费非常一个人"


def _vocab() -> list[str]:
    chars = string.ascii_lowercase + string.digits + string.punctuation
    pieces = list(chars) + ["##" + c for c in chars] + list(_CJK) + ["##" + c for c in _CJK]
    seen: dict[str, None] = dict.fromkeys(_SPECIAL + _WORDS + pieces)
    return list(seen)


def build(spec: ModelSpec, where: Path, seed: int = 0) -> Path:
    """Build the model for ``spec`` into ``where`` once (safetensors + tokenizer); reuse it after."""
    import torch
    import transformers
    from transformers import AutoConfig, BertTokenizerFast

    if (where / "model.safetensors").exists() and (where / "tokenizer.json").exists():
        return where
    where.mkdir(parents=True, exist_ok=True)
    vocab = _vocab()
    tokenizer = BertTokenizerFast(vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=True)
    cfg_kw = dict(spec.tiny_config)
    model_type = cfg_kw.pop("model_type")
    cfg = AutoConfig.for_model(model_type, vocab_size=len(vocab), pad_token_id=0, **cfg_kw)
    torch.manual_seed(seed)
    model = getattr(transformers, spec.architecture)(cfg)
    model.save_pretrained(str(where), safe_serialization=True)
    tokenizer.save_pretrained(str(where))
    return where
