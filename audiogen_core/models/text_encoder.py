"""Text path of Dasheng-AudioGen: the T5 tokenizer and the T5 encoder (flan-t5-large, mt5-large).

``T5Encoder`` reproduces ``transformers.T5EncoderModel`` (``last_hidden_state``) in plain
PyTorch, with the same state-dict keys, so an official Hugging Face T5 checkpoint loads into it
as it is; mT5 (``MT5EncoderModel``) is the same T5 v1.1 design with a larger vocabulary, so
google/mt5-large loads the same way. ``T5Tokenizer`` reproduces the Hugging Face T5 tokenizer
call used by the reference (``max_length=512, truncation=True, padding=True``) on top of the
``tokenizers`` package.
``TextEncoder`` bundles the two: prompts in, hidden states and mask out.

Precision: parameters may be float32, bfloat16 or float16. For every dtype the residual stream
is kept in float32 and RMS norm statistics are computed in float32; the matrix products run in
the parameter dtype, except that with float16 parameters the feed-forward sub-layer runs in
float32. T5 is known to overflow float16 there (the ``wo`` output exceeds 65504 in some
layers); computing the sub-layer in float32 keeps the result finite and close to float32,
whereas the clamp that ``transformers`` applies keeps it finite but changes it. The cost is a
float32 copy of one layer's feed-forward weights at a time. The output is always float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn

from .ops import ComputeDevice, PlainOps, casts_weights

Activation = Callable[[Tensor], Tensor]

# Names as ``transformers`` resolves them from ``feed_forward_proj`` ("gated-gelu" -> "gelu_new").
_ACTIVATIONS: dict[str, Activation] = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
}


@dataclass(frozen=True)
class T5EncoderConfig:
    """The fields of a Hugging Face T5 ``config.json`` that the encoder needs."""

    vocab_size: int
    d_model: int
    d_kv: int
    num_heads: int
    d_ff: int
    num_layers: int
    relative_attention_num_buckets: int
    relative_attention_max_distance: int
    layer_norm_epsilon: float
    activation: str
    gated: bool

    # Same defaults as transformers' T5Config, for older config.json files that omit them.
    _DEFAULTS: ClassVar[dict[str, object]] = {
        "relative_attention_max_distance": 128,
        "layer_norm_epsilon": 1e-6,
        "feed_forward_proj": "relu",
    }
    _REQUIRED: ClassVar[tuple[str, ...]] = (
        "vocab_size",
        "d_model",
        "d_kv",
        "num_heads",
        "d_ff",
        "num_layers",
        "relative_attention_num_buckets",
    )

    @classmethod
    def from_dict(cls, config: dict) -> T5EncoderConfig:
        missing = [key for key in cls._REQUIRED if key not in config]
        if missing:
            raise ValueError(
                f"T5 config is missing {missing}; pass the config.json of a Hugging Face T5 "
                "checkpoint (for example google/flan-t5-large)."
            )
        merged = {**cls._DEFAULTS, **config}
        activation, gated = _parse_feed_forward_proj(str(merged["feed_forward_proj"]))
        return cls(
            **{key: int(merged[key]) for key in cls._REQUIRED},
            relative_attention_max_distance=int(merged["relative_attention_max_distance"]),
            layer_norm_epsilon=float(merged["layer_norm_epsilon"]),
            activation=activation,
            gated=gated,
        )


def _parse_feed_forward_proj(value: str) -> tuple[str, bool]:
    """``"gated-gelu"`` -> (``"gelu_new"``, gated); ``"relu"`` -> (``"relu"``, not gated)."""
    parts = value.split("-")
    gated = parts[0] == "gated"
    activation = parts[-1]
    if len(parts) > 2 or (len(parts) == 2 and not gated) or activation not in _ACTIVATIONS:
        raise ValueError(
            f"unsupported T5 feed_forward_proj {value!r}; expected one of "
            f"{sorted(_ACTIVATIONS)} optionally prefixed by 'gated-' (flan-t5 uses 'gated-gelu')."
        )
    # transformers maps "gated-gelu" to the tanh approximation for compatibility with the
    # original T5 v1.1 / flan-t5 training code.
    if value == "gated-gelu":
        activation = "gelu_new"
    return activation, gated


def relative_position_buckets(
    length: int, num_buckets: int, max_distance: int, device: torch.device
) -> Tensor:
    """Bidirectional T5 bucket index of (key - query) for every (query, key) pair, (L, L)."""
    positions = torch.arange(length, dtype=torch.long, device=device)
    relative = positions[None, :] - positions[:, None]
    half = num_buckets // 2
    buckets = (relative > 0).to(torch.long) * half
    distance = relative.abs()
    max_exact = half // 2
    # Clamping before the log only avoids log(0) on the entries that use the exact branch.
    log_ratio = torch.log(distance.clamp(min=max_exact).float() / max_exact)
    # Same operation order as transformers: truncation to an integer is sensitive to rounding.
    scaled = log_ratio / math.log(max_distance / max_exact) * (half - max_exact)
    large = (max_exact + scaled.to(torch.long)).clamp(max=half - 1)
    return buckets + torch.where(distance < max_exact, distance, large)


class T5LayerNorm(nn.Module):
    """T5's RMS norm: no mean subtraction, no bias, statistics in float32."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor, dtype: torch.dtype) -> Tensor:
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        # Cast on use: a model manager may leave this raw parameter on the offload device.
        return self.weight.to(device=x.device, dtype=dtype) * x.to(dtype)


