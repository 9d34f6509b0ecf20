"""Checks made before any tensor is read: a snapshot's files, and which models belong together.

Each generator works only with the text encoder it was trained with (its config.json names
it), so a mismatched pair is refused from the two configs, and again on loaded models (the
nodes load them separately).
"""

from __future__ import annotations

from pathlib import Path

from ..models.generator import T5_FAMILY, generator_text_encoder_family
from .config import check_rates_agree, read_config
from .errors import WeightsError
from .gguf_layout import is_gguf
from .snapshots import (
    AUDIO_TOKENIZER,
    GENERATOR,
    SnapshotKind,
    family_kinds,
    text_encoder_family,
    text_encoder_kind,
)
from .weight_files import safetensors_files


def check_snapshot(folder: Path | str, kind: SnapshotKind) -> list[Path]:
    """Everything about a snapshot folder that can be checked without reading tensors:
    config.json, and the weight files (index entries, presence, pickles in disguise); for a
    ``.gguf`` file, its header, metadata and tensor list."""
    folder = Path(folder)
    read_config(folder, kind)
    return [folder] if is_gguf(folder) else safetensors_files(folder)


def pairing_error(
    generator_family: str, generator_source: object, encoder_family: str, encoder_source: object
) -> WeightsError | None:
    """The error for a generator paired with the other checkpoint's text encoder, else None."""
    if generator_family == encoder_family:
        return None
    _, wanted_encoder = family_kinds(generator_family)
    other_generator, given_encoder = family_kinds(encoder_family)
    return WeightsError(
        f"The generator {generator_source} was trained with {wanted_encoder.repo_id}, but the "
        f"text encoder {encoder_source} is {given_encoder.repo_id}. Use the "
        f"{wanted_encoder.folder_name} folder with this generator, or the "
        f"{other_generator.folder_name} generator with this text encoder."
    )


def check_folder_pairing(generator_dir: Path | str, text_encoder_dir: Path | str) -> None:
    """Refuse a mismatched generator / text-encoder pair from their configs, before loading."""
    generator_dir, text_encoder_dir = Path(generator_dir), Path(text_encoder_dir)
    generator_config = read_config(generator_dir, GENERATOR)
    encoder_config = read_config(text_encoder_dir, text_encoder_kind(text_encoder_dir))
    error = pairing_error(
        generator_text_encoder_family(generator_config),
        generator_dir,
        text_encoder_family(encoder_config),
        text_encoder_dir,
    )
    if error:
        raise error


def check_model_pairing(generator, text_encoder) -> None:
    """The same check on loaded models (the nodes load them separately)."""
    error = pairing_error(
        generator.text_encoder_family,
        generator.source_folder or "in use",
        getattr(text_encoder, "family", T5_FAMILY),
        getattr(text_encoder, "source_folder", "in use"),
    )
    if error:
        raise error


def check_snapshot_set(
    generator_dir: Path | str, text_encoder_dir: Path | str, audio_tokenizer_dir: Path | str
) -> None:
    """The three folders of one pipeline, checked before anything loads: each snapshot's files,
    the text encoder the generator was trained with, and that the generator's latent is the one
    the audio tokenizer decodes."""
    check_folder_pairing(generator_dir, text_encoder_dir)
    check_snapshot(generator_dir, GENERATOR)
    check_snapshot(text_encoder_dir, text_encoder_kind(Path(text_encoder_dir)))
    check_snapshot(audio_tokenizer_dir, AUDIO_TOKENIZER)
    check_rates_agree(
        read_config(generator_dir, GENERATOR), read_config(audio_tokenizer_dir, AUDIO_TOKENIZER)
    )
