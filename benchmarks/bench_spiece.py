"""Cost of loading mt5-large's tokenizer: the one-time spiece.model conversion vs. the cache.

google/mt5-large ships only ``spiece.model`` (250,100 pieces). The first load converts it
(needs sentencepiece + protobuf), later loads read the cached JSON. Pass the real file, or let
the script build a stand-in of the same size: 250,100 unigram pieces with mT5's special
pieces and the nmt_nfkc normalisation table of a freshly trained model.

    python benchmarks/bench_spiece.py                          # synthetic, mt5-large sized
    python benchmarks/bench_spiece.py --spiece mt5-large/spiece.model
"""

from __future__ import annotations

import argparse
import io
import os
import random
import string
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MT5_PIECES = 250_100


def synthetic_spiece(path: Path, pieces: int = MT5_PIECES) -> None:
    """A unigram model with ``pieces`` pieces laid out like mT5's (ids 0-2 special)."""
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2

    trained = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(["A dog barks in the rain. Hola, ¿cómo estás?"] * 50),
        model_writer=trained,
        vocab_size=40,
        hard_vocab_limit=False,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(trained.getvalue())
    del proto.pieces[3:]
    rng = random.Random(0)
    alphabet = string.ascii_letters + "áéíóúñçàèüößдлиятэкнгжшщ日本語韓국어"
    seen = {p.piece for p in proto.pieces}
    while len(proto.pieces) < pieces:
        text = "▁" * (rng.random() < 0.5) + "".join(
            rng.choice(alphabet) for _ in range(rng.randint(1, 8))
        )
        if text in seen:
            continue
        seen.add(text)
        piece = proto.pieces.add()
        piece.piece, piece.score = text, -rng.uniform(2.0, 20.0)
    path.write_bytes(proto.SerializeToString())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spiece", type=Path, default=None, help="a real spiece.model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mt5-large"
        folder.mkdir()
        target = folder / "spiece.model"
        if args.spiece:
            target.write_bytes(args.spiece.read_bytes())
        else:
            synthetic_spiece(target)
        (folder / "tokenizer_config.json").write_text('{"extra_ids": 0}')
        os.environ["AUDIOGEN_CACHE_DIR"] = str(Path(tmp) / "cache")

        from audiogen_core.checkpoints.spiece import cache_dir, load_spiece_tokenizer
        from audiogen_core.models.text_encoder import T5Tokenizer

        start = time.perf_counter()
        first = load_spiece_tokenizer(folder)
        convert_s = time.perf_counter() - start
        (cached,) = (cache_dir() / "tokenizers").iterdir()
        start = time.perf_counter()
        again = load_spiece_tokenizer(folder)
        cached_s = time.perf_counter() - start
        tokenizer = T5Tokenizer(again)
        prompt = "<|caption|> A woman tells a story <|asr|> " + "Había una vez una niña " * 60
        start = time.perf_counter()
        for _ in range(20):
            tokenizer([prompt])
        tokenize_ms = (time.perf_counter() - start) / 20 * 1000
        print(f"spiece.model: {target.stat().st_size / 1e6:.1f} MB, {first.get_vocab_size()} ids")
        print(f"first load (convert + cache write): {convert_s:.2f} s")
        print(f"cached load: {cached_s:.2f} s (cache file {cached.stat().st_size / 1e6:.1f} MB)")
        print(f"tokenize one 512-token prompt: {tokenize_ms:.2f} ms")


if __name__ == "__main__":
    main()
