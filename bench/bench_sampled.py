"""sampled_softmax_loss with its gradients (B x S x d products through NumPy's
BLAS) against a straightforward PyTorch version, TensorFlow's
tf.nn.sampled_softmax_loss under GradientTape and the three products alone;
and the candidate draws against TensorFlow's sampler.

    python -m pytest bench/bench_sampled.py [--bench-full]
"""
import importlib.util

import pytest

import fastsoftmax
from fastsoftmax import _bench_sampled as sb
from fastsoftmax import sampled

IMPLEMENTATIONS = ["fastsoftmax", "products", "torch", "tensorflow"]


@pytest.fixture(scope="module")
def problem(request):
    return sb.make_problem(sb.FULL if request.config.getoption("--bench-full") else sb.QUICK)


def _runner(implementation, problem):
    if implementation == "fastsoftmax":
        return sb.ours(problem)
    if implementation == "products":
        return sb.products_floor(problem)
    if importlib.util.find_spec(implementation) is None:
        pytest.skip(f"{implementation} is not installed")
    if implementation == "torch":
        return sb.torch_runner(problem, fastsoftmax.get_num_threads())
    return sb.tensorflow_runner(problem, fastsoftmax.get_num_threads())[0]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_sampled_softmax_loss(benchmark, implementation, problem):
    run = _runner(implementation, problem)
    benchmark.extra_info.update(B=problem.shape.B, d=problem.shape.d, S=problem.shape.S, C=problem.shape.C)
    benchmark(run)


@pytest.mark.parametrize("implementation", ["fastsoftmax", "tensorflow"])
def test_unique_log_uniform_draws(benchmark, implementation, problem):
    if implementation == "fastsoftmax":
        sampler = sampled.LogUniformSampler(problem.shape.C, seed=1)
        run = lambda: sampler.sample(problem.labels[:1], problem.shape.S)  # noqa: E731
    else:
        if importlib.util.find_spec("tensorflow") is None:
            pytest.skip("tensorflow is not installed")
        run = sb.tensorflow_runner(problem, fastsoftmax.get_num_threads())[1]
    benchmark(run)
