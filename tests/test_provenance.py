"""Provenance names the kind of CPU: re-runs on another kind round differently (docs/reproducibility.md)."""

from semigan.provenance import cpu_identity, numerics_env

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Example Xeon 1234
flags\t\t: fpu sse2 avx avx2 fma avx512f amx_tile

processor\t: 1
model name\t: Other CPU
flags\t\t: fpu
"""


def test_cpu_identity_reads_the_first_processor_and_its_kernel_relevant_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    cpu = cpu_identity(path)
    assert cpu["cpu_model"] == "Example Xeon 1234"
    assert cpu["cpu_family_model"] == "6/143"
    assert cpu["cpu_isa"] == ["avx", "avx2", "fma", "avx512f", "amx_tile"]  # sse2, fpu: not kernel-deciding


def test_cpu_identity_without_cpuinfo_still_names_the_machine(tmp_path):
    cpu = cpu_identity(tmp_path / "missing")
    assert cpu["cpu_isa"] == [] and cpu["cpu_family_model"] == "?/?"
    assert cpu["cpu_model"]  # platform's processor or machine name


def test_numerics_env_records_only_the_kernel_choosing_variables_that_are_set():
    env = {"ATEN_CPU_CAPABILITY": "avx2", "LD_PRELOAD": "/x/libmkl_intel_cpu.so", "MKL_CBWR": "",
           "OMP_NUM_THREADS": "2", "HOME": "/root"}
    assert numerics_env(env) == {"ATEN_CPU_CAPABILITY": "avx2", "LD_PRELOAD": "/x/libmkl_intel_cpu.so"}
    assert numerics_env({}) == {}


def test_runs_table_names_the_cpu_kind_where_recorded(tmp_path):
    """The runs table shows which kind of CPU made each run; runs from before it was recorded say nothing."""
    import json

    import pandas as pd

    from semigan.aggregate import runs_table

    paths = []
    for seed, device in enumerate([{"device": "cpu"},
                                   {"device": "cpu", "cpu_family_model": "6/143", "torch_cpu_capability": "AVX512",
                                    "cpu_isa": ["avx2", "avx512f", "amx_tile"]},
                                   {"device": "cpu", "cpu_family_model": "25/17", "torch_cpu_capability": "AVX2",
                                    "cpu_isa": ["avx2", "avx512f"],
                                    "numerics_env": {"ATEN_CPU_CAPABILITY": "avx2",
                                                     "LD_PRELOAD": "/work/libmkl_intel_cpu.so"}}]):
        path = tmp_path / f"seed{seed}" / "metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"profile": "cpu", "dataset": "mnist", "n_labels": 100, "method": "ssl_gan",
                                    "seed": seed, "test_error_pct": 1.0, "test_accuracy": 0.99, "train_seconds": 60.0,
                                    "steps_per_second": 10.0,
                                    "provenance": {"train": {"device": device}}}))
        paths.append(path)
    before, recorded, emulated = runs_table(paths)["cpu_kind"]
    assert pd.isna(before) and recorded == "6/143 AVX512+AMX"
    assert emulated == "25/17 AVX2 (ATEN_CPU_CAPABILITY=avx2; LD_PRELOAD=libmkl_intel_cpu.so)"


def test_cpu_kind_names_every_preloaded_library():
    """LD_PRELOAD is a list: each library that may change the numerics is named, not only the last."""
    from semigan.aggregate import cpu_kind

    device = {"cpu_family_model": "25/17", "torch_cpu_capability": "AVX512",
              "numerics_env": {"LD_PRELOAD": "/tmp/libmkl_intel_cpu.so:/usr/lib/libjemalloc.so /opt/x.so"}}
    assert cpu_kind(device) == "25/17 AVX512 (LD_PRELOAD=libmkl_intel_cpu.so libjemalloc.so x.so)"
