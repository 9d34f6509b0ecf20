"""Dasheng-AudioGen in plain PyTorch: prompt, text encoder, generator, audio tokenizer.

This package never imports ComfyUI; the node pack in ``nodes/`` is a thin adapter over it.
"""
