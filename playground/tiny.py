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


# ChatML, as SmolLM2-Instruct uses: the tiny chat model runs the same chat code path.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = [
    "The weather is nice today. I loved this movie. What is the capital of France? Paris is the capital.",
    "Once upon a time there was a little robot who wanted to learn how to paint the sea.",
    "今天天气很好。我喜欢这部电影。", "Der Himmel ist blau. Le ciel est bleu.",
] + _WORDS


def _wordpiece(where: Path) -> object:
    from transformers import BertTokenizerFast

    vocab = _vocab()
    return BertTokenizerFast(vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=True)


def _bpe(where: Path, seq2seq: bool = False) -> object:
    """A byte-level BPE (GPT-2 style: any text encodes, nothing is unknown) trained on a few
    sentences; deterministic. ``seq2seq``: BART/Marian/T5 style, with distinct ``<pad>`` (also
    the decoder's start) and ``</s>`` appended to every text, as their source tokenizers do."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"] if seq2seq else ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_CORPUS, trainer)
    if seq2seq:
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>", pad_token="<|endoftext|>",
        additional_special_tokens=specials[1:],
    )


def _bpe_seq2seq(where: Path) -> object:
    return _bpe(where, seq2seq=True)


def _marian_spm(where: Path) -> object:
    """A real ``MarianTokenizer`` (SentencePiece, Python only, as opus-mt's) over a unigram model
    trained on the corpus: ``</s>`` 0, ``<unk>`` 1, the pieces, ``<pad>`` last (opus-mt's order),
    with byte fallback so Chinese and any other text encodes."""
    import io
    import json

    import sentencepiece as spm
    from transformers import MarianTokenizer

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 4), model_writer=model, vocab_size=600, model_type="unigram",
        character_coverage=1.0, byte_fallback=True, hard_vocab_limit=False, bos_id=-1, eos_id=-1, unk_id=0,
        minloglevel=2,
    )
    where.mkdir(parents=True, exist_ok=True)
    (where / "spm.model").write_bytes(model.getvalue())
    proc = spm.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = [proc.id_to_piece(i) for i in range(1, proc.get_piece_size())]
    vocab = {"</s>": 0, "<unk>": 1, **{p: i + 2 for i, p in enumerate(pieces)}}
    vocab["<pad>"] = len(vocab)
    (where / "vocab-build.json").write_text(json.dumps(vocab, ensure_ascii=False))
    return MarianTokenizer(source_spm=str(where / "spm.model"), target_spm=str(where / "spm.model"),
                           vocab=str(where / "vocab-build.json"), source_lang="en", target_lang="xx")


_TOKENIZERS = {"wordpiece": _wordpiece, "bpe": _bpe, "bpe-seq2seq": _bpe_seq2seq, "marian-spm": _marian_spm}


def build(spec: ModelSpec, where: Path, seed: int = 0) -> Path:
    """Build the model for ``spec`` into ``where`` once (safetensors + tokenizer); reuse it after."""
    import torch
    import transformers
    from transformers import AutoConfig

    done = where / ".complete"  # written last: a half-built folder is built again
    if done.exists():
        return where
    where.mkdir(parents=True, exist_ok=True)
    cfg_kw = dict(spec.tiny_config)
    model_type = cfg_kw.pop("model_type")
    tokenizer = _TOKENIZERS[cfg_kw.pop("tokenizer", "wordpiece")](where)
    if spec.chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    ids = {k: tokenizer.convert_tokens_to_ids(getattr(tokenizer, k.replace("_id", ""))) for k in ("pad_token_id", "eos_token_id", "bos_token_id") if getattr(tokenizer, k.replace("_id", ""), None)}
    if cfg_kw.get("decoder_start_token_id") == "pad":  # seq2seq: the decoder starts from <pad>
        cfg_kw["decoder_start_token_id"] = ids["pad_token_id"]
    cfg = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), **{"pad_token_id": 0, **ids}, **cfg_kw)
    torch.manual_seed(seed)
    model = getattr(transformers, spec.architecture)(cfg)
    model.save_pretrained(str(where), safe_serialization=True)
    tokenizer.save_pretrained(str(where))
    done.write_text("ok\n")
    return where
