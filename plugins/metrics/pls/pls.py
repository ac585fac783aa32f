"""PLS regression with the exact semantics of sklearn's ``PLSRegression(scale=False)``, made fast.

sklearn runs NIPALS (mode A, regression deflation) on the n × p data: each of the 25 components
reads X three times and rewrites it once, so one fit on 45,000 × 1000 streams ~35 GB. Yet every
quantity NIPALS uses is an inner product, so the same iterations can run on cross-products:

``gram`` (feature space)
    S = XcᵀXc (p×p), C = XcᵀYc (p×m), YcᵀYc (m×m). Deflating X by its score t = Xk w and loading
    p = Xkᵀt/tᵀt (Xk+1 = Xk − t pᵀ) and Y by q = Ykᵀt/tᵀt is a rank-one update of each, because
    Xkᵀt = (tᵀt)p and Ykᵀt = (tᵀt)q:
    S ← S − (tᵀt) p pᵀ,  C ← C − (tᵀt) p qᵀ,  YᵀY ← YᵀY − (tᵀt) q qᵀ.
    X is read by one BLAS syrk plus one thin product for XᵀY and the column sums; centring is the
    rank-one correction S = XᵀX − n μμᵀ, so X is never copied.
``kernel`` (sample space, for n < p)
    K = XcXcᵀ (n×n); a weight is kept as w = Xcᵀα and deflation projects K off the scores.
``direct``
    S is applied as Xcᵀ(Xc w) without being formed: used when neither p² nor n² fits in memory,
    when p is so large that forming S costs more than the passes over X, or when X is small
    enough to stay in cache, where its passes are cheap (1,280 × 400: 50 passes 2.5 ms, S 4.6 ms).

Each form reproduces sklearn's power method: same start column (the first non-constant one), same
stopping test ``||w − w_old||² < tol`` and ``max_iter``, one iteration for one target, hence the
same iteration counts (``n_iter_``) and predictions equal to rounding. The iteration itself runs in
target space, a ← (CkᵀCk) a, which is what sklearn's alternation amounts to, so a step costs m²
instead of two passes over X. The sign flip sklearn applies to each weight is skipped: it flips
w, t, p and q together and leaves the predictions unchanged.

Folds (:func:`fit_predict`) share work: one pass over X gives every fold's column sums and XᵀY
(when the folds' targets are rows of one table, as the neural benchmarks' splits are, each fold's
XᵀY and YᵀY are the whole table's minus its few left-out rows', see :func:`_cross_products`);
every row enters one Gram product however many folds train on it (see :func:`_train_grams`);
in sample space every fold's kernel is a block of one N × N kernel.

On the CPU the iterations run in NumPy (see :class:`_NumPyOps`, :func:`_power_method`) on one
thread (:func:`_cpu_threads`), and only the big products (Grams) use every thread: a component is
a few dozen µs-sized ops, where torch's dispatch costs ~5 µs an op and a second thread a barrier.
Against ikpls's NumPy Improved Kernel PLS (``benchmarks/pls_vs_ikpls.py``) this is what makes a
small fit (1,280 × 400 → 60 targets) faster, not slower.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from memscore.blas import blas_threads

__all__ = ["FitFold", "PLSRegression", "PLSMetric", "fit_predict"]

METHODS = ("auto", "gram", "kernel", "direct")
#: largest p×p (gram) or N×N (kernel) cross-product matrix "auto" will allocate, in bytes
MAX_CROSS_BYTES = 4 * 2**30
#: one memory pass over an n×p float64 matrix costs about as much as this many n·p flops of a
#: syrk (measured on a 2-core AVX-512 CPU: pass 0.018 s, syrk 0.35 s for 45,000 × 1000) ...
_PASS_COST = 25.0
#: ... and this many for a matrix that stays in cache, below ``_MIN_THREADED_ELEMENTS`` (2-core EPYC,
#: one thread: 1,280 × 400 pass 0.05 ms, syrk 4.6 ms; 2,560 × 400 0.10 ms, 8.9 ms)
_CACHED_PASS_COST = 2.5
#: a component whose score has tᵀt below this fraction of the total variance of X lies in
#: rounding noise: X's rank is used up. sklearn would divide by it and return garbage.
_RANK_RTOL = {8: 1e-11, 4: 1e-5}  # by the float's size in bytes (torch or NumPy dtype)
#: fold Grams are summed from per-atom Grams only if there are at most this many atoms and they
#: average this many rows (below that BLAS runs slowly and the sums cost more than they save)
_MAX_ATOMS, _MIN_ATOM_ROWS = 64, 512
#: X below this many elements is fitted on one CPU thread, torch's and NumPy's BLAS (a 512 × 511
#: layer: 5 folds in 0.02 s on one thread, 0.1 s on two of a quiet 2-core machine, seconds on a busy one)
_MIN_THREADED_ELEMENTS = 2**21


@dataclass
class FitFold:
    """One fit of :func:`fit_predict`: rows ``train`` of X with targets ``y_train`` fit, rows ``test`` are predicted
    (the metric contract's :class:`memscore.metrics.Fold` with its train targets)."""

    train: np.ndarray
    y_train: np.ndarray
    test: np.ndarray


@dataclass
class _Task:
    """A validated fold on X's device: ``train`` is None when it is every row (no copy needed)."""

    train: torch.Tensor | None
    n: int
    yc: torch.Tensor  # centred targets (n, m); columns sklearn treats as constant are exactly 0
    y_mean: torch.Tensor  # (m,)
    test: torch.Tensor | None
    one_d: bool
    y: np.ndarray | None = None  # the targets as given (n, m), float64 on the host
    rows: np.ndarray | None = None  # ``train`` on the host


# --------------------------------------------------------------------------- input handling


def _as_tensor(a, name: str, dtype: torch.dtype, device) -> torch.Tensor:
    """``a`` as a tensor of ``dtype`` on ``device`` (default: where it is), without copying when possible."""
    if isinstance(a, torch.Tensor):
        t = a.detach()
    else:
        arr = np.asarray(a)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        with warnings.catch_warnings():  # read-only arrays are fine: X is never written to
            warnings.simplefilter("ignore", UserWarning)
            t = torch.as_tensor(arr)
    if t.is_complex():
        raise ValueError(f"{name} must be real, got dtype {t.dtype}")
    return t.to(device=t.device if device is None else torch.device(device), dtype=dtype)


def _as_matrix(X, dtype, device) -> torch.Tensor:
    X = _as_tensor(X, "X", dtype, device)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples × features), got shape {tuple(X.shape)}")
    return X


