"""PCA bases of layer activations: exact fits on the n x n Gram, and bases kept on disk."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class LayerPCA:
    """Mean and orthonormal basis (units x k) of one layer; ``project`` is ``(x - mean) @ basis``."""

    mean: torch.Tensor
    basis: torch.Tensor
    explained_variance: torch.Tensor
    _offset: torch.Tensor | None = field(default=None, repr=False)

    def to(self, device) -> "LayerPCA":
        return LayerPCA(self.mean.to(device), self.basis.to(device), self.explained_variance,
                        None if self._offset is None else self._offset.to(device))

    @property
    def offset(self) -> torch.Tensor:
        """``mean @ basis``, computed once (a stored basis keeps it: a pass need not read its basis twice)."""
        if self._offset is None:
            self._offset = (self.mean.float() @ self.basis.float()).to(self.basis.dtype)
        return self._offset

    def project(self, x: torch.Tensor) -> torch.Tensor:
        # x @ B - mean @ B: no centred copy of the (batch x units) activations; a bf16 basis (``bf16()``)
        # multiplies in bf16 and hands on float32 scores
        return torch.addmm(self.offset, x.to(self.basis.dtype), self.basis, beta=-1).float()

    def bf16(self) -> "LayerPCA":
        """The basis in bfloat16 (half the device memory; the mean stays float32): kept on the device under
        ``--bf16`` when the bases are fitted for the pass and never written."""
        return LayerPCA(self.mean, self.basis.to(torch.bfloat16), self.explained_variance)

    @property
    def k(self) -> int:
        return self.basis.shape[1]


class StoredPCA:
    """A fitted basis on disk: only the layer groups in flight are held in memory."""

    def __init__(self, path: Path, units: int, k: int | None = None):
        self.path, self.units, self._k = Path(path), units, k

    @property
    def k(self) -> int:
        if self._k is None:  # memory-mapped: reads the header, not the basis
            d = torch.load(self.path, map_location="cpu", weights_only=True, mmap=True)
            self._k = int(d["basis"].shape[1])
        return self._k

    @property
    def nbytes(self) -> int:
        return self.units * self.k * 4

    def load(self, mmap: bool = False) -> LayerPCA:
        """The basis in memory, or with ``mmap`` backed by the file's pages (the OS page cache holds
        them, nothing is copied, and what memory runs short of is read again from disk)."""
        d = torch.load(self.path, map_location="cpu", weights_only=True, mmap=mmap)
        self._k = int(d["basis"].shape[1])
        return LayerPCA(d["mean"], d["basis"], d["explained_variance"], d.get("offset"))  # (older files: none)

    def prefetch(self) -> None:
        """Ask the OS to start reading the file into its page cache (returns at once)."""
        if hasattr(os, "posix_fadvise"):
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            finally:
                os.close(fd)


def _centred_eig(acts: torch.Tensor, k: int):
    """Centre ``acts`` (n x units) in place and eigendecompose its n x n Gram in float64; returns the
    mean, the kept eigenvalues (descending) and eigenvectors, and the column block size used."""
    n, units = acts.shape
    mean = (acts.sum(0, dtype=torch.float64) / n).float()
    acts -= mean  # in place: the reference buffer is ours
    gram = torch.zeros(n, n, dtype=torch.float64, device=acts.device)
    step = max(1, (1 << 24) // max(n, 1))
    for j in range(0, units, step):
        blk = acts[:, j:j + step].double()
        if blk.device.type == "cpu" and n >= 800:
            # numpy runs b @ b.T as a syrk (half the flops of torch's gemm): faster for wide Grams; for thin
            # blocks (few reference images) OpenBLAS's syrk is 4-50x slower than torch here (measured)
            b = blk.numpy()
            gram += torch.from_numpy(b @ b.T)
        else:
            gram.addmm_(blk, blk.T)
    evals, evecs = torch.linalg.eigh(gram)
    evals, evecs = evals.flip(0), evecs.flip(1)
    tol = evals[0].clamp_min(0) * max(n, units) * torch.finfo(torch.float64).eps
    keep = int(min(k, units, n - 1, int((evals > tol).sum())))
    return mean, evals[:keep], evecs[:, :keep], step


def _basis_blocks(acts: torch.Tensor, evecs: torch.Tensor, scale: torch.Tensor, step: int):
    """The float32 basis ``acts^T evecs * scale``, one block of units at a time: (start, block)."""
    for j in range(0, acts.shape[1], step):
        yield j, ((acts[:, j:j + step].double().T @ evecs) * scale).float()


def _flip_signs(col_max: torch.Tensor, col_min: torch.Tensor) -> torch.Tensor:
    """sklearn's svd_flip on components: each component's largest-magnitude entry positive."""
    return torch.where(col_max >= -col_min, 1.0, -1.0)


def fit_pca_from(acts: torch.Tensor, k: int) -> LayerPCA:
    """Exact PCA of ``acts`` (n x units), equal to sklearn's ``PCA(k).fit`` up to component signs.

    Works on the n x n Gram matrix in float64, so units may be in the millions. Keeps at most
    ``n - 1`` components: a centred set of n points spans n - 1 directions; any further sklearn
    component is an arbitrary null direction and carries noise, not signal.
    """
    n, units = acts.shape
    mean, evals, evecs, step = _centred_eig(acts, k)
    basis = torch.empty(units, evecs.shape[1], dtype=torch.float32, device=acts.device)
    for j, blk in _basis_blocks(acts, evecs, evals.sqrt().reciprocal(), step):
        basis[j:j + step] = blk
    # column maxima and minima: two vectorised reductions, no |basis| copy and no strided argmax
    basis *= _flip_signs(basis.amax(0), basis.amin(0)).to(basis.dtype)
    return LayerPCA(mean, basis, (evals / max(n - 1, 1)).float().cpu())


def gram_scores(acts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The projections of ``acts`` (n x units) onto their own PCA basis, without the basis: when the
    reference set is the stimuli, ``(X - mean) @ basis = U sqrt(λ)`` from the Gram's eigendecomposition.

    Equal to ``fit_pca_from(acts, k).project(acts)`` (same components, same signs; more exact, as
    nothing passes through a float32 basis) and holds no units x k basis: the signs come from the
    basis's column extremes, computed one block at a time. Returns (n x k scores, explained variance).
    """
    n = acts.shape[0]
    _, evals, evecs, step = _centred_eig(acts, k)
    signs = _basis_signs(acts, evals, evecs, step).to(torch.float64)
    scores = (evecs * (evals.clamp_min(0).sqrt() * signs)).float()
    return scores, (evals / max(n - 1, 1)).float().cpu()


