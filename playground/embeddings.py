"""Word embeddings of any model of the app: the input's words as vectors, projected to 2-D.

For each word of a text (whole words; Chinese grouped by jieba, as everywhere in the app) this
reads two vectors from the task's model: its **input embedding**, the mean of its pieces' rows of
the embedding matrix (what the model starts from, the same whatever the context), and its
**hidden state** after a chosen layer, the mean of its pieces' states (what the model has made
of the word in this sentence). Both sets go to 2-D by PCA, with the cosine similarity between
every pair of words, and one word's nearest neighbours in the model's whole vocabulary.

Which part of a model reads the text: an encoder-decoder's encoder (the raw text, no task
prefix: the words are the user's, not "summarize: ..."); a decoder the raw text with its
tokenizer's own special tokens (a BOS where it adds one) and no chat template; a classifier or
an extractive QA model its encoder. No gradio here: a tab and the API both call :func:`embed`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import config, models, text
from .config import LIMITS
from .errors import InputError
from .explain.units import merge_within_pieces
from .tasks.generation_pieces import Pieces

MAX_NEIGHBOURS = 50
MAX_WORD_CHARS = 50
# Rows of the embedding matrix scored at once: Gemma-3's 262,144 x 640 matrix is 670 MB in
# float32; a chunk's scores are 64 k floats, and slicing rows makes no copy.
CHUNK_ROWS = 65536
# Candidates kept before filtering: specials, byte pieces and duplicates ("the" / " the") drop
# out, so more are kept than shown.
CANDIDATE_FACTOR = 8

# Function words skipped when choosing the default word for neighbours: "the" says little
# about a vocabulary.
_FUNCTION_WORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is am are was were be been being it its "
    "this that these those i you he she we they me him her us them my your his our their not no so do does did "
    "的 了 是 在 和 与 也 都 就 很 这 那 我 你 他 她 它 们 着 过 吗 呢 吧 啊 个 一个".split()
)
_HAS_LETTER = re.compile(r"[^\W\d_]")


@dataclass
class EmbeddingResult:
    """What :func:`embed` found for one text. The word vectors stay here for a caller that
    wants them (n_words x hidden size floats); :meth:`to_dict` gives what the page shows."""

    task: str
    model: str
    model_key: str
    words: list[text.Span]
    pieces: list[list[str]]  # each word's pieces, readable
    layer: int
    n_layers: int
    points_input: np.ndarray  # (n_words, 2)
    points_hidden: np.ndarray  # (n_words, 2)
    explained_input: list[float]  # share of the variance each axis keeps
    explained_hidden: list[float]
    cosine_input: np.ndarray  # (n_words, n_words)
    cosine_hidden: np.ndarray
    neighbours_of: str
    neighbours: list[tuple[str, float]] = field(default_factory=list)
    unread: list[text.Span] = field(default_factory=list)  # words no model piece was found for
    vocab_size: int = 0  # rows of the embedding matrix the neighbours were sought in
    vectors_input: np.ndarray | None = None  # (n_words, d) float64
    vectors_hidden: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable, every float finite."""
        return {
            "task": self.task,
            "model": self.model,
            "model_key": self.model_key,
            "words": [{**w.to_dict(), "pieces": list(p)} for w, p in zip(self.words, self.pieces)],
            "layer": self.layer,
            "n_layers": self.n_layers,
            "dims": int(self.vectors_input.shape[1]) if self.vectors_input is not None else 0,
            "points_input": _floats(self.points_input),
            "points_hidden": _floats(self.points_hidden),
            "explained_variance": {"input": _floats(self.explained_input), "hidden": _floats(self.explained_hidden)},
            "cosine_input": _floats(self.cosine_input),
            "cosine_hidden": _floats(self.cosine_hidden),
            "unread": [w.to_dict() for w in self.unread],
            "neighbours_of": self.neighbours_of,
            "vocab_size": self.vocab_size,
            "neighbours": [{"text": s, "cosine": _finite(c)} for s, c in self.neighbours],
        }


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def _floats(a: Any) -> Any:
    return [_floats(v) for v in a] if isinstance(a, (list, tuple, np.ndarray)) else _finite(a)