class T5SelfAttention(nn.Module):
    """Multi-head self-attention without 1/sqrt(d) scaling (T5 folds it into the weights)."""

    def __init__(
        self, config: T5EncoderConfig, has_relative_bias: bool, operations=PlainOps
    ) -> None:
        super().__init__()
        inner = config.num_heads * config.d_kv
        self.num_heads = config.num_heads
        self.q = operations.Linear(config.d_model, inner, bias=False)
        self.k = operations.Linear(config.d_model, inner, bias=False)
        self.v = operations.Linear(config.d_model, inner, bias=False)
        self.o = operations.Linear(inner, config.d_model, bias=False)
        if has_relative_bias:
            self.relative_attention_bias = operations.Embedding(
                config.relative_attention_num_buckets, config.num_heads
            )

    def position_bias(self, buckets: Tensor) -> Tensor:
        """(L, L) bucket indices -> (1, heads, L, L) additive bias."""
        return self.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        batch, length, _ = x.shape

        def heads(t: Tensor) -> Tensor:
            return t.view(batch, length, self.num_heads, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(self.q(x)), heads(self.k(x)), heads(self.v(x)), attn_mask=bias, scale=1.0
        )
        return self.o(out.transpose(1, 2).reshape(batch, length, -1))


class T5FeedForward(nn.Module):
    """``wo(act(wi_0 x) * wi_1 x)`` when gated, ``wo(act(wi x))`` otherwise."""

    def __init__(self, config: T5EncoderConfig, operations=PlainOps) -> None:
        super().__init__()
        if config.gated:
            self.wi_0 = operations.Linear(config.d_model, config.d_ff, bias=False)
            self.wi_1 = operations.Linear(config.d_model, config.d_ff, bias=False)
        else:
            self.wi = operations.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = operations.Linear(config.d_ff, config.d_model, bias=False)
        self.act = _ACTIVATIONS[config.activation]
        self.gated = config.gated

    def forward(self, x: Tensor) -> Tensor:
        if self.gated:
            h = self.act(_linear(x, self.wi_0)) * _linear(x, self.wi_1)
        else:
            h = self.act(_linear(x, self.wi))
        return _linear(h, self.wo)


def _linear(x: Tensor, layer: nn.Linear) -> Tensor:
    """``layer(x)`` computed in the dtype of ``x`` (weights cast on the fly if they differ)."""
    if casts_weights(layer):  # casts to the input's dtype and device itself
        return layer(x)
    return F.linear(x, layer.weight.to(x.dtype))


