"""Loading local checkpoints safely (``weights_only``) with one-line errors."""
from __future__ import annotations

from pathlib import Path

from .errors import MemscoreError


def load_checkpoint(module, path: Path, *, what: str = "model") -> None:
    """Load a state dict (or a dict holding one under ``state_dict``/``model``) into ``module``."""
    import torch

    if not path.is_file():
        raise MemscoreError(f"--weights {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MemscoreError(f"--weights {path}: not a readable PyTorch checkpoint ({type(exc).__name__}); "
                            f"pass a file saved with torch.save(model.state_dict(), path)") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model", "model_state"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise MemscoreError(f"--weights {path}: holds a {type(state).__name__}, not a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise MemscoreError(f"--weights {path}: does not fit {what} ({first[:200]})") from None
