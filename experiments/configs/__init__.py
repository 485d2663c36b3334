"""Training configs, one YAML per paper variant: ``experiments/configs/<paper>/<variant>.yaml``.

Each is a ``LightningCLI`` config (``model`` / ``data`` by ``class_path`` + ``init_args``, ``trainer`` with its
callbacks, ``seed_everything``) and may start from another with ``base: <name or relative path>``; see
``experiments.config_library``. Read through ``importlib.resources`` (this package), or give any YAML path.
"""