def _feed_forward_dtype(param_dtype: torch.dtype) -> torch.dtype:
    # float16 overflows inside T5's feed-forward (see the module docstring).
    return torch.float32 if param_dtype == torch.float16 else param_dtype


class T5LayerSelfAttention(nn.Module):
    def __init__(
        self, config: T5EncoderConfig, has_relative_bias: bool, operations=PlainOps
    ) -> None:
        super().__init__()
        self.SelfAttention = T5SelfAttention(config, has_relative_bias, operations)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)

    def forward(self, residual: Tensor, bias: Tensor) -> Tensor:
        normed = self.layer_norm(residual, self.layer_norm.weight.dtype)
        return residual + self.SelfAttention(normed, bias).float()


class T5LayerFF(nn.Module):
    def __init__(self, config: T5EncoderConfig, operations=PlainOps) -> None:
        super().__init__()
        self.DenseReluDense = T5FeedForward(config, operations)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)

    def forward(self, residual: Tensor) -> Tensor:
        normed = self.layer_norm(residual, _feed_forward_dtype(self.layer_norm.weight.dtype))
        return residual + self.DenseReluDense(normed).float()


class T5Block(nn.Module):
    def __init__(
        self, config: T5EncoderConfig, has_relative_bias: bool, operations=PlainOps
    ) -> None:
        super().__init__()
        self.layer = nn.ModuleList(
            [
                T5LayerSelfAttention(config, has_relative_bias, operations),
                T5LayerFF(config, operations),
            ]
        )

    def forward(self, residual: Tensor, bias: Tensor) -> Tensor:
        return self.layer[1](self.layer[0](residual, bias))


class T5Stack(nn.Module):
    """The encoder blocks and the final norm; the embedding lives in ``T5Encoder.shared``."""

    def __init__(self, config: T5EncoderConfig, operations=PlainOps) -> None:
        super().__init__()
        # Only the first block owns the relative position table; its bias is shared by all.
        self.block = nn.ModuleList(
            [T5Block(config, i == 0, operations) for i in range(config.num_layers)]
        )
        self.final_layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)


class T5Encoder(ComputeDevice, nn.Module):
    """``transformers.T5EncoderModel`` forward (``last_hidden_state``) with the same keys.

    The embedding is stored once, as ``shared.weight``; ``encoder.embed_tokens.weight`` is the
    same tied tensor in transformers and is accepted by the loader through
    ``CHECKPOINT_ALIASES``.
    """

    # Checkpoint key that may stand in for one of ours when ours is absent from the file.
    CHECKPOINT_ALIASES = {"encoder.embed_tokens.weight": "shared.weight"}
    # Official flan-t5 files hold the full encoder-decoder; the decoder side is not used.
    IGNORED_CHECKPOINT_PREFIXES = ("decoder.", "lm_head.")

    def __init__(self, config: T5EncoderConfig, operations=PlainOps) -> None:
        super().__init__()
        self.config = config
        self.shared = operations.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, operations)

    @classmethod
    def from_config(cls, config: dict, operations=PlainOps) -> T5Encoder:
        """Build from a Hugging Face T5 ``config.json`` dict; weights come from a state dict."""
        return cls(T5EncoderConfig.from_dict(config), operations)

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype: the norms' (matrix weights may be stored narrower)."""
        return self.encoder.final_layer_norm.weight.dtype

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """(B, L) int64 ids and (B, L) bool mask (True = token) -> (B, L, d_model) float32."""
        if input_ids.shape != attention_mask.shape or input_ids.dim() != 2:
            raise ValueError(
                f"input_ids {tuple(input_ids.shape)} and attention_mask "
                f"{tuple(attention_mask.shape)} must both be (batch, length)."
            )
        residual = self.shared(input_ids).float()
        bias = self._attention_bias(attention_mask.to(torch.bool))
        for block in self.encoder.block:
            residual = block(residual, bias)
        return self.encoder.final_layer_norm(residual, self.dtype).float()

    def _attention_bias(self, mask: Tensor) -> Tensor:
        """Relative position bias plus masked keys, (B, heads, L, L) in the attention dtype."""
        length = mask.shape[1]
        buckets = relative_position_buckets(
            length,
            self.config.relative_attention_num_buckets,
            self.config.relative_attention_max_distance,
            mask.device,
        )
        bias = self.encoder.block[0].layer[0].SelfAttention.position_bias(buckets)
        # The dtype's lowest finite value, as transformers uses, rather than -inf: softmax still
        # gives exact zeros, and a row without any valid key could not turn into NaN.
        blocked = torch.finfo(bias.dtype).min
        return bias.masked_fill(~mask[:, None, None, :], blocked)