def _indices(idx, n_rows: int, what: str) -> np.ndarray:
    idx = np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx)
    if idx.dtype == bool:
        if idx.shape != (n_rows,):
            raise ValueError(f"{what}: boolean mask has shape {idx.shape}, X has {n_rows} rows")
        idx = np.flatnonzero(idx)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise ValueError(f"{what}: expected a 1-D array of integer row indices, got {idx.dtype} {idx.shape}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_rows):
        raise ValueError(f"{what}: indices out of range for X with {n_rows} rows")
    return idx


def _targets(y, n: int, what: str, dtype, device) -> tuple[torch.Tensor, torch.Tensor, bool, np.ndarray]:
    """Centre targets as sklearn does, zeroing columns whose residual is below 10·eps everywhere.
    Returns the centred targets, their means, whether y was 1-D, and y as a float64 (n, m) array."""
    y = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    if y.ndim not in (1, 2):
        raise ValueError(f"{what}: y must be 1-D or 2-D, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"{what}: y has {y.shape[0]} rows but there are {n} training rows")
    if not np.isfinite(y).all():
        raise ValueError(f"{what}: y contains NaN or infinite values")
    one_d = y.ndim == 1
    y2 = y.reshape(n, -1)
    y_mean = y2.mean(axis=0)
    yc = y2 - y_mean
    yc[:, np.all(np.abs(yc) < 10 * np.finfo(np.float64).eps, axis=0)] = 0.0
    to = dict(dtype=dtype, device=device)
    return torch.as_tensor(yc, **to), torch.as_tensor(y_mean, **to), one_d, y2


def _tasks(X: torch.Tensor, folds: Sequence[FitFold]) -> list[_Task]:
    N = X.shape[0]
    tasks = []
    for i, fold in enumerate(folds):
        what = f"fold {i}"
        train = _indices(fold.train, N, f"{what} train")
        test = _indices(fold.test, N, f"{what} test")
        if train.size < 2:
            raise ValueError(f"{what}: needs at least 2 training rows, got {train.size}")
        if np.count_nonzero(np.bincount(train, minlength=N) > 1):  # O(N), where np.unique sorts
            raise ValueError(f"{what}: train indices repeat")
        yc, y_mean, one_d, y = _targets(fold.y_train, train.size, what, X.dtype, X.device)
        all_rows = train.size == N and bool((train == np.arange(N)).all())
        as_t = lambda a: torch.as_tensor(a, device=X.device)  # noqa: E731
        tasks.append(_Task(None if all_rows else as_t(train), train.size, yc, y_mean, as_t(test), one_d, y, train))
    return tasks


# --------------------------------------------------------------------------- cross-products


def _gram(X: torch.Tensor, outer: bool = False) -> torch.Tensor:
    """XᵀX (or XXᵀ with ``outer``), computing each pair once where BLAS allows.

    On CPU numpy's matmul spots the ``A.T @ A`` pattern and calls syrk on the array as it lies
    (no transpose copy), which measured 0.35 s for 45,000 × 1000 against 0.49 s for torch's gemm
    and 0.37 s for torch on upper-triangular column blocks. On GPU a plain gemm is fast enough.
    """
    if X.device.type == "cpu":
        A = X.numpy()
        return torch.from_numpy(A @ A.T if outer else A.T @ A)
    G = X @ X.T if outer else X.T @ X
    return G.triu() + G.triu(1).T  # exactly symmetric


#: a product whose result has at most this many rows (or columns) is a pass over X bound by memory,
#: run on one CPU thread: OpenBLAS on two threads of a loaded 2-core machine took 1.2 s for 3 × 58,741
#: by 58,741 × 1000, and 47 ms on one (on a quiet one, two threads gain ~1.5× at best)
_PASS_ROWS = 16


def _take(X: torch.Tensor, idx) -> torch.Tensor:
    """X[idx], a copy of some rows (idx: indices or a mask, tensor or array). On the CPU by NumPy,
    whose gather is 3× torch's (20,000 of 58,741 × 1000 rows: 40 ms against 125 ms)."""
    if X.device.type == "cpu":
        return torch.from_numpy(X.numpy()[idx.numpy() if isinstance(idx, torch.Tensor) else idx])
    return X[torch.as_tensor(idx, device=X.device)]


def _left_mul(A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """A @ X for a short, wide A (k × N): one streaming pass over X. On CPU numpy's BLAS does this
    in 0.025 s for 45,000 × 1000 and k = 3-11, torch's 0.023-0.038 s, and torch's Xᵀ @ Aᵀ 0.03-0.07 s
    (on two threads of a quiet machine; for k ≤ ``_PASS_ROWS`` it runs on one, see there)."""
    if X.device.type == "cpu":
        with _cpu_threads(1 if A.shape[0] <= _PASS_ROWS else torch.get_num_threads(), X.device):
            return torch.from_numpy(A.numpy() @ X.numpy())
    return A @ X


def _pass_cost(elements: int) -> float:
    return _CACHED_PASS_COST if elements < _MIN_THREADED_ELEMENTS else _PASS_COST


def _choose_method(N: int, p: int, tasks: list[_Task], n_components: int) -> str:
    """Cheapest form that fits in memory, by a rough cost model in syrk flops, where one memory
    pass over an n×p matrix counts ``_PASS_COST``·n·p (``_CACHED_PASS_COST``·n·p if it stays in
    cache). Per component: gram one p×p product, kernel three n×n products (plus YᵀKY once),
    direct two passes over the training rows. A small X thus goes "direct": 50 passes over a
    1,280 × 400 X take 2.5 ms, its Gram 4.6 ms."""
    ns, ms = [t.n for t in tasks], [t.yc.shape[1] for t in tasks]
    cost = {
        "gram": p * p / 2 * min(sum(ns), N + sum(min(n, N - n) for n in ns))
        + len(ns) * n_components * _pass_cost(p * p) * p * p,
        "kernel": N * N * p / 2 + sum(n * n * (m + 3 * n_components * _pass_cost(n * n)) for n, m in zip(ns, ms)),
        "direct": sum(2 * n_components * _pass_cost(n * p) * n * p for n in ns),
    }
    if p * p * 8 > MAX_CROSS_BYTES:
        del cost["gram"]
    if N * N * 8 > MAX_CROSS_BYTES:
        del cost["kernel"]
    return min(cost, key=cost.get)


# --------------------------------------------------------------------------- NIPALS


@contextmanager
def _cpu_threads(n: int, device: torch.device):
    """Run torch CPU ops, and NumPy's BLAS (the Gram, XᵀY and the power method), on ``n`` threads
    inside the block.

    NIPALS is a loop of small products; with two OpenMP threads each one waits at a barrier, and
    when the cores are shared a descheduled thread turns that wait into a scheduler time slice.
    Measured on a loaded 2-core machine: a 25-component fit on a 300 × 300 kernel took 0.05 s on
    one thread and 20-30 s on two; NumPy's OpenBLAS did XᵀX of 1,280 × 400 in 4.5 ms on one thread
    and 28 ms on two. Big products (passes over X) switch back to all threads.
    """
    if device.type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        with blas_threads(n):
            yield
    finally:
        if n != old:
            torch.set_num_threads(old)


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=6)  # the caller of fit / fit_predict


def _rank_used_up(value, total_var: float, dtype) -> bool:
    """True when a score's tᵀt (or ||Xkᵀu||²/uᵀu) is rounding noise, or not a number at all."""
    return not float(value) > _RANK_RTOL.get(dtype.itemsize, 1e-3) * total_var


#: power-method steps taken between two evaluations of the stopping test (see :func:`_power_method`)
_POWER_BLOCK = 16


def _power_method(M, j: int, max_iter: int, tol: float):
    """sklearn's power method for the first x-weight, run in target space on M = CkᵀCk (m×m).

    sklearn alternates w ∝ Ckᵀ-side products: w ∝ Ck a (a: the y-score's coefficients over Y's
    columns), then a ∝ Ckᵀ w, so a evolves as a ← M a up to positive factors, which only enter
    sklearn's arithmetic through ``eps``-sized terms. Its stopping test on unit weights is
    ||w − w_old||² = 2 − 2 aᵀM a_old / √(aᵀMa · a_oldᵀMa_old). Starting from column j, returns
    a for the final w ∝ Ck a and the iteration count (one for a single target, as in sklearn).

    The steps run unnormalised, b_{k+1} = (M/τ) b_k with τ = trace M ≥ λmax (so a block of steps
    neither overflows nor underflows): with a_k ∝ b_k and M symmetric the test at step k reads
    2 − 2 b_{k−1}·b_{k+1} / √(b_k·b_{k+1} · b_{k−1}·b_k), and sklearn's scaling of the iterate
    (a_k = M a_{k−1} / √(a_{k−1}ᵀ M a_{k−1})) is a_k = b_k √(τ / b_{k−1}·b_k). So each step is one
    matrix-vector product, and the test is evaluated for a block of ``_POWER_BLOCK`` steps at once,
    stopping at the same step as the one-at-a-time loop (a few steps past it are wasted).

    It runs in NumPy on the CPU whatever M's device (M is a NumPy array or a tensor; a comes back
    as the same): a step is µs of work and sklearn may take hundreds per component, where torch
    spends ~5 µs dispatching each op and would sync a GPU on each test. For m = 60 a step takes
    ~1.8 µs, against ~3.4 µs stepping and testing one at a time in NumPy and ~35 µs in torch.
    """
    Mn = M if isinstance(M, np.ndarray) else M.detach().cpu().numpy()
    back = (lambda a: a) if isinstance(M, np.ndarray) else (lambda a: torch.from_numpy(a).to(M.device))  # noqa: E731
    m = Mn.shape[0]
    if m == 1 or max_iter < 1:
        a = np.zeros(m, dtype=Mn.dtype)
        a[j] = 1.0
        return back(a), 1
    tau = float(np.trace(Mn))
    if not (tau > 0.0 and math.isfinite(tau)):  # M is zero or broken: the steps give NaN, as sklearn's would
        tau = 1.0
    Ms = Mn / tau
    V = np.empty((_POWER_BLOCK + 2, m), dtype=Mn.dtype)  # rows: b_{base−1}, b_base, ..., b_{base+steps}
    V[:2] = 0.0
    V[1, j] = 1.0
    base = 0
    with np.errstate(all="ignore"):  # a zero or NaN step propagates silently, as it did in torch
        while True:
            steps = min(_POWER_BLOCK, max_iter - base)
            for r in range(1, steps + 1):
                np.dot(Ms, V[r], out=V[r + 1])
            B = V[:steps + 2]
            same = np.einsum("ij,ij->i", B[:-1], B[1:])  # b_{k−1}·b_k for k = base .. base+steps
            skip = np.einsum("ij,ij->i", B[:-2], B[2:])  # b_{k−1}·b_{k+1} for k = base .. base+steps−1
            test = 2.0 - 2.0 * skip / np.sqrt(same[1:] * same[:-1])
            if base == 0:
                test[0] = np.inf  # no test at the first step
            hits = np.flatnonzero(test < tol)
            if hits.size or base + steps >= max_iter:
                r = int(hits[0]) if hits.size else steps  # stopped at step base + r, or ran out at max_iter
                scale = math.sqrt(tau / same[r]) if same[r] > 0.0 else math.nan
                return back(B[r + 1] * scale), base + r + 1 if hits.size else max_iter
            base += steps
            norm = math.sqrt(float(B[steps + 1] @ B[steps + 1]))
            V[0], V[1] = B[steps] / norm, B[steps + 1] / norm  # rescaled alike: the tests are ratios


class _NumPyOps:
    """What NIPALS needs beyond operators, for NumPy arrays: on the CPU it runs in NumPy, whose ops
    cost ~1 µs against torch's ~5, which adds up over ~40 small ops a component (m = 60, p = 400)."""

    outer = staticmethod(np.outer)

    @staticmethod
    def copy(a):
        return np.array(a, order="C")

    @staticmethod
    def zeros(like, *shape):
        return np.zeros(shape, dtype=like.dtype)

    @staticmethod
    def nonzero(mask) -> list[int]:
        return np.flatnonzero(mask).tolist()

    @staticmethod
    def rank1_(A, x, y, alpha: float) -> None:
        """A += alpha·x yᵀ in place, by BLAS ger on Aᵀ (Fortran order): no p×m temporary."""
        if A.flags.c_contiguous and A.dtype in (np.float64, np.float32):
            from scipy.linalg.blas import get_blas_funcs

            out = get_blas_funcs("ger", (A,))(alpha, y, x, a=A.T, overwrite_a=True)
            if not np.shares_memory(out, A):
                A[...] = out.T
        else:
            A += np.outer(alpha * x, y)


class _TorchOps:
    """The same for tensors (a GPU's)."""

    copy = staticmethod(torch.clone)
    outer = staticmethod(torch.outer)

    @staticmethod
    def zeros(like, *shape):
        return like.new_zeros(shape)

    @staticmethod
    def nonzero(mask) -> list[int]:
        return torch.nonzero(mask).flatten().tolist()

    @staticmethod
    def rank1_(A, x, y, alpha: float) -> None:
        A.addr_(x, y, alpha=alpha)


def _nipals_features(sop: Callable, C, Yy, n_components: int, max_iter: int, tol: float, total_var: float):
    """sklearn's NIPALS on cross-products: ``sop(w)`` = XcᵀXc w, C = XcᵀYc, Yy = YcᵀYc.

    Per component: the power method on M = CkᵀCk (target space), one product with S for the
    score's tᵀt and loading, and rank-one deflations of C, Yy and M. S is deflated implicitly
    (Sk w = S w − P diag(tᵀt) Pᵀw), which costs p·k instead of a p² update. Returns W, P (p×k),
    Q (m×k) and the power-method iterations per component (sklearn's ``n_iter_``). Arrays are
    NumPy arrays (CPU) or tensors, all of one kind; the scalars are Python floats either way.
    """
    xp = _NumPyOps if isinstance(C, np.ndarray) else _TorchOps
    p, m = C.shape
    eps = float(np.finfo(np.float32 if C.dtype.itemsize == 4 else np.float64).eps)
    C, Yy, M = xp.copy(C), xp.copy(Yy), C.T @ C  # copies are C-ordered (rank1_ updates them in place)
    W, P = xp.zeros(C, p, n_components), xp.zeros(C, p, n_components)
    Q, tts = xp.zeros(C, m, n_components), xp.zeros(C, n_components)
    active = xp.nonzero(Yy.diagonal() > 0)  # columns sklearn zeroed stay exactly zero
    single = m == 1  # one target: the power method is one step with a = [1], and M is never needed
    k, iters = 0, []
    while k < n_components:
        if not active:
            _warn(f"y residual is constant at iteration {k}")
            break
        if single:
            w, uu, n_iter = C[:, 0], float(Yy[0, 0]), 1
        else:
            a, n_iter = _power_method(M, active[0], max_iter, tol)  # sklearn starts from the first non-constant column
            if n_iter == max_iter:
                _warn(f"PLS component {k}: power method reached max_iter={max_iter}")
            w, uu = C @ a, float(a @ (Yy @ a))
        # sklearn: (Xkᵀu / uᵀu) / (||Xkᵀu / uᵀu|| + eps), uᵀu = aᵀ Yyk a
        w = w / (math.sqrt(float(w @ w)) + eps * max(uu, 0.0))
        Sw = sop(w)
        if k:
            Sw -= P[:, :k] @ (tts[:k] * (P[:, :k].T @ w))
        tt = float(w @ Sw)
        if _rank_used_up(tt, total_var, C.dtype):
            _warn(f"X has rank {k} < n_components={n_components}: PLS stopped after {k} components")
            break
        q, p_k = (C.T @ w) / tt, Sw / tt
        if not single:  # M = CkᵀCk deflated with Ck+1 = Ck − tt p qᵀ: M −= h qᵀ + q hᵀ
            h = tt * (C.T @ p_k) - (0.5 * tt * tt * float(p_k @ p_k)) * q
            O = xp.outer(h, q)
            M -= O + O.T  # exactly symmetric
        xp.rank1_(C, p_k, q, -tt)
        xp.rank1_(Yy, q, q, -tt)
        W[:, k], P[:, k], Q[:, k], tts[k] = w, p_k, q, tt
        iters.append(n_iter)
        k += 1
    return W[:, :k], P[:, :k], Q[:, :k], iters


def _nipals_samples(Kc: torch.Tensor, Y: torch.Tensor, n_components: int, max_iter: int, tol: float):
    """sklearn's NIPALS in sample space on the centred kernel Kc = XcXcᵀ and explicit residual Y.

    A weight w = Xkᵀu / ||·|| is kept as α with w = Xkᵀα, so ||Xkᵀu||² = uᵀKku and t = Xk w = Kkα,
    where Kk = Πk Kc Πk and Πk projects off the earlier scores. The power method runs on
    M = YkᵀKkYk (= CkᵀCk), deflated with one product z = Kk t per component:
    M ← M − (Ykᵀz qᵀ + q zᵀYk) + (tᵀz) q qᵀ. Returns A (n×k) with w = XcᵀA[:, j] (undeflated Xc),
    scores T (n×k), their tᵀt, Q (m×k) and the iterations.
    """
    n, m = Y.shape
    eps = torch.finfo(Y.dtype).eps
    total_var = Kc.diagonal().sum().item()
    Y = Y.clone()
    M = Y.T @ (Kc @ Y)
    T, A = Y.new_zeros(n, n_components), Y.new_zeros(n, n_components)
    Q, tts = Y.new_zeros(m, n_components), Y.new_zeros(n_components)

    def kk(v):  # Kk v = Πk Kc Πk v
        proj = lambda x: x - T[:, :k] @ ((T[:, :k].T @ x) / tts[:k])  # noqa: E731
        return proj(Kc @ proj(v))

    k, iters = 0, []
    while k < n_components:
        zeroed = torch.all(Y.abs() < 10 * eps, dim=0)  # sklearn's mask, re-applied each component
        Y[:, zeroed] = 0.0
        M[zeroed, :] = 0.0
        M[:, zeroed] = 0.0
        nonzero = torch.nonzero(torch.any(Y.abs() > eps, dim=0)).flatten().tolist()
        if not nonzero:
            _warn(f"y residual is constant at iteration {k}")
            break
        a, n_iter = _power_method(M, nonzero[0], max_iter, tol)
        if n_iter == max_iter:
            _warn(f"PLS component {k}: power method reached max_iter={max_iter}")
        u = Y @ a if m > 1 else Y[:, 0]
        Ku = kk(u)
        s, uKu = u @ u, u @ Ku  # uᵀKku = ||Xkᵀu||²: noise once X's rank is used up
        scale = 1.0 / (torch.sqrt(torch.clamp(uKu, min=0.0)) + eps * s)  # sklearn's w = Xkᵀu/(||Xkᵀu|| + eps·uᵀu)
        alpha, t = u * scale, Ku * scale
        tt = t @ t
        if _rank_used_up(tt, total_var, Y.dtype) or _rank_used_up(uKu / s, total_var, Y.dtype):
            _warn(f"X has rank {k} < n_components={n_components}: PLS stopped after {k} components")
            break
        q = (Y.T @ t) / tt
        z = kk(t)
        Yz = Y.T @ z
        M -= torch.outer(Yz, q) + torch.outer(q, Yz) - (t @ z) * torch.outer(q, q)
        A[:, k] = alpha - T[:, :k] @ ((T[:, :k].T @ alpha) / tts[:k])  # Πk α, so that w = Xcᵀ A[:, k]
        T[:, k], Q[:, k], tts[k] = t, q, tt
        Y.addr_(t, q, alpha=-1.0)
        iters.append(n_iter)
        k += 1
    return A[:, :k], T[:, :k], tts[:k], Q[:, :k], iters


def _rotate(PW, Q):
    """pinv(PᵀW) Qᵀ, as sklearn's x_rotations_ = W pinv(PᵀW) (same default cut-off, max(k,k)·eps).
    NumPy arrays (the CPU: NumPy's pinv of 25 × 25 takes 0.1 ms, torch's 0.4) or tensors."""
    if isinstance(PW, np.ndarray):
        return np.linalg.pinv(PW, rcond=max(PW.shape) * np.finfo(PW.dtype).eps) @ Q.T
    return torch.linalg.pinv(PW) @ Q.T


# --------------------------------------------------------------------------- drivers


def _train_grams(X: torch.Tensor, tasks: list[_Task]):
    """Yield each task's XᵀX over its training rows, sharing the products across folds.

    Rows with the same fold membership form an atom: one syrk per atom, and each fold's Gram is
    the sum of its atoms' Grams, so every row enters one product however many folds train on it
    (5 LaMem splits: 58,741 rows once, not 5 × 45,000; 10-fold CV: N rows, not 9N). When atoms
    are many and small (BLAS would run slowly) or the fold sums don't fit in memory, a fold's
    Gram is the full Gram minus its left-out rows' Gram when those are fewer, else its own.
    """
    N, p = X.shape
    if len(tasks) == 1:  # nothing to share
        yield _gram(X if tasks[0].train is None else _take(X, tasks[0].train))
        return
    member = np.zeros((N, len(tasks)), dtype=bool)
    for f, t in enumerate(tasks):
        member[slice(None) if t.train is None else _host_rows(t), f] = True
    if len(tasks) <= 62:  # a row's membership as a bit mask: sorting integers, not N rows of booleans
        codes, atom_of_row = np.unique(member @ (1 << np.arange(len(tasks), dtype=np.int64)), return_inverse=True)
        patterns = (codes[:, None] >> np.arange(len(tasks))) & 1 == 1
    else:
        patterns, atom_of_row = np.unique(member, axis=0, return_inverse=True)
    atom_of_row = atom_of_row.ravel()
    atoms = np.flatnonzero(patterns.any(axis=1))
    in_train = int(member.any(axis=1).sum())
    if len(atoms) <= _MAX_ATOMS and in_train >= _MIN_ATOM_ROWS * len(atoms) and len(tasks) * p * p * 8 <= MAX_CROSS_BYTES:
        grams = [None] * len(tasks)
        order = np.argsort(atom_of_row, kind="stable")  # rows grouped by atom, in order within each
        bounds = np.searchsorted(atom_of_row[order], np.arange(len(patterns) + 1))
        for a in atoms:
            rows = order[bounds[a]:bounds[a + 1]]
            G = _gram(X if rows.size == N else _take(X, rows))
            with _cpu_threads(1, X.device):  # sums of p × p matrices: memory-bound
                for f in np.flatnonzero(patterns[a]):
                    grams[f] = G.clone() if grams[f] is None else grams[f].add_(G)
        yield from grams
        return
    G_all = _gram(X) if N + sum(min(t.n, N - t.n) for t in tasks) < sum(t.n for t in tasks) else None
    for t in tasks:
        if t.train is None:
            yield _gram(X) if G_all is None else G_all.clone()
        elif G_all is not None and N - t.n < t.n:
            keep = torch.ones(N, dtype=torch.bool, device=X.device)
            keep[t.train] = False
            yield G_all - _gram(_take(X, keep))
        else:
            yield _gram(_take(X, t.train))


def _shared_targets(tasks: list[_Task], N: int) -> tuple[np.ndarray, np.ndarray] | None:
    """One N × m table Y with ``y_train == Y[train]`` for every task (the folds of one data set, as the
    neural benchmarks' are), and the mask of rows some task trains on; None when the tasks' targets
    differ (LaMem's splits each have their own) or sharing would not pay (see :func:`_cross_products`)."""
    if len(tasks) < 2 or any(t.y is None or t.rows is None for t in tasks):
        return None
    m = tasks[0].y.shape[1]
    if any(t.y.shape[1] != m for t in tasks):
        return None
    U = np.zeros(N, dtype=bool)
    for t in tasks:
        U[t.rows] = True
    n_U = int(U.sum())
    per_task = 1 + len(tasks) + len(tasks) * m  # rows of Zᵀ, each a pass of N·p
    shared = m + 2 + sum((n_U - t.n) * (m + 1) for t in tasks) / N
    if shared >= per_task:
        return None
    Y = np.empty((N, m))
    for t in tasks:
        Y[t.rows] = t.y
    if not all(np.array_equal(Y[t.rows], t.y) for t in tasks):
        return None
    return Y, U


def _cross_products(X: torch.Tensor, tasks: list[_Task]) -> list[tuple]:
    """Per task (μ, XcᵀYc, YcᵀYc or None), from one thin pass over X that also checks it for NaN.

    The pass is Zᵀ X with Zᵀ's rows an all-ones row and, per task, its training-row indicator and
    its centred targets scattered to their rows. When the tasks' targets are rows of one table Y
    (:func:`_shared_targets`), Zᵀ holds Y once (centred over the rows U any task trains on) and each
    task's products are U's minus those of the few rows of U it leaves out: for 10 splits 90/10 of
    3,200 stimuli × 168 sites the pass has 170 rows instead of 1,691 (10.8 → 2.1 GFLOP with the
    left-out rows' products), and YcᵀYc comes the same way.
    """
    N, p = X.shape
    shared = _shared_targets(tasks, N)
    if shared is not None:
        return _shared_cross_products(X, tasks, *shared)
    widths = [t.yc.shape[1] for t in tasks]
    cpu = X.device.type == "cpu"  # Zᵀ is built in NumPy there, whose scatter is faster than torch's
    Zt = (np.zeros((1 + len(tasks) + sum(widths), N), dtype=X.numpy().dtype) if cpu
          else X.new_zeros(1 + len(tasks) + sum(widths), N))  # Zᵀ: rows are indicators and scattered targets
    Zt[0] = 1.0
    col = 1 + len(tasks)
    for i, t in enumerate(tasks):
        rows = slice(None) if t.train is None else (_host_rows(t) if cpu else t.train)
        Zt[1 + i, rows] = 1.0
        Zt[col:col + widths[i], rows] = t.yc.numpy().T if cpu else t.yc.T
        col += widths[i]
    XZ = _left_mul(torch.from_numpy(Zt) if cpu else Zt, X).T
    if not torch.isfinite(XZ[:, 0]).all():
        raise ValueError("X contains NaN or infinite values")
    out, col = [], 1 + len(tasks)
    with _cpu_threads(1, X.device):
        for i, t in enumerate(tasks):
            mu = XZ[:, 1 + i] / t.n
            C = XZ[:, col:col + widths[i]] - torch.outer(mu, t.yc.sum(0))  # XcᵀYc = XᵀYc − μ(1ᵀYc)
            col += widths[i]
            out.append((mu, C, None))
    return out


def _shared_cross_products(X: torch.Tensor, tasks: list[_Task], Y: np.ndarray, U: np.ndarray) -> list[tuple]:
    """:func:`_cross_products` for tasks whose targets are ``Y[train]``: Yu = Y − mean over U (zero off U),
    one pass Xᵀ[1, 1_U, Yu] for all, then per task the left-out rows O = U ∖ train: s = Σ_train x =
    Σ_U x − Σ_O x, XᵀYu = (XᵀYu)_U − X_OᵀYu_O, and with δ the task's mean of Yu (Yc = Yu − δ on its
    rows) XᵀYc = XᵀYu − s δᵀ (= XcᵀYc, as 1ᵀYc = 0) and YcᵀYc = (YuᵀYu)_U − Yu_OᵀYu_O − n δδᵀ."""
    N, p = X.shape
    m = Y.shape[1]
    Yu = np.where(U[:, None], Y - Y[U].mean(0), 0.0)
    Yu_t = torch.as_tensor(Yu, dtype=X.dtype, device=X.device)
    Zt = X.new_empty(m + 2, N)
    Zt[0] = 1.0
    Zt[1] = torch.as_tensor(U, device=X.device)
    Zt[2:] = Yu_t.T
    XZ = _left_mul(Zt, X).T
    if not torch.isfinite(XZ[:, 0]).all():
        raise ValueError("X contains NaN or infinite values")
    s_U, XY_U = XZ[:, 1], XZ[:, 2:]
    with _cpu_threads(1, X.device):
        YY_U, sum_U = Yu_t.T @ Yu_t, Yu_t.sum(0)
    out = []
    for t in tasks:
        member = np.zeros(N, dtype=bool)
        member[t.rows] = True
        left = torch.as_tensor(np.flatnonzero(U & ~member), device=X.device)
        X_O = _take(X, left)
        with _cpu_threads(_threads_for(X_O), X.device):
            if len(left):
                Y_O = Yu_t[left]
                Z_O = torch.cat([Y_O.new_ones(1, len(left)), Y_O.T])
                XZ_O = _left_mul(Z_O, X_O).T
                s, XY = s_U - XZ_O[:, 0], XY_U - XZ_O[:, 1:]
                YY, sum_y = YY_U - Y_O.T @ Y_O, sum_U - Y_O.sum(0)
            else:
                s, XY, YY, sum_y = s_U, XY_U, YY_U, sum_U
            delta = sum_y / t.n
            C = XY - torch.outer(s, delta)
            Yy = YY - t.n * torch.outer(delta, delta)
            zeroed = (t.yc == 0).all(0)  # columns sklearn treats as constant: exactly zero, as yc's are
            if zeroed.any():
                C[:, zeroed] = 0.0
                Yy[zeroed, :] = 0.0
                Yy[:, zeroed] = 0.0
        out.append((s / t.n, C, Yy))
    return out


def _host_rows(t: _Task) -> np.ndarray:
    return t.rows if t.rows is not None else t.train.cpu().numpy()


def _fit_features(X: torch.Tensor, tasks: list[_Task], method: str, n_components: int, max_iter: int,
                  tol: float) -> list[tuple[torch.Tensor, torch.Tensor, list[int]]]:
    """Per task: coef (p×m), x_mean (p,) and iterations, in feature space ("gram" or "direct")."""
    N, p = X.shape
    cross = _cross_products(X, tasks)
    grams = _train_grams(X, tasks) if method == "gram" else None
    # NIPALS and its small products run in NumPy on the CPU (see _NumPyOps), as torch on a GPU
    host = (lambda a: a.numpy()) if X.device.type == "cpu" else (lambda a: a)  # noqa: E731  (no copy)
    out = []
    for t, (mu, C, Yy) in zip(tasks, cross):
        if method == "gram":
            G = next(grams)  # the fold's XᵀX: a big product, on all threads
            with _cpu_threads(1, X.device):  # a pass over p × p: memory-bound
                S = G.addr_(mu, mu, alpha=-t.n)  # centring: XcᵀXc = XᵀX − n μμᵀ
                total_var = S.diagonal().sum().item()
            sop = host(S).__matmul__
        else:
            Xt = X if t.train is None else _take(X, t.train)
            total_var = (torch.linalg.vector_norm(Xt) ** 2 - t.n * (mu @ mu)).item()
            threads = _threads_for(Xt)  # big passes: all threads

            def sop(w, Xt=host(Xt), mu=host(mu), n=t.n, threads=threads, device=X.device):
                if threads == 1:  # NIPALS runs on one thread already
                    return Xt.T @ (Xt @ w) - (n * float(mu @ w)) * mu
                with _cpu_threads(threads, device):
                    return Xt.T @ (Xt @ w) - (n * float(mu @ w)) * mu
        # the rest is small products and µs-long ops: on one thread (see _cpu_threads)
        with _cpu_threads(1, X.device):
            if Yy is None:
                yc = host(t.yc)
                Yy = yc.T @ yc
            else:
                Yy = host(Yy)
            W, P, Q, iters = _nipals_features(sop, host(C), Yy, n_components, max_iter, tol, total_var)
            coef = torch.as_tensor(W @ _rotate(P.T @ W, Q)) if W.shape[1] else X.new_zeros(p, t.yc.shape[1])
        out.append((coef, mu, iters))
    return out


def _kernel_models(X: torch.Tensor, tasks: list[_Task], n_components: int, max_iter: int, tol: float):
    """Sample-space fits on blocks of one N×N kernel. Yields (task, K, train rows, r, g, dual coef D, iters),
    with predictions (X_te − μ)·coef = Kc_te D, Kc_te = K_te − rowmean(K_te) − r + g."""
    N = X.shape[0]
    K = _gram(X, outer=True)
    if not torch.isfinite(K.diagonal()).all():
        raise ValueError("X contains NaN or infinite values")
    for t in tasks:
        rows = torch.arange(N, device=X.device) if t.train is None else t.train
        Kt = K if t.train is None else K[rows[:, None], rows]
        r = Kt.mean(1)
        g = r.mean()
        Kc = Kt - r[:, None] - r[None, :] + g
        with _cpu_threads(1, X.device):
            A, T, tts, Q, iters = _nipals_samples(Kc, t.yc, n_components, max_iter, tol)
        if A.shape[1]:
            D = A @ _rotate((T.T @ (Kc @ A)) / tts[:, None], Q)  # PᵀW = diag(1/tᵀt) Tᵀ Kc A
        else:
            D = X.new_zeros(t.n, t.yc.shape[1])
        yield t, K, rows, r, g, D, iters


def _shape(pred: torch.Tensor, t: _Task) -> np.ndarray:
    out = pred.cpu().numpy()
    return out.ravel() if t.one_d else out


def fit_predict(X, folds: Sequence[FitFold], n_components: int = 25, device=None, *, max_iter: int = 500,
                tol: float = 1e-6, method: str = "auto", dtype: torch.dtype = torch.float64) -> list[np.ndarray]:
    """Fit PLS on each fold's training rows of X (one layer, N × p) and predict its test rows.

    Equal to ``sklearn.cross_decomposition.PLSRegression(n_components, scale=False)`` fitted per
    fold. Returns one array per fold, shaped (n_test,) for 1-D ``y_train`` else (n_test, m).
    ``method`` forces a form ("gram", "kernel", "direct"); "auto" picks the cheapest that fits.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    X = _as_matrix(X, dtype, device)
    with _cpu_threads(_threads_for(X), X.device):
        return _fit_predict(X, _tasks(X, folds), n_components, method, max_iter, tol)


def _threads_for(X: torch.Tensor) -> int:
    """One thread for a small X: its products are too short to split, and with two threads every
    one of the many small ops waits at a barrier (see :func:`_cpu_threads`)."""
    return torch.get_num_threads() if X.numel() >= _MIN_THREADED_ELEMENTS else 1


def _fit_predict(X: torch.Tensor, tasks: list[_Task], n_components: int, method: str, max_iter: int,
                 tol: float) -> list[np.ndarray]:
    if not tasks:
        return []
    N, p = X.shape
    if method == "auto":
        method = _choose_method(N, p, tasks, n_components)
    if method == "kernel":
        preds = []
        for t, K, rows, r, g, D, _ in _kernel_models(X, tasks, n_components, max_iter, tol):
            Kte = K[t.test[:, None], rows]
            Kte_c = Kte - Kte.mean(1, keepdim=True) - r[None, :] + g
            preds.append(_shape(Kte_c @ D + t.y_mean, t))
        return preds
    models = _fit_features(X, tasks, method, n_components, max_iter, tol)
    width = sum(c.shape[1] for c, _, _ in models)
    if width <= 32:  # few targets: one pass over X for every fold
        with _cpu_threads(1 if width <= _PASS_ROWS else torch.get_num_threads(), X.device):
            XB = X @ torch.cat([c for c, _, _ in models], dim=1)
        parts = torch.split(XB, [c.shape[1] for c, _, _ in models], dim=1)
        preds = [part[t.test] - mu @ c + t.y_mean for part, (c, mu, _), t in zip(parts, models, tasks)]
    else:
        preds = []
        for (c, mu, _), t in zip(models, tasks):
            X_test = _take(X, t.test)
            with _cpu_threads(_threads_for(X_test), X.device):  # a small product: one thread
                preds.append(X_test @ c - mu @ c + t.y_mean)
    return [_shape(pr, t) for pr, t in zip(preds, tasks)]


class PLSRegression:
    """sklearn's ``PLSRegression(n_components, scale=False)`` (NIPALS), computed on cross-products.

    ``coef_`` is (n_targets, n_features) as in sklearn; unlike sklearn, ``intercept_`` absorbs the
    centring (``intercept_ = y_mean_ − coef_ @ x_mean_``) so ``predict(X) = X @ coef_.T + intercept_``.
    Components beyond the rank of X are dropped (sklearn raises or returns noise there).
    """

    def __init__(self, n_components: int = 25, max_iter: int = 500, tol: float = 1e-6, device=None,
                 dtype: torch.dtype = torch.float64, method: str = "auto"):
        self.n_components, self.max_iter, self.tol = n_components, max_iter, tol
        self.device, self.dtype, self.method = device, dtype, method

    def fit(self, X, Y) -> "PLSRegression":
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components}")
        X = _as_matrix(X, self.dtype, self.device)
        N, p = X.shape
        if N < 2:
            raise ValueError(f"X needs at least 2 rows, got {N}")
        with _cpu_threads(_threads_for(X), X.device):
            return self._fit(X, Y)

    def _fit(self, X: torch.Tensor, Y) -> "PLSRegression":
        N, p = X.shape
        yc, y_mean, one_d, _ = _targets(Y, N, "fit", X.dtype, X.device)
        task = _Task(None, N, yc, y_mean, None, one_d)
        method = _choose_method(N, p, [task], self.n_components) if self.method == "auto" else self.method
        if method == "kernel":
            *_, D, iters = next(_kernel_models(X, [task], self.n_components, self.max_iter, self.tol))
            x_mean = X.mean(0)
            coef = X.T @ D - torch.outer(x_mean, D.sum(0))  # Xcᵀ D
        else:
            [(coef, x_mean, iters)] = _fit_features(X, [task], method, self.n_components, self.max_iter, self.tol)
        self._one_d, self.method_, self.n_iter_ = one_d, method, iters
        self.x_mean_ = x_mean.cpu().numpy()
        self.y_mean_ = y_mean.cpu().numpy()
        self.coef_ = coef.T.cpu().numpy()
        self.intercept_ = self.y_mean_ - self.coef_ @ self.x_mean_
        self._coef_t = coef  # (p, m) on the fit device
        return self

    def predict(self, X) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise ValueError("this PLSRegression is not fitted yet: call fit(X, Y) first")
        X = _as_matrix(X, self.dtype, self._coef_t.device)
        if X.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {self.coef_.shape[1]}")
        x_mean = torch.as_tensor(self.x_mean_, dtype=X.dtype, device=X.device)
        y_mean = torch.as_tensor(self.y_mean_, dtype=X.dtype, device=X.device)
        with _cpu_threads(_threads_for(X), X.device):
            pred = (X @ self._coef_t - x_mean @ self._coef_t + y_mean).cpu().numpy()
        if not np.isfinite(pred).all():  # a NaN or inf anywhere in a row reaches its prediction
            raise ValueError("X contains NaN or infinite values")
        return pred.ravel() if self._one_d else pred


class PLSMetric:
    """The ``pls`` regression metric (:mod:`memscore.metrics` contract): ``metric(X, Y, folds)`` fits
    ``X[train] -> Y[train]`` per fold (batched across folds) and returns the predictions for ``X[test]``."""

    def __init__(self, n_components: int = 25, device=None):
        self.n_components, self.device = n_components, device

    def __call__(self, X, Y, folds) -> list:
        from memscore.metrics import FoldResult, fold_targets

        inner = [FitFold(train=np.asarray(f.train), y_train=fold_targets(Y, k)[np.asarray(f.train)],
                      test=np.asarray(f.test)) for k, f in enumerate(folds)]
        preds = fit_predict(X, inner, n_components=self.n_components, device=self.device)
        return [FoldResult(prediction=p) for p in preds]

    def __repr__(self) -> str:
        return f"PLSMetric(n_components={self.n_components}, device={self.device!r})"
