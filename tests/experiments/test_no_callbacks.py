"""Experiments compile without host callbacks, so a warm `sumjax reproduce` finds them in the cache.

JAX does not store programs with host callbacks in its persistent compilation cache ("Not writing
persistent cache entry ... because it uses host callbacks"), and every `equinox.error_if` check is
one. Experiments call pure kernels (docs/model.md, "Validation"): only the public entry points check.

Every registered experiment that sweeps is run with a `Context` whose `sweep` traces the point
function as `Context.sweep` compiles it (one point, `static` as traced arguments) and counts the
callbacks in its program; it returns zeros of the right shapes so `compute` goes on to its next sweep
(nothing is compiled or run). Other jitted pieces of `compute` are checked by name below.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sumjax import experiments as E
from sumjax.experiments._base import Context, config_from

from _jaxpr import count_callbacks


class _TracingContext(Context):
    """`sweep` traces instead of computing: records the callbacks of each sweep's program."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.callbacks: dict[str, int] = {}

    def sweep(self, name, fn, params, *, chunk=256, static=None):
        params = {k: np.asarray(v) for k, v in params.items()}
        (n,) = {v.shape[0] for v in params.values()}
        row = {k: v[0] for k, v in params.items()}  # one point: vmapping adds no callback, only tracing time
        args = (row,) if static is None else (row, static)
        jaxpr, shapes = jax.make_jaxpr(fn, return_shape=True)(*args)
        self.callbacks[name] = count_callbacks(jaxpr)
        return jax.tree_util.tree_map(lambda s: np.zeros((n,) + s.shape, s.dtype), shapes)


SWEEPING = [name for name, path in E.EXPERIMENTS.items() if "ctx.sweep(" in inspect.getsource(E.get(name))]


def test_some_experiments_sweep():
    assert {"scaling", "baselines"} <= set(SWEEPING)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", SWEEPING)
def test_sweeps_compile_without_host_callbacks(name, tmp_path):
    module = E.get(name)
    ctx = _TracingContext(config_from(module), seed=0, dtype=jnp.float64, folder=str(tmp_path), progress=False)
    try:
        module.compute(ctx)
    except Exception:  # the zeros the traced sweeps return need not make sense to the rest of `compute`
        pass
    assert ctx.callbacks, f"{name}: no sweep was traced"
    assert ctx.callbacks == dict.fromkeys(ctx.callbacks, 0), f"{name}: host callbacks per sweep {ctx.callbacks}"


def test_scaling_phases_kernel_has_no_callbacks():
    # The experiment jits the phase labelling itself, outside its sweep.
    from sumjax.alignment import scaling as S

    t = jnp.linspace(0.0, 1.0, 5)
    assert count_callbacks(jax.make_jaxpr(lambda tt, hh: S._scaling_phases_kernel(tt, hh, 1.5))(t, t)) == 0
