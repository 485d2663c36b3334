"""The benchmark-evaluation callback and the W&B mode setup."""
import os

import pytest

from experiments.wandb_setup import configure_wandb_mode


@pytest.fixture
def clean_wandb_env(monkeypatch, tmp_path):
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_wandb_offline_when_not_configured(clean_wandb_env):
    assert configure_wandb_mode() == "offline"
    assert os.environ["WANDB_MODE"] == "offline"


def test_wandb_user_mode_is_kept(clean_wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert configure_wandb_mode() == "disabled"
    assert os.environ["WANDB_MODE"] == "disabled"


def test_wandb_api_key_means_online(clean_wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert configure_wandb_mode() == "online"
    assert "WANDB_MODE" not in os.environ


def test_wandb_netrc_login_means_online(clean_wandb_env):
    netrc_file = clean_wandb_env / ".netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc_file.chmod(0o600)
    assert configure_wandb_mode() == "online"
    assert "WANDB_MODE" not in os.environ


def test_wandb_netrc_for_other_host_is_not_a_login(clean_wandb_env):
    netrc_file = clean_wandb_env / ".netrc"
    netrc_file.write_text("machine example.org\n  login user\n  password secret\n")
    netrc_file.chmod(0o600)
    assert configure_wandb_mode() == "offline"
