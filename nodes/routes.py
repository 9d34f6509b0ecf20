"""The pack's HTTP route: the Caption Composer's exact token count while the user types.

``POST /audiogen/token_count`` (ComfyUI mirrors it under ``/api``) with the JSON body
``{"views": {"caption": ..., "speech": ..., ...}, "text_encoder": <folder name or null>}``
answers ``{"count": <tokens the text encoder receives, end token included>, "limit": 512,
"exact": true, "tokenizer": <folder name>}``, or ``{"count": null, "limit": 512, "exact":
false, "reason": ...}`` when no tokenizer file is found; the page then shows its own estimate
(web/token_count.js). A body that is not of that shape gets a 400 with the reason.

The folder is looked up like the text encoder loader does (``model_paths``); without a name the
first text encoder folder found is used. Tokenizers are loaded once and cached.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from audiogen_core.checkpoints import TEXT_ENCODER, WeightsError
from audiogen_core.checkpoints.spiece import SentencePieceConversionError, load_spiece_tokenizer
from audiogen_core.conditioning.prompt import TAGS, TOKEN_LIMIT, VIEWS, compose_views
from audiogen_core.models.text_encoder import T5Tokenizer

from . import model_paths

ROUTE = "/audiogen/token_count"
MAX_VIEW_CHARS = 100_000  # far past 512 tokens; a bound on the work one request can ask for


class BadRequest(ValueError):
    """The request body is not ``{"views": {view: text}, "text_encoder": name or null}``."""


def prompt_of(views: dict[str, str]) -> str:
    """The prompt the composer makes of ``views``.

    While the user types, the views may not make a valid prompt yet (no caption, a stray tag);
    then the non-empty views are joined the same way, and the run names the problem.
    """
    try:
        return compose_views(**views)
    except ValueError:
        return " ".join(
            f"{TAGS[view]} {text.strip()}" for view, text in views.items() if text.strip()
        )


@lru_cache(maxsize=4)
def _load_tokenizer(folder: Path, tokenizer_file: Path, modified_ns: int) -> T5Tokenizer:
    # Keyed by the file's modification time too, so a replaced tokenizer is read again.
    if tokenizer_file.name == "tokenizer.json":
        return T5Tokenizer.from_file(tokenizer_file)
    return T5Tokenizer(load_spiece_tokenizer(folder))


def tokenizer_for(text_encoder: str | None) -> tuple[str, T5Tokenizer]:
    """``(folder name, tokenizer)`` of the named text encoder folder, or of the first one found.

    The tokenizer is the folder's tokenizer.json, else its spiece.model (mt5-large), as the
    text encoder loader reads them. Raises LookupError saying what is missing.
    """
    names = [text_encoder] if text_encoder else model_paths.list_snapshots(TEXT_ENCODER)
    problems = []
    for name in names:
        try:
            folder = model_paths.resolve_snapshot(TEXT_ENCODER, name)
        except WeightsError:
            problems.append(f"no folder {name!r}")
            continue
        for file in (folder / "tokenizer.json", folder / "spiece.model"):
            if file.is_file():
                try:
                    return name, _load_tokenizer(folder, file, file.stat().st_mtime_ns)
                except (OSError, ValueError, SentencePieceConversionError) as exc:
                    problems.append(f"{file}: {exc}")
                break
        else:
            problems.append(f"{folder} has no tokenizer.json or spiece.model")
    raise LookupError("; ".join(problems) or "no text encoder folder was found")


def _checked(body) -> tuple[dict[str, str], str | None]:
    if not isinstance(body, dict) or not isinstance(body.get("views"), dict):
        raise BadRequest('expected a JSON object {"views": {view: text}, "text_encoder": name}')
    views = body["views"]
    unknown = sorted(set(views) - set(VIEWS))
    if unknown:
        raise BadRequest(f"unknown views {unknown}; the views are {list(VIEWS)}")
    if not all(isinstance(text, str) and len(text) <= MAX_VIEW_CHARS for text in views.values()):
        raise BadRequest(f"each view must be a string of at most {MAX_VIEW_CHARS} characters")
    try:
        "".join(views.values()).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no tokenizer takes it
        raise BadRequest("the views are not valid Unicode text") from None
    name = body.get("text_encoder")
    if name is not None and (not isinstance(name, str) or not name or "/" in name or "\\" in name):
        raise BadRequest("text_encoder must be a folder name (as the loader lists it) or null")
    return {view: views.get(view, "") for view in VIEWS}, name


def count_tokens(body) -> dict:
    """The route's answer for a parsed JSON ``body`` (see the module docstring)."""
    views, name = _checked(body)
    try:
        folder_name, tokenizer = tokenizer_for(name)
    except LookupError as exc:
        return {"count": None, "limit": TOKEN_LIMIT, "exact": False, "reason": str(exc)}
    (count,) = tokenizer.tokenize([prompt_of(views)])[2]
    return {"count": count, "limit": TOKEN_LIMIT, "exact": True, "tokenizer": folder_name}


async def handle_token_count(request):
    """aiohttp handler: tokenizing (and a first load) runs off the server's event loop."""
    from aiohttp import web

    try:
        body = await request.json()
    except ValueError:
        body = None
    try:
        answer = await asyncio.get_running_loop().run_in_executor(None, count_tokens, body)
    except BadRequest as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(answer)


def register(routes) -> None:
    """Add the route to an aiohttp RouteTableDef (ComfyUI's ``PromptServer.instance.routes``)."""
    routes.post(ROUTE)(handle_token_count)


def register_with_comfyui() -> bool:
    """Register on ComfyUI's server when it runs; routes must be added before it starts."""
    try:
        from server import PromptServer
    except ImportError:  # not inside ComfyUI (tests, scripts)
        return False
    instance = getattr(PromptServer, "instance", None)
    if instance is None:
        return False
    register(instance.routes)
    return True
