"""Disk that a profile's resources/ takes (what DVC caches with dvc_cache: [resources]), measured
without training the grid: every distinct kind of run (dataset x method) is trained for 2 steps at
the profile's own settings (architecture, widths), so its model file has the size of the real one;
sizes x the grid's run counts, plus the verified datasets and the splits.

    python workflow/scripts/resources_size.py --profile cpu --mirror <mirror> --work /tmp/size \
        --out results/bench/cpu/resources_size.json

A 2-step run's model file holds the same weights as a full run's (the selected and the final
EMA weights, and the small-validation selection), counted as distinct copies as in a full run;
its history is shorter by a few hundred rows (kilobytes). A generator's size depends on whether it is
conditional: `gan` is measured for unconditional runs, `cgan_labeled` for every conditional one.
"""

import argparse
import collections
import io
import json
import subprocess
from pathlib import Path

import torch

from semigan.config import generation_cells, gen_spec, grid_cells, load_params, n_val_of, resolve, run_spec
from semigan.data.store import prepare_dataset


def _train(cmd: str, spec: dict, data: Path, split: Path, model: Path) -> int:
    """Bytes of the model file of a full run of `spec`: after 2 steps the selected weights may still
    be the final ones (saved once, as one storage); in a full run they are distinct copies."""
    if not model.exists():
        subprocess.run(["semigan", cmd, "--spec", json.dumps(spec), "--data", str(data), "--split", str(split),
                        "--model", str(model), "--checkpoint", str(model.with_name("checkpoint.pt")),
                        "--history", str(model.with_name("history.csv")), "--threads", "1"], check=True)
    blob = torch.load(model, map_location="cpu", weights_only=False)
    weights = [k for k, v in blob.items() if isinstance(v, dict) and any(map(torch.is_tensor, v.values()))]
    distinct = {k: {n: t.clone() for n, t in v.items()} if k in weights else v for k, v in blob.items()}
    buffer = io.BytesIO()
    torch.save(distinct, buffer)
    return buffer.getbuffer().nbytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--mirror", default=None, help="a local mirror of the datasets (else the official downloads)")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder for the data and the 2-step runs")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON here (else print it)")
    a = ap.parse_args()
    eff = resolve(load_params(a.params, profile=a.profile))
    cls = collections.Counter((c.dataset, c.method) for c in grid_cells(eff))
    gen = collections.Counter((c.dataset, c.method) for c in generation_cells(eff))
    splits = {(c.dataset, n_val_of(eff, c.dataset), c.n_labels, c.seed)
              for c in [*grid_cells(eff), *generation_cells(eff)]}
    size, data_bytes, split_bytes = {}, {}, {}
    for ds in sorted({d for d, _ in cls} | {d for d, _ in gen}):
        data = a.work / "data" / ds
        if not (data / "meta.json").exists():
            prepare_dataset(ds, data, a.work / "downloads", a.mirror)
        data_bytes[ds] = sum(p.stat().st_size for p in data.iterdir())
        n = min(c.n_labels for c in [*grid_cells(eff), *generation_cells(eff)] if c.dataset == ds)
        split = a.work / "splits" / ds / f"n{n}.npz"
        if not split.exists():
            subprocess.run(["semigan", "split", "--data", str(data), "--n-labels", str(n), "--n-val",
                            str(n_val_of(eff, ds)), "--seed", "0", "--out", str(split)], check=True,
                           stdout=subprocess.DEVNULL)
        split_bytes[ds] = split.stat().st_size + split.with_suffix(".json").stat().st_size
        for d, method in sorted(k for k in cls if k[0] == ds):
            spec = run_spec(eff, d, n, method, 0)
            spec["train"].update(steps=2, eval_every=1, checkpoint_every=1, log_every=1)
            size["classification", d, method] = _train("train", spec, data, split,
                                                        a.work / "models" / d / method / "model.pt")
        for method in ("gan", "cgan_labeled") if any(d == ds for d, _ in gen) else ():
            spec = gen_spec(eff, ds, n, method, 0)
            spec["train"].update(steps=2, log_every=1, checkpoint_every=1)
            size["generation", ds, method] = _train("train-gan", spec, data, split,
                                                    a.work / "generation" / ds / method / "model.pt")
    total = {
        "classification models": sum(k * size["classification", d, m] for (d, m), k in cls.items()),
        "generation models": sum(k * size["generation", d, "gan" if m == "gan" else "cgan_labeled"]
                                 for (d, m), k in gen.items()),
        "datasets": sum(data_bytes.values()),
        "splits": sum(split_bytes[d] for d, *_ in splits),
    }
    runs = {"classification": sum(cls.values()), "generation": sum(gen.values())}
    models = {"/".join(k): v for k, v in sorted(size.items())}
    text = json.dumps({"profile": a.profile, "runs": runs, "model_bytes": models,
                       "dataset_bytes": data_bytes, "total_bytes": total,
                       "total_mb": round(sum(total.values()) / 1e6, 1)}, indent=1) + "\n"
    if a.out is None:
        print(text, end="")
    else:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)


if __name__ == "__main__":
    main()
