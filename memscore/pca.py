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
        return LayerPCA(self.mean.to(device), self.basis.to(device), self.explained_variance)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        # x @ B - mean @ B: no centred copy of the (batch x units) activations
        if self._offset is None:
            self._offset = self.mean @ self.basis
        return torch.addmm(self._offset, x.float(), self.basis, beta=-1)

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
        return LayerPCA(d["mean"], d["basis"], d["explained_variance"])

    def prefetch(self) -> None:
        """Ask the OS to start reading the file into its page cache (returns at once)."""
        if hasattr(os, "posix_fadvise"):
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            finally:
                os.close(fd)


def fit_pca_from(acts: torch.Tensor, k: int) -> LayerPCA:
    """Exact PCA of ``acts`` (n x units), equal to sklearn's ``PCA(k).fit`` up to component signs.

    Works on the n x n Gram matrix in float64, so units may be in the millions. Keeps at most
    ``n - 1`` components: a centred set of n points spans n - 1 directions; any further sklearn
    component is an arbitrary null direction and carries noise, not signal.
    """
    n, units = acts.shape
    mean64 = acts.sum(0, dtype=torch.float64) / n
    mean = mean64.float()
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
    evals, evecs = evals[:keep], evecs[:, :keep]
    scale = evals.sqrt().reciprocal()
    basis = torch.empty(units, keep, dtype=torch.float32, device=acts.device)
    for j in range(0, units, step):
        blk = acts[:, j:j + step].double()
        basis[j:j + step] = ((blk.T @ evecs) * scale).float()
    # deterministic signs (sklearn's svd_flip on components): largest |entry| positive, found from the
    # column maxima and minima (two vectorised reductions, no |basis| copy and no strided argmax)
    signs = torch.where(basis.amax(0) >= -basis.amin(0), 1.0, -1.0).to(basis.dtype)
    basis *= signs
    return LayerPCA(mean, basis, (evals / max(n - 1, 1)).float().cpu())
