import json

from semigan.bench import run_benchmark
from semigan.data.store import load_images
from semigan.splits import make_split, write_split
from semigan.training.loop import RunSpec, TrainConfig


def _mnist100_spec(mnist_dir, tmp_path, method: str, steps: int) -> RunSpec:
    """A short MNIST-100 run evaluated every 10 steps; its split written to tmp_path/s.npz."""
    labels = load_images(mnist_dir, "train").labels
    write_split(make_split(labels, 100, 200, seed=0), tmp_path / "s.npz", {})
    return RunSpec("test", "mnist", 100, 0, method, "mlp28",
                   TrainConfig(steps=steps, batch_size=50, eval_every=10, log_every=10, init_size=100))


def test_benchmark_records_speed_and_curve(mnist_dir, tmp_path):
    spec = _mnist100_spec(mnist_dir, tmp_path, "ssl_gan", steps=20)
    out = tmp_path / "bench.json"
    result = run_benchmark(spec, mnist_dir, tmp_path / "s.npz", out, tmp_path / "ck.pt", threads=2,
                           target_error_pct=100.0)
    saved = json.loads(out.read_text())
    assert saved["iterations_per_second"] > 0 and saved["batch_size"] == 50
    assert [c["step"] for c in saved["curve"]] == [10, 20]
    assert all(c["test_error_pct_ema"] < 90 for c in saved["curve"])  # better than chance after 10 steps
    # with a 100 % target the first evaluation reaches it
    assert saved["step_at_target"] == 10 and saved["seconds_to_target"] == saved["curve"][0]["train_seconds"]
    assert result["provenance"]["packages"]["torch"]
    assert not (tmp_path / "ck.pt").exists()


def test_benchmark_stops_at_target_when_asked(mnist_dir, tmp_path):
    spec = _mnist100_spec(mnist_dir, tmp_path, "supervised", steps=30)
    out = tmp_path / "bench.json"
    reached = run_benchmark(spec, mnist_dir, tmp_path / "s.npz", out, tmp_path / "ck.pt",
                            target_error_pct=100.0, stop_at_target=True)
    assert reached["stopped_at_target"] and [c["step"] for c in reached["curve"]] == [10]
    never = run_benchmark(spec, mnist_dir, tmp_path / "s.npz", out, tmp_path / "ck.pt",
                          target_error_pct=0.0, stop_at_target=True)
    assert not never["stopped_at_target"] and [c["step"] for c in never["curve"]] == [10, 20, 30]