# ---- Checks -------------------------------------------------------------------------------------


def _check_text(value: object) -> str:
    """The text NFC-normalised as every task reads it; its own messages for what cannot be read."""
    if not isinstance(value, str):
        raise InputError("emb_not_text")
    if not value.strip():
        raise InputError("emb_empty")
    if len(value) > LIMITS.max_chars:
        raise InputError("emb_too_long", n=len(value), limit=LIMITS.max_chars)
    return text.clean(value)


def _whole(value: object, low: int, high: int) -> int | None:
    """``value`` as an int in [low, high], else None; a float that is a whole number passes (a
    slider sends 3.0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or number != int(number) or not low <= number <= high:
        return None
    return int(number)


def _n_layers(loaded: models.LoadedModel) -> int:
    """Layers of the part of the model that reads the text (an encoder-decoder's encoder)."""
    cfg = loaded.model.config
    if loaded.spec.encoder_decoder:
        n = getattr(cfg, "encoder_layers", None) or getattr(cfg, "num_layers", None)
    else:
        n = getattr(cfg.get_text_config(), "num_hidden_layers", None)
    return int(n or 0)


def _check_word(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > MAX_WORD_CHARS:
        raise InputError("emb_bad_word", limit=MAX_WORD_CHARS)
    return text.clean(value.strip())


# ---- Reading the model ---------------------------------------------------------------------------


def word_pieces(tokenizer: Any, value: str) -> tuple[list[int], list[text.Span], list[int | None], list[text.Span]]:
    """The piece ids the model reads for ``value`` (with the tokenizer's special tokens), the
    words that own at least one piece, each piece's word (None: a special token, or a piece in
    no word), and the words no piece was found for. Words one piece spans are merged first (a
    byte-level piece across a jieba boundary), so every word has a vector of its own."""
    ids, offsets = text.encode_with_offsets(tokenizer, value)
    if len(ids) > LIMITS.max_tokens:
        raise InputError("emb_too_many_tokens", n=len(ids), limit=LIMITS.max_tokens)
    units = merge_within_pieces(text.words(value), offsets, value)
    piece_word = text.piece_to_word(offsets, units)
    # A word no piece is found for has no vector: a Python-only SentencePiece tokenizer (Marian)
    # gives no offsets, and a piece its normaliser rewrote ("，" read as ",") is not found again.
    seen = sorted({w for w in piece_word if w is not None})
    if not seen:
        raise InputError("emb_no_words")
    index = {w: i for i, w in enumerate(seen)}
    unread = [u for w, u in enumerate(units) if w not in index]
    return ids, [units[w] for w in seen], [None if w is None else index[w] for w in piece_word], unread


def _reader(loaded: models.LoadedModel) -> Any:
    """The module whose hidden states are shown: an encoder-decoder's encoder, else the
    backbone without its head (a decoder's logits over a 262k vocabulary are never computed)."""
    model = loaded.model
    if loaded.spec.encoder_decoder:
        return model.get_encoder()
    return getattr(model, "base_model", model)


def _pool(rows: torch.Tensor, piece_word: list[int | None], n: int) -> np.ndarray:
    """(n_pieces, d) -> (n, d): each word the mean of its pieces' rows, in float64."""
    m = torch.zeros(n, len(piece_word), dtype=torch.float64)
    for p, w in enumerate(piece_word):
        if w is not None:
            m[w, p] = 1.0
    m /= m.sum(dim=1, keepdim=True).clamp(min=1.0)
    return (m @ rows.detach().to("cpu", torch.float64)).numpy()


def _content_word(words: list[text.Span]) -> int:
    """The first word with a letter that is not a function word (else the first with a letter,
    else the first)."""
    lettered = [i for i, w in enumerate(words) if _HAS_LETTER.search(w.text)]
    content = [i for i in lettered if words[i].text.lower() not in _FUNCTION_WORDS]
    return (content or lettered or [0])[0]


# ---- Projection and similarity ----------------------------------------------------------------


def project(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """PCA to 2-D: (n, d) -> (n, 2) points and the share of the variance each axis keeps.
    Signs are fixed (each axis points where its largest loading is positive), so the same input
    draws the same picture. Fewer than 2 distinct vectors: every point at the origin, 0 kept."""
    from sklearn.decomposition import PCA

    x = np.asarray(vectors, dtype=np.float64)
    n = x.shape[0]
    points = np.zeros((n, 2))
    if n < 2 or not np.isfinite(x).all() or np.allclose(x, x[0]):
        return points, [0.0, 0.0]
    k = min(2, n, x.shape[1])
    pca = PCA(n_components=k, svd_solver="full").fit(x)
    comps = pca.components_.copy()
    for i, c in enumerate(comps):
        if c[int(np.argmax(np.abs(c)))] < 0:
            comps[i] = -c
    points[:, :k] = (x - pca.mean_) @ comps.T
    shares = [float(v) for v in np.nan_to_num(pca.explained_variance_ratio_)] + [0.0] * (2 - k)
    return points, shares


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity between every pair of rows: symmetric, in [-1, 1], 1 on the diagonal
    (a zero vector is similar to nothing but itself)."""
    x = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    c = np.clip(unit @ unit.T, -1.0, 1.0)
    c = (c + c.T) / 2
    np.fill_diagonal(c, 1.0)
    return c


# ---- Nearest neighbours ---------------------------------------------------------------------------


def _hidden_ids(tokenizer: Any) -> set[int]:
    """Special tokens, including added ones a tokenizer marks special (Gemma's <unused...>)."""
    ids = {int(i) for i in getattr(tokenizer, "all_special_ids", [])}
    for i, tok in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(tok, "special", False):
            ids.add(int(i))
    return ids


@torch.no_grad()
def nearest(loaded: models.LoadedModel, vector: np.ndarray, k: int = 8) -> list[tuple[str, float]]:
    """The ``k`` pieces of the vocabulary whose input embeddings are closest to ``vector`` by
    cosine, as readable text: special tokens, pieces that decode to "\\ufffd" (part of a
    character), to blanks or to control characters are left out, and pieces that read the same ("the", " the") count
    once, at their best cosine. The matrix is scored in chunks of :data:`CHUNK_ROWS` rows."""
    weight = loaded.model.get_input_embeddings().weight
    q = torch.as_tensor(np.asarray(vector), dtype=weight.dtype, device=weight.device)
    q = q / q.norm().clamp(min=1e-12)
    want = max(k * CANDIDATE_FACTOR, 64)
    best_scores = torch.empty(0, dtype=torch.float32)
    best_ids = torch.empty(0, dtype=torch.long)
    for start in range(0, weight.shape[0], CHUNK_ROWS):
        rows = weight[start : start + CHUNK_ROWS]
        scores = (rows @ q) / torch.linalg.vector_norm(rows, dim=1).clamp(min=1e-12)
        top = torch.topk(scores, min(want, scores.shape[0]))
        best_scores = torch.cat([best_scores, top.values.float().cpu()])
        best_ids = torch.cat([best_ids, top.indices.cpu() + start])
        del scores, top
        keep = torch.topk(best_scores, min(want, best_scores.shape[0]))
        best_scores, best_ids = keep.values, best_ids[keep.indices]
    hidden = _hidden_ids(loaded.tokenizer)
    found: dict[str, float] = {}
    for score, i in zip(best_scores.tolist(), best_ids.tolist()):
        if i in hidden:
            continue
        shown = loaded.tokenizer.decode([i], skip_special_tokens=False).strip()
        if not shown or shown in found or any(c == "\ufffd" or unicodedata.category(c) == "Cc" for c in shown):
            continue
        found[shown] = min(1.0, max(-1.0, float(score)))
        if len(found) == k:
            break
    return list(found.items())


# ---- The entry point ---------------------------------------------------------------------------


def embed(task: str, value: str, model_key: str | None = None, layer: int | None = None, profile: str | None = None,
          neighbours_of: str | None = None, k: int = 8) -> EmbeddingResult:
    """Words of ``value`` as vectors in the ``task``'s model (``model_key`` None or "auto": the
    model the task would pick for the text's language): input embeddings and the hidden states
    after ``layer`` (0: the embedding layer's output; default the last), each projected to 2-D
    with the cosine similarity between the words, and the ``k`` nearest vocabulary pieces of
    ``neighbours_of`` (a word of the text, or any word; default the first content word).
    The last layer's states are those transformers returns: after the model's final norm where
    it has one (Llama, Qwen, Gemma, T5)."""
    if task not in config.TASKS:
        raise InputError("emb_bad_task", task=str(task)[:40], tasks=", ".join(config.TASKS))
    value = _check_text(value)
    n_wanted = _whole(k, 1, MAX_NEIGHBOURS)
    if n_wanted is None:
        raise InputError("emb_bad_k", value=str(k)[:20], limit=MAX_NEIGHBOURS)
    word = _check_word(neighbours_of)
    spec = models.resolve(task, model_key, profile, value)
    loaded = models.load(spec)
    tok = loaded.tokenizer
    n_layers = _n_layers(loaded)
    chosen = n_layers if layer is None else _whole(layer, 0, n_layers)
    if chosen is None:
        raise InputError("emb_bad_layer", value=str(layer)[:20], layers=n_layers)

    ids, words, piece_word, unread = word_pieces(tok, value)
    readable = Pieces(tok)
    pieces = [[readable.after([], i) for i, w in zip(ids, piece_word) if w == j] for j in range(len(words))]

    weight = loaded.model.get_input_embeddings().weight
    id_tensor = torch.tensor(ids, device=weight.device)
    with torch.no_grad():
        input_vectors = _pool(weight.index_select(0, id_tensor), piece_word, len(words))
        with models.guard_oom():
            out = _reader(loaded)(input_ids=id_tensor[None], attention_mask=torch.ones_like(id_tensor)[None],
                                  output_hidden_states=True, return_dict=True)
        states = out.hidden_states
        if len(states) - 1 != n_layers:  # never seen with the models here; the forward is the truth
            n_layers = len(states) - 1
            if layer is not None and chosen > n_layers:
                raise InputError("emb_bad_layer", value=str(layer)[:20], layers=n_layers)
            chosen = n_layers if layer is None else chosen
        hidden_vectors = _pool(states[chosen][0], piece_word, len(words))
        del out, states, id_tensor

    if word is None:
        target = _content_word(words)
        word, query = words[target].text, input_vectors[target]
    else:
        query = _word_vector(loaded, word, words, input_vectors)
    neighbours = nearest(loaded, query, n_wanted)

    points_input, explained_input = project(input_vectors)
    points_hidden, explained_hidden = project(hidden_vectors)
    return EmbeddingResult(
        task=task, model=spec.display, model_key=spec.key, words=words, pieces=pieces, layer=chosen, n_layers=n_layers,
        points_input=points_input, points_hidden=points_hidden, explained_input=explained_input,
        explained_hidden=explained_hidden, cosine_input=cosine_matrix(input_vectors),
        cosine_hidden=cosine_matrix(hidden_vectors), neighbours_of=word, neighbours=neighbours,
        unread=unread, vocab_size=int(weight.shape[0]), vectors_input=input_vectors, vectors_hidden=hidden_vectors,
    )


def _word_vector(loaded: models.LoadedModel, word: str, words: list[text.Span], input_vectors: np.ndarray) -> np.ndarray:
    """A word's input embedding: as the text's pieces spell it when it is one of the text's
    words (exactly, else ignoring case), else as the tokenizer spells it on its own."""
    for same in (lambda w: w.text == word, lambda w: w.text.lower() == word.lower()):
        hit = next((i for i, w in enumerate(words) if same(w)), None)
        if hit is not None:
            return input_vectors[hit]
    special = _hidden_ids(loaded.tokenizer)
    ids = [i for i in loaded.tokenizer(word, add_special_tokens=False)["input_ids"] if i not in special]
    if not ids:
        raise InputError("emb_bad_word", limit=MAX_WORD_CHARS)
    weight = loaded.model.get_input_embeddings().weight
    with torch.no_grad():
        rows = weight.index_select(0, torch.tensor(ids, device=weight.device))
        return rows.double().mean(dim=0).cpu().numpy()


__all__ = ["EmbeddingResult", "cosine_matrix", "embed", "nearest", "project", "word_pieces"]
