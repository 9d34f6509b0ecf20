"""The Caption Composer's token-count route: the count the text encoder's tokenizer gives.

The route runs on a real aiohttp server (as ComfyUI's PromptServer serves it) over the stand-in
ComfyUI's models/audiogen/ with the tiny snapshots; counts are checked against transformers'
T5TokenizerFast on the same tokenizer.json, end token included.
"""

from __future__ import annotations

import asyncio

import pytest
import transformers
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from audiogen_core.conditioning.prompt import TOKEN_LIMIT, compose_views
from audiogen_core.models.text_encoder import T5Tokenizer
from nodes import routes

VIEWS = {
    "caption": "A dog barks in the rain",
    "speech": "",
    "asr": "",
    "sfx": "a dog barks, rain",
    "music": "",
    "env": "the rain",
}


def post(body, raw: bytes | None = None) -> tuple[int, dict]:
    """POST to the route on a real aiohttp server; (status, JSON answer)."""

    async def run():
        app = web.Application()
        table = web.RouteTableDef()
        routes.register(table)
        app.add_routes(table)
        async with TestClient(TestServer(app)) as client:
            if raw is not None:
                response = await client.post(routes.ROUTE, data=raw)
            else:
                response = await client.post(routes.ROUTE, json=body)
            return response.status, await response.json()

    return asyncio.run(run())


def test_the_count_is_the_tokenizers_with_the_end_token(comfy):
    folder_paths, _ = comfy
    tokenizer_file = f"{folder_paths.models_dir}/audiogen/flan-t5-large/tokenizer.json"
    reference = transformers.T5TokenizerFast(tokenizer_file=tokenizer_file)
    status, answer = post({"views": VIEWS, "text_encoder": "flan-t5-large"})
    prompt = compose_views(**VIEWS)
    expected = len(reference(prompt).input_ids)
    assert status == 200
    assert answer == {
        "count": expected,
        "limit": TOKEN_LIMIT,
        "exact": True,
        "tokenizer": "flan-t5-large",
    }
    assert expected == T5Tokenizer.from_file(tokenizer_file).tokenize([prompt])[2][0]
    assert reference(prompt).input_ids[-1] == reference.eos_token_id
    # Without a name the first text encoder folder found is used; more text, more tokens.
    longer = post({"views": {**VIEWS, "music": "a slow saxophone"}, "text_encoder": None})[1]
    assert longer["tokenizer"] == "flan-t5-large" and longer["count"] > expected


def test_views_that_do_not_make_a_prompt_yet_are_still_counted(comfy):
    folder_paths, _ = comfy
    reference = transformers.T5TokenizerFast(
        tokenizer_file=f"{folder_paths.models_dir}/audiogen/flan-t5-large/tokenizer.json"
    )
    # No caption yet: the views the user typed, joined as the composer joins them.
    answer = routes.count_tokens({"views": {"sfx": " a dog barks "}, "text_encoder": None})
    assert answer["count"] == len(reference("<|sfx|> a dog barks").input_ids)
    assert routes.count_tokens({"views": {}})["count"] == 1  # only the end token


def test_the_multilingual_encoder_counts_with_its_sentencepiece_model(comfy, monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIOGEN_CACHE_DIR", str(tmp_path / "cache"))
    folder_paths, _ = comfy
    # What AutoTokenizer gives for google/mt5-large (spiece.model and tokenizer_config.json).
    reference = transformers.T5Tokenizer.from_pretrained(
        f"{folder_paths.models_dir}/audiogen/mt5-large"
    )
    views = {**VIEWS, "asr": "Hola, ¿cómo estás?"}
    answer = routes.count_tokens({"views": views, "text_encoder": "mt5-large"})
    assert answer["exact"] and answer["tokenizer"] == "mt5-large"
    assert answer["count"] == len(reference(compose_views(**views)).input_ids)


def test_without_a_tokenizer_file_the_page_is_told_to_estimate(comfy):
    folder_paths, _ = comfy
    status, answer = post({"views": VIEWS, "text_encoder": "flan-t5-xxl"})
    assert status == 200
    assert answer["count"] is None and answer["exact"] is False
    assert "flan-t5-xxl" in answer["reason"]


@pytest.mark.parametrize(
    "body, complaint",
    [
        ([], "expected a JSON object"),
        ({"views": {"lyrics": "la la"}}, "unknown views"),
        ({"views": {"caption": 5}}, "must be a string"),
        ({"views": {"caption": "x" * 100_001}}, "at most"),
        ({"views": {}, "text_encoder": "../../secrets"}, "folder name"),
    ],
)
def test_a_malformed_request_is_a_400_saying_why(standalone, body, complaint):
    status, answer = post(body)
    assert status == 400 and complaint in answer["error"]


def test_a_body_that_is_not_json_is_a_400(standalone):
    status, answer = post(None, raw=b"caption=dog")
    assert status == 400 and "JSON object" in answer["error"]


def test_the_route_is_registered_only_inside_comfyui():
    # Outside ComfyUI there is no server module; the pack still imports and runs.
    assert routes.register_with_comfyui() is False
