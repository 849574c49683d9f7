"""mfvpose_lib: the reference implementation behind the MfvPose study notebooks."""

from mfvpose_lib.models import create_model, list_models

__version__ = "0.1.0"


def complexity(model, input_size=None):
    """Params, GMACs and paper-convention GFLOPs of ``model`` (see ``mfvpose_lib.analysis.complexity``)."""
    from mfvpose_lib.analysis.complexity import complexity as _complexity

    return _complexity(model, input_size)


__all__ = ["complexity", "create_model", "list_models", "__version__"]