class T5Tokenizer:
    """Hugging Face T5 tokenizer semantics on top of a ``tokenizers`` ``tokenizer.json``.

    Texts are tokenised without special tokens, cut to ``max_length - 1`` tokens, and ``</s>`` is
    appended; the batch is right-padded with ``<pad>`` to its longest row. This is what
    ``T5TokenizerFast(..., max_length=512, truncation=True, padding=True)`` returns, and it does
    not depend on the padding, truncation or post-processor settings stored in the file.
    """

    PAD_TOKEN = "<pad>"
    EOS_TOKEN = "</s>"

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.pad_id = self._token_id(self.PAD_TOKEN)
        self.eos_id = self._token_id(self.EOS_TOKEN)

    @classmethod
    def from_file(cls, path: str | Path) -> T5Tokenizer:
        """Load a ``tokenizer.json`` (the one shipped with google/flan-t5-large)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"T5 tokenizer file not found: {path}. Put the tokenizer.json of "
                "google/flan-t5-large next to the text encoder weights."
            )
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:
            raise ValueError(
                f"{path} is not a Hugging Face tokenizers JSON file ({error}); use the "
                "tokenizer.json of google/flan-t5-large."
            ) from error
        return cls(tokenizer)

    def _token_id(self, token: str) -> int:
        token_id = self._tokenizer.token_to_id(token)
        if token_id is None:
            raise ValueError(
                f"tokenizer has no {token!r} token; it is not a T5 tokenizer. Use the "
                "tokenizer.json of google/flan-t5-large."
            )
        return token_id

    def _ids(self, texts: list[str]) -> list[list[int]]:
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [encoding.ids for encoding in encodings]

    def __call__(self, texts: list[str], max_length: int = 512) -> tuple[Tensor, Tensor]:
        """Token ids (B, L) int64 and mask (B, L) bool, L = longest row after truncation."""
        input_ids, mask, _ = self.tokenize(texts, max_length)
        return input_ids, mask

    def tokenize(self, texts: list[str], max_length: int = 512) -> tuple[Tensor, Tensor, list[int]]:
        """``__call__``'s ids and mask, plus each text's untruncated token count with ``</s>``.

        The counts come from the same tokenization, so a caller that warns about prompts over
        the limit does not tokenize twice.
        """
        if isinstance(texts, str):
            raise TypeError("T5Tokenizer expects a list of prompts, not a single string.")
        if not texts:
            raise ValueError("T5Tokenizer needs at least one prompt.")
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1 (room for </s>), got {max_length}.")
        all_ids = self._ids(list(texts))
        counts = [len(ids) + 1 for ids in all_ids]
        rows = [ids[: max_length - 1] + [self.eos_id] for ids in all_ids]
        length = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.bool)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = True
        return input_ids, mask, counts


class TextEncoder:
    """Tokenizer plus encoder: prompts -> (hidden (B, L, D) float32, mask (B, L) bool)."""

    def __init__(
        self,
        model: T5Encoder,
        tokenizer: T5Tokenizer,
        max_length: int = 512,
        *,
        family: str = "t5",
        source_folder: Path | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        # "t5" (flan-t5) or "mt5": which generator this encoder may condition
        # (checkpoints/preflight.py).
        self.family = family
        self.source_folder = source_folder

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def device(self) -> torch.device:
        return self.model.device
