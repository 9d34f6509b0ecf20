"""Prompts -> T5 hidden states for tests that compare text encoders built different ways."""

import torch


def encode_texts(encoder, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden (B, L, D), mask (B, L)) of ``prompts`` through a loaded ``TextEncoder``."""
    ids, mask, _ = encoder.tokenizer.tokenize(prompts, encoder.max_length)
    with torch.inference_mode():
        return encoder.model(ids, mask), mask