def _basis_signs(acts: torch.Tensor, evals: torch.Tensor, evecs: torch.Tensor, step: int,
                 margin: float = 1e-3) -> torch.Tensor:
    """The signs :func:`fit_pca_from` gives its basis columns, without the basis. The column extremes come
    from a float32 product (5x faster than the float64 one); a column whose largest positive and negative
    entries are within ``margin`` of each other — where float32 rounding could tip the choice — is
    recomputed exactly as the basis is (float64, scaled, cast)."""
    keep = evecs.shape[1]
    col_max = torch.full((keep,), -torch.inf, device=acts.device)
    col_min = torch.full((keep,), torch.inf, device=acts.device)
    e32 = evecs.float()
    for j in range(0, acts.shape[1], step):
        blk = acts[:, j:j + step].T @ e32  # the positive 1/sqrt(λ) scale changes no sign
        col_max, col_min = torch.maximum(col_max, blk.amax(0)), torch.minimum(col_min, blk.amin(0))
    near = ((col_max + col_min).abs() <= margin * torch.maximum(col_max.abs(), col_min.abs())).nonzero().flatten()
    if len(near):
        col_max[near], col_min[near] = -torch.inf, torch.inf
        for _, blk in _basis_blocks(acts, evecs[:, near], evals[near].sqrt().reciprocal(), step):
            col_max[near] = torch.maximum(col_max[near], blk.amax(0))
            col_min[near] = torch.minimum(col_min[near], blk.amin(0))
    return _flip_signs(col_max, col_min)
