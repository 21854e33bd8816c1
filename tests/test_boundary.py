"""The boundary rule, measured on the programs JAX builds (docs/model.md, "Validation").

Kernels never validate: their jaxprs hold no host callback. A public function validates each
traced argument exactly once (one `equinox.error_if`), on a value the result depends on, so a
user's `jax.jit` can neither drop the check nor pay for it twice. Counting callbacks in the
traced program is independent of the code that emits them.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sumjax as sj
from sumjax import alignment as al
from sumjax.alignment import _vmf
from sumjax.tilt import _tilt_compiled

from _jaxpr import count_callbacks, count_checks

X = jnp.full((3,), 0.5)
D = jnp.full((3,), 7.0)


def _program(fn, *args):
    return jax.make_jaxpr(fn)(*args)


# ---------------------------------------------------------------- kernels: zero callbacks


@pytest.mark.parametrize(
    "kernel",
    [
        _vmf.mean,
        _vmf.mean_complement,
        _vmf.log_mgf,
        _vmf.kl,
        _vmf.kappa_from_mean,
        _vmf.kappa_from_kl,
        _vmf.mean_from_kl,
        _vmf.mean_complement_from_kl,
        _vmf.required_divergence,
    ],
)
def test_vmf_kernels_have_no_callbacks(kernel):
    assert count_callbacks(_program(kernel, X, D)) == 0


@pytest.mark.parametrize("kernel", [_vmf.kappa_from_mean, _vmf.kappa_from_kl])
def test_implicit_rule_has_no_callbacks(kernel):
    assert count_callbacks(_program(jax.grad(lambda x, d: kernel(x, d).sum(), argnums=(0, 1)), X, D)) == 0


G = sj.GaussianWorld.isotropic(2)
LIN = sj.LinearUtility(jnp.array([1.0, 0.0]))
QUAD = sj.QuadraticUtility(jnp.eye(2), jnp.array([0.5, 0.0]))
DW = sj.DiscreteWorld.from_probs(jnp.array([0.2, 0.3, 0.5]))
TAB = sj.TabularUtility(jnp.array([1.0, 2.0, 3.0]))
VALUES = jnp.array([1.0, 2.0, 3.0])


@pytest.mark.parametrize("world, utility", [(G, LIN), (G, QUAD), (DW, VALUES)])
def test_tilt_kernels_have_no_callbacks(world, utility):
    # the compiled tilt kernel rebuilds worlds without re-validating them
    assert count_callbacks(_program(lambda b: _tilt_compiled(world, utility, b), 0.3)) == 0
    assert count_callbacks(_program(jax.grad(lambda b: _tilt_compiled(world, utility, b).gain), 0.3)) == 0


# ---------------------------------------------------------------- public functions: one check per argument

_VMF_PUBLIC = [
    al.vmf_mean,
    al.vmf_mean_complement,
    al.vmf_log_mgf,
    al.vmf_kl,
    al.kappa_from_mean,
    al.kappa_from_kl,
    al.vmf_mean_from_kl,
    al.vmf_mean_complement_from_kl,
    al.required_divergence,
]


@pytest.mark.parametrize("fn", _VMF_PUBLIC)
def test_vmf_public_checks_each_argument_once(fn):
    program = _program(fn, X, D)
    assert count_checks(program) == 2  # x and d
    assert count_callbacks(program) == 2 * 2  # each error_if holds two host callbacks
    assert count_checks(_program(lambda x: fn(x, 7.0), X)) == 1  # d concrete: checked eagerly


@pytest.mark.parametrize("fn", [al.cosine_logpdf])
def test_cosine_checks_each_argument_once(fn):
    assert count_checks(_program(fn, X, D)) == 2


def test_quadrature_checks_each_argument_once():
    assert count_checks(_program(al.vmf_kl_quadrature, X, D)) == 2
    assert count_checks(_program(lambda k, d: al.vmf_expectation(jnp.abs, k, d), X, D)) == 2


@pytest.mark.parametrize("world, utility", [(G, LIN), (G, QUAD), (DW, TAB)])
def test_tilt_checks_power_once(world, utility):
    assert count_checks(_program(lambda b: sj.tilt(world, utility, b).gain, 0.3)) == 1
    assert count_checks(_program(lambda b: sj.tilt(world, utility, b).world, 0.3)) == 1


def test_tilt_callable_utility_checked_once():
    # a callable utility's values are one more argument to check (finite), computed at entry
    assert count_checks(_program(lambda s: sj.tilt(DW, lambda i: s * i, 0.3).gain, 1.0)) == 1
    assert count_checks(_program(lambda s, b: sj.tilt(DW, lambda i: s * i, b).gain, 1.0, 0.3)) == 2


def test_check_is_not_compiled_away():
    # the gain does not use the tilted world; the check sits on the power it is computed from
    f = jax.jit(lambda b: sj.tilt(G, LIN, b).gain)
    np.testing.assert_allclose(float(f(1e308)), np.sqrt(2.0) * 1e154, rtol=1e-14)  # √(2β) exactly
    with pytest.raises(Exception, match="power"):
        jax.block_until_ready(f(-1.0))
    with pytest.raises(Exception, match="power"):
        jax.block_until_ready(jax.jit(lambda b: sj.tilt(G, QUAD, b).multiplier)(1e300))


def test_constructors_check_each_argument_once():
    m, c = jnp.zeros(2), jnp.eye(2)
    assert count_checks(_program(sj.GaussianWorld, m, c)) == 2
    assert count_checks(_program(sj.GaussianWorld.from_covariance, m, c)) == 2
    assert count_checks(_program(sj.DiscreteWorld.from_probs, jnp.array([0.5, 0.5]))) == 1
    assert count_checks(_program(sj.DiscreteWorld.from_logits, jnp.array([0.5, 0.5]))) == 1
    assert count_checks(_program(sj.DiscreteWorld, jnp.array([0.5, 0.5]))) == 1
    assert count_checks(_program(lambda u: sj.LinearUtility(u), m)) == 1
    assert count_checks(_program(lambda u, o: sj.LinearUtility(u, o), m, 0.0)) == 2


def test_other_public_functions_check_each_argument_once():
    assert count_checks(_program(lambda k: sj.tilt.__globals__["tilt_kl"](DW, TAB, k), 0.3)) == 1
    assert count_checks(_program(lambda n: sj.best_of_n(DW, TAB, n).gain, 2.0)) == 1
    assert count_checks(_program(lambda q: sj.quantilizer(DW, TAB, q).gain, 0.5)) == 1
    assert count_checks(_program(lambda x: sj.optimisation_amount(x), 0.5)) == 1
    assert count_checks(_program(lambda p: sj.Agent(LIN, p).power, 0.5)) == 1
