"""How much memory a call needs beyond the weights, in bytes: ComfyUI's ``memory_required``.

ComfyUI frees (offloads other models) before it runs a model when it is told what the run needs:
``load_models_gpu(models, memory_required=...)``, which its own models compute from the input
shape (``BaseModel.memory_required``, the VAE's ``memory_used_decode``). These functions give
the same figure for the three calls of this pack, from the model's sizes and compute dtype:

* :func:`sampling_bytes` for ``generator.sample`` (one DiT evaluation at a time, classifier-free
  guidance as one doubled batch, the conditioning-only terms of every block kept for all steps);
* :func:`decoding_bytes` for ``audio_tokenizer.decode``;
* :func:`prompt_encoding_bytes` for the T5 encoder followed by ``generator.condition``.

Each is a count of the tensors alive at the call's peak, written out below term by term, with
attention computed by a fused kernel (PyTorch's SDPA picks one on CUDA and on the CPU for these
masks; nothing materialises the (frames x frames) score matrix). They are upper bounds: the test
suite measures the real peak of every tensor allocation on the CPU and checks that the estimate
is at least that and at most 1.6 times it.
"""

from __future__ import annotations

import torch

FLOAT32 = 4
# Headroom over the counted tensors for what a count cannot see: kernel workspaces, allocator
# rounding, and other versions of PyTorch allocating a temporary more.
MARGIN = 1.1


def _size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype, device="meta").element_size()


def _with_margin(counted: float) -> int:
    return int(counted * MARGIN)


def sampling_bytes(
    generator,
    batch: int,
    frames: int,
    context_tokens: int,
    guidance: bool,
    timed_prompts: int = 0,
) -> int:
    """Peak extra memory of ``generator.sample`` for ``batch`` items of ``frames`` latent frames
    conditioned on ``context_tokens`` tokens (the longest prompt's); ``guidance`` adds one DiT
    row per item, and so does each of ``timed_prompts`` blended prompts heard in the call."""
    config = generator.config
    s = _size(generator.dtype)
    width = int(config["dit_embed_dim"])
    inner = int(width * float(config["dit_mlp_ratio"]))
    skips = int(config["dit_depth"]) // 2
    blocks = 2 * skips + 1
    latent = int(config["latent_dim"])
    content = int(config["content_dim"])
    head = width // int(config["dit_num_heads"])
    conditional = (1 + timed_prompts) * batch
    rows = conditional + (batch if guidance else 0)  # DiT batch
    positions = rows * frames

    # Kept for every step: each block's cross-attention keys and values and its time-aligned
    # vector, the RoPE tables (float32); the conditioning that built them, at its widest.
    constants = blocks * rows * (2 * context_tokens + 1) * width * s
    constants += rows * context_tokens * (width + content) * s + 2 * frames * head * FLOAT32
    # The sampler's float32 latents (noise, the running sample, the doubled DiT input) and the
    # DiT's own copies of its input and output.
    latents = (2 * batch + rows) * latent * frames * FLOAT32
    latents += positions * latent * (2 * s + FLOAT32)
    if timed_prompts:
        # Blending: the weighted conditional velocities before they are summed.
        latents += conditional * latent * frames * FLOAT32
    # Inside the first out-block, the deepest point: every skip tensor, the block input and
    # output, the attention locals kept until the block returns (modulated input, keys, values,
    # queries, their rotated copies), the feed-forward input, and GEGLU's projection (2 x inner),
    # activation and product (inner each).
    hidden = positions * (width * (skips + 10) + 4 * inner) * s
    # The float32 statistics of the LayerNorms (copies of a width-wide row) come and go before
    # the feed-forward's peak, so they add nothing to it in a narrower compute dtype.
    return _with_margin(constants + latents + hidden)


def decoding_bytes(audio_tokenizer, batch: int, frames: int) -> int:
    """Peak extra memory of ``audio_tokenizer.decode`` for ``batch`` latents of ``frames``."""
    config = audio_tokenizer.config
    s = _size(audio_tokenizer.dtype)
    up = int(config.upsample_tokens)
    positions = batch * frames * up  # decoder frames
    dim = int(config.decoder_embed_dim)
    inner = int(config.decoder_intermediate_size)
    n_fft = int(config.istft_n_fft)
    bins = n_fft // 2 + 1
    embed = int(config.embed_dim)
    # The latent moved and cast to the compute dtype, and the upsampled decoder input.
    inputs = batch * frames * embed * (FLOAT32 + s) + positions * embed * s
    # A ConvNeXt block: its input, the depthwise output, the float32 norm copy and output, and
    # the pointwise expansion with its GELU.
    backbone = positions * (dim * (3 * s + 2 * FLOAT32) + 2 * inner * s)
    # The ISTFT head, after the backbone output: first the linear output (and its float32
    # copy) with magnitude, real and imaginary parts and the complex spectrum; then the
    # spectrum and the inverse FFT's contiguous copy of it, the transform, its windowed copy,
    # the window envelope and the waveform.
    widen = FLOAT32 if s < FLOAT32 else 0
    spectrum = (n_fft + 2) * (s + widen) + bins * (3 * FLOAT32 + 8)
    istft = bins * 2 * 8 + 2 * n_fft * FLOAT32 + 3 * int(config.istft_hop) * FLOAT32
    envelope = frames * up * n_fft * FLOAT32  # one item's worth: the window is shared
    head = positions * (dim * s + max(spectrum, istft)) + envelope
    return _with_margin(inputs + max(backbone, head))


def prompt_encoding_bytes(text_encoder_model, generator, batch: int, tokens: int) -> int:
    """Peak extra memory of encoding ``batch`` prompts of ``tokens`` tokens: the T5 encoder's
    forward, then ``generator.condition`` (text projection, content adapter, duration head)."""
    t5 = text_encoder_model.config
    s = _size(text_encoder_model.dtype)
    positions = batch * tokens
    # T5's relative position buckets: 56 bytes of int64 and float32 temporaries per token pair,
    # then the per-head bias looked up from them and its masked per-item copy, which every layer
    # uses. In a layer: the float32 residual stream (a sub-layer's input and output), the normed
    # input, and the attention projections or the feed-forward's hidden layers (in float32 when
    # the weights are float16).
    pairs = tokens * tokens
    masked_bias = batch * t5.num_heads * pairs * s
    positions_peak = max(64 * pairs, 8 * pairs + t5.num_heads * pairs * s + masked_bias)
    ff_size = FLOAT32 if text_encoder_model.dtype == torch.float16 else s
    attention = positions * (4 * t5.num_heads * t5.d_kv * s)
    feed_forward = positions * (3 * t5.d_ff * ff_size + t5.d_model * ff_size)
    layer_peak = masked_bias + positions * t5.d_model * (3 * FLOAT32 + s)
    t5_peak = max(positions_peak, layer_peak + max(attention, feed_forward))
    # The adapter: a handful of content-width tensors per token and the duration predictor.
    config = generator.config
    g = _size(generator.dtype)
    content = int(config["content_dim"])
    filters = int(config["duration_predictor_filter_channels"])
    slots = int(config["instruction_seq_len"])
    heads = int(config["adapter_num_heads"])
    adapter = positions * (12 * content * g + 6 * filters * max(g, FLOAT32))
    adapter += batch * heads * tokens * slots * FLOAT32
    hidden_out = positions * t5.d_model * FLOAT32  # T5's output, kept for the adapter
    return _with_margin(max(t5_peak, hidden_out + adapter))
