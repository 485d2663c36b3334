"""Weights & Biases runs offline unless the user has configured it.

The suite never reaches the network on its own: ``configure_wandb_mode()`` sets ``WANDB_MODE=offline`` unless the
user chose a mode (``WANDB_MODE``), gave an API key (``WANDB_API_KEY``) or logged in with ``wandb login`` (an
``api.wandb.ai`` entry, or the host of ``WANDB_BASE_URL``, in ``~/.netrc`` / ``$NETRC``). Offline runs can be
uploaded later with ``wandb sync``.
"""
from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_HOST = "api.wandb.ai"


def _wandb_host() -> str:
    base_url = os.environ.get("WANDB_BASE_URL")
    if base_url:
        return urlparse(base_url).hostname or DEFAULT_HOST
    return DEFAULT_HOST


def _netrc_path() -> Path:
    if os.environ.get("NETRC"):
        return Path(os.environ["NETRC"])
    return Path(os.path.expanduser("~")) / ".netrc"


def has_netrc_login(host: str | None = None, path=None) -> bool:
    """True when the netrc file has a machine entry for the W&B host (what ``wandb login`` writes)."""
    host = host or _wandb_host()
    path = Path(path) if path is not None else _netrc_path()
    if not path.is_file():
        return False
    try:
        return netrc.netrc(str(path)).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError, UnicodeDecodeError):
        # a netrc that Python's parser rejects (e.g. unusual permissions/format): look for the entry textually
        try:
            words = path.read_text(errors="replace").split()
        except OSError:
            return False
        return any(word == "machine" and following == host for word, following in zip(words, words[1:]))


def configure_wandb_mode() -> str:
    """Set ``WANDB_MODE=offline`` unless the user configured W&B; returns the mode now in effect.

    Returns the user's ``WANDB_MODE`` when set, ``"online"`` when an API key or a netrc login exists (W&B's own
    default then applies), else ``"offline"`` (after setting it in ``os.environ``).
    """
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY") or has_netrc_login():
        return "online"
    os.environ["WANDB_MODE"] = "offline"
    return "offline"
