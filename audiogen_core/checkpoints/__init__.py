"""Finding, checking and loading checkpoints; the names importers use.

snapshots.py     the official snapshots, their folders and families (English / multilingual)
download.py      fetching them, and the commands and layout a user is told
config.py        config.json and the rules of its fields
weight_files.py  which files hold the weights; pickles, pipes and link loops refused
safetensors.py   headers and tensors read with plain, parallel file reads
state_dict.py    a meta-device model filled strictly from a checkpoint
loaders.py       the three models declared as data, and the one load function
preflight.py     checks before any tensor is read (snapshot files, model pairing)
spiece.py        spiece.model -> tokenizer.json conversion (mt5-large)
"""

from .config import check_rates_agree, read_config
from .download import (
    DOWNLOAD_PATTERNS,
    download_command,
    download_snapshots,
    expected_layout_message,
    include_arguments,
)
from .errors import WeightsError
from .loaders import (
    load_audio_tokenizer,
    load_generator,
    load_model,
    load_safetensors_into,
    load_text_encoder,
)
from .preflight import (
    check_folder_pairing,
    check_model_pairing,
    check_snapshot,
    check_snapshot_set,
)
from .snapshots import (
    AUDIO_TOKENIZER,
    DEFAULT_MODEL_DIR_ENV,
    GENERATOR,
    MULTILINGUAL_GENERATOR,
    MULTILINGUAL_SNAPSHOTS,
    MULTILINGUAL_TEXT_ENCODER,
    SNAPSHOTS,
    TEXT_ENCODER,
    SnapshotKind,
    resolve_model_dirs,
    snapshot_set,
    text_encoder_family,
    text_encoder_kind,
)
from .state_dict import build_on_meta

__all__ = [
    "AUDIO_TOKENIZER",
    "DEFAULT_MODEL_DIR_ENV",
    "DOWNLOAD_PATTERNS",
    "GENERATOR",
    "MULTILINGUAL_GENERATOR",
    "MULTILINGUAL_SNAPSHOTS",
    "MULTILINGUAL_TEXT_ENCODER",
    "SNAPSHOTS",
    "TEXT_ENCODER",
    "SnapshotKind",
    "WeightsError",
    "build_on_meta",
    "check_folder_pairing",
    "check_model_pairing",
    "check_rates_agree",
    "check_snapshot",
    "check_snapshot_set",
    "download_command",
    "include_arguments",
    "download_snapshots",
    "expected_layout_message",
    "load_audio_tokenizer",
    "load_generator",
    "load_model",
    "load_safetensors_into",
    "load_text_encoder",
    "read_config",
    "resolve_model_dirs",
    "snapshot_set",
    "text_encoder_family",
    "text_encoder_kind",
]
