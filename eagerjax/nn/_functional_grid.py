"""``F.affine_grid`` and ``F.grid_sample`` with torch's argument checks (rows in ``_ops/_grid``)."""

from __future__ import annotations

import warnings

from .._dispatch import dispatch
from .._ops import _grid  # noqa: F401 - registers the rows
from .._ops._registry import OPS
from .._tensor import Tensor
from ._functional_checks import require_tensor

__all__ = ["affine_grid", "grid_sample"]

_DEFAULT = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. Please specify "
    "align_corners=True if the old behavior is desired. See the documentation of grid_sample for details."
)


def _align(align_corners) -> bool:
    if align_corners is None:
        warnings.warn(_DEFAULT, stacklevel=3)
        return False
    return bool(align_corners)


def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """The sampling grid ``(N, H, W, 2)`` (or ``(N, D, H, W, 3)``) of the affine maps ``theta``
    (``(N, 2, 3)`` / ``(N, 3, 4)``) for an output of ``size``."""
    require_tensor("affine_grid", "theta", 1, theta)
    ac = _align(align_corners)
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(int(s) for s in size)
    if len(size) == 4:
        if theta.dim() != 3 or tuple(theta.shape[-2:]) != (2, 3):
            raise ValueError(
                f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {list(size)}. Got {list(theta.shape)}."
            )
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.dim() != 3 or tuple(theta.shape[-2:]) != (3, 4):
            raise ValueError(
                f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {list(size)}. Got {list(theta.shape)}."
            )
        spatial = size[-3:]
    else:
        raise NotImplementedError(
            f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. Got size {list(size)}."
        )
    if min(spatial) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {list(size)}")
    return dispatch(OPS["_affine_grid"], (theta,), {"size": size, "align_corners": ac})


def grid_sample(
    input: Tensor,
    grid: Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Tensor:
    """Sample ``input`` (``(N, C, H, W)`` or ``(N, C, D, H, W)``) at the normalized points of
    ``grid`` (``(N, H_out, W_out, 2)`` or ``(N, D_out, H_out, W_out, 3)``)."""
    require_tensor("grid_sample", "input", 1, input)
    require_tensor("grid_sample", "grid", 2, grid)
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', "
            f"but got: '{padding_mode}'"
        )
    ac = _align(align_corners)
    if input.dim() not in (4, 5):
        raise RuntimeError(
            f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but got input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if grid.dim() != input.dim() or grid.shape[0] != input.shape[0] or grid.shape[-1] != input.dim() - 2:
        raise RuntimeError(
            f"grid_sampler(): expected grid to have size {input.dim() - 2} in last dimension and the same batch "
            f"size as input, but got grid with sizes {list(grid.shape)} for input with sizes {list(input.shape)}"
        )
    if mode == "bicubic" and input.dim() == 5:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    return dispatch(
        OPS["_grid_sample"], (input, grid), {"mode": mode, "padding_mode": padding_mode, "align_corners": ac}
    )
