"""``LBFGS``: torch's limited-memory BFGS, with its optional strong-Wolfe line search.

L-BFGS decides on the host: whether the curvature pair is kept, when to stop, how far
the line search steps. So ``step(closure)`` reads a few numbers per inner iteration
(as torch does) and runs eagerly, or in lazy mode with a flush per read; inside
``ej.compile`` those reads raise the usual host-read error (``fullgraph=False`` runs
the step eagerly). The vector math is ordinary tensor ops on one flat vector of all
parameters; scalars (step sizes, curvature products) are Python floats.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import _ops  # noqa: F401 - (the op table is loaded before these use it)
from .._autograd import enable_grad, no_grad
from .._tensor import Tensor
from ._optimizer import Optimizer

__all__ = ["LBFGS"]


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """Minimizer of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2), clipped to
    ``bounds`` (default: the interval); the midpoint when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = disc**0.5
    if x1 <= x2:
        m = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        m = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(m, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions (Nocedal & Wright, alg. 3.5
    and 3.6: bracket, then zoom by safeguarded cubic interpolation). ``evaluate(t)`` returns
    the loss and flat gradient there. Returns (loss, grad, t, evaluations)."""
    d_max = float(d.abs().max())
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = float(g_new.dot(d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    it = 0
    # Phase 1: grow t until an interval [lo, hi] surely holds a point meeting the conditions.
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev):
            br = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        if abs(gtd_new) <= -c2 * gtd:
            br = [[t, f_new, g_new, gtd_new]]
            done = True
            break
        if gtd_new >= 0:
            br = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        nxt = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = nxt
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        it += 1
    if it == max_ls:
        br = [[0.0, f, g, gtd], [t, f_new, g_new, gtd_new]]
    # Phase 2: shrink the interval around the best point found (``low``).
    low, high = (0, 1) if br[0][1] <= br[-1][1] else (1, 0)
    stalled = False
    while not done and it < max_ls:
        if abs(br[1][0] - br[0][0]) * d_max < tolerance_change:
            break
        t = _cubic_min(br[0][0], br[0][1], br[0][3], br[1][0], br[1][1], br[1][3])
        a, b = min(br[0][0], br[1][0]), max(br[0][0], br[1][0])
        eps = 0.1 * (b - a)
        if min(b - t, t - a) < eps:
            # Too close to an end: after a stall (or outside), move eps inside instead.
            if stalled or t >= b or t <= a:
                t = b - eps if abs(t - b) < abs(t - a) else a + eps
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= br[low][1]:
            br[high] = [t, f_new, g_new, gtd_new]
            low, high = (0, 1) if br[0][1] <= br[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (br[high][0] - br[low][0]) >= 0:
                br[high] = list(br[low])
            br[low] = [t, f_new, g_new, gtd_new]
    t, f_new, g_new, _ = br[low]
    return f_new, g_new, t, evals


class LBFGS(Optimizer):
    """``torch.optim.LBFGS``: ``step(closure)`` runs up to ``max_iter`` quasi-Newton
    iterations, each re-evaluating ``closure`` (which must zero the grads, compute the
    loss, call ``backward()`` and return the loss); one parameter group only."""

    def __init__(
        self,
        params,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= float(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group: dict) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # -- the flat parameter vector
    # A complex param counts as its real view (real and imaginary parts), as in torch.
    def _flat_grad(self) -> Tensor:
        from .. import cat, view_as_real, zeros

        out = []
        for p in self._params:
            g = zeros(p.shape, dtype=p.dtype) if p.grad is None else p.grad
            out.append((view_as_real(g) if g.is_complex() else g).reshape(-1))
        return cat(out)

    def _move(self, t: float, d: Tensor) -> None:
        """params += t * d (``d`` flat)."""
        from .. import view_as_complex

        at = 0
        for p in self._params:
            if p.is_complex():
                n = 2 * p.numel()
                p.add_(view_as_complex(d[at : at + n].view(*p.shape, 2)), alpha=t)
            else:
                n = p.numel()
                p.add_(d[at : at + n].view_as(p), alpha=t)
            at += n

    @no_grad()
    def step(self, closure: Callable) -> Tensor:  # type: ignore[override]
        closure = enable_grad()(closure)
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        line_search, history = group["line_search_fn"], group["history_size"]
        if line_search is not None and line_search != "strong_wolfe":
            raise RuntimeError("only 'strong_wolfe' is supported")
        st = self.state[self._params[0]]
        st.setdefault("func_evals", 0)
        st.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        st["func_evals"] += 1
        g = self._flat_grad()
        if float(g.abs().max()) <= tol_grad:
            return orig_loss
        d, t = st.get("d"), st.get("t")
        dirs, steps, ro, h_diag = st.get("old_dirs"), st.get("old_stps"), st.get("ro"), st.get("H_diag")
        prev_g, prev_loss = st.get("prev_flat_grad"), st.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            st["n_iter"] += 1
            if st["n_iter"] == 1:
                d = -g
                dirs, steps, ro, h_diag = [], [], [], 1.0
            else:
                # Keep the newest curvature pair (y, s) when it is positive enough.
                y = g - prev_g
                s = d * t
                ys = float(y.dot(s))
                if ys > 1e-10:
                    if len(dirs) == history:
                        del dirs[0], steps[0], ro[0]
                    dirs.append(y)
                    steps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(y.dot(y))
                # Two-loop recursion: d = -H g with H the L-BFGS inverse-Hessian estimate.
                alpha = [0.0] * len(dirs)
                q = -g
                for i in range(len(dirs) - 1, -1, -1):
                    alpha[i] = float(steps[i].dot(q)) * ro[i]
                    q = q - alpha[i] * dirs[i]
                d = q * h_diag
                for i in range(len(dirs)):
                    beta = float(dirs[i].dot(d)) * ro[i]
                    d = d + (alpha[i] - beta) * steps[i]
            prev_g = g
            prev_loss = loss
            t = min(1.0, 1.0 / float(g.abs().sum())) * lr if st["n_iter"] == 1 else lr
            gtd = float(g.dot(d))
            if gtd > -tol_change:  # not a descent direction
                break
            ls_evals = 0
            if line_search is not None:
                x0 = [p.clone() for p in self._params]

                def evaluate(step: float, d=d, x0=x0):
                    self._move(step, d)
                    f = float(closure())
                    grad = self._flat_grad()
                    for p, v in zip(self._params, x0):
                        p.copy_(v)
                    return f, grad

                loss, g, t, ls_evals = _strong_wolfe(
                    evaluate, t, d, loss, g, gtd, tolerance_change=tol_change, max_ls=max_eval - evals
                )
                self._move(t, d)
                opt_cond = float(g.abs().max()) <= tol_grad
            else:
                self._move(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = float(closure())
                    g = self._flat_grad()
                    opt_cond = float(g.abs().max()) <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            st["func_evals"] += ls_evals
            if (
                n_iter == max_iter
                or evals >= max_eval
                or opt_cond
                or float((d * t).abs().max()) <= tol_change
                or abs(loss - prev_loss) < tol_change
            ):
                break
        st.update(d=d, t=t, old_dirs=dirs, old_stps=steps, ro=ro, H_diag=h_diag)
        st.update(prev_flat_grad=prev_g, prev_loss=prev_loss)
        return orig_loss
