"""How ranks share the inputs (--parallel): the choice, and files mode in one process and on thread ranks (each
file as one process would denoise it, one line per finished file, failures reported and the rest written).
The same under a real `mpiexec -n 2`: tests/runtime/test_mpi.py."""

from __future__ import annotations

import numpy as np
import pytest

from thread_comm import run_ranks
from zeroshot.cli.main import build_parser, main
from zeroshot.cli.options import RunOptions
from zeroshot.cli.parallel import choose_parallel, describe_choice, run_files

FLAGS = ["--latents", "12", "--states", "10", "--epochs", "4", "--patch-size", "5", "--threads", "1", "--keep-dtype"]


def plaid(seed: int, shape=(32, 32)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2) + 0.08 * rng.standard_normal(shape)).astype(np.float32)


@pytest.fixture
def inputs(tmp_path):
    """Four inputs, the third too small for 5 x 5 patches; and each good one denoised alone, by one process."""
    paths = []
    for index in range(4):
        paths.append(tmp_path / f"in{index}.npy")
        np.save(paths[-1], plaid(index) if index != 2 else np.zeros((3, 40), dtype=np.float32))
    alone = {}
    for path in paths:
        if path.name != "in2.npy":
            target = tmp_path / f"alone_{path.name}"
            assert main(["denoise", str(path), "-o", str(target), "-q", *FLAGS]) == 0
            alone[path.name] = np.load(target)
    return paths, alone


@pytest.mark.parametrize(
    "asked, inputs, ranks, mode",
    [
        ("auto", 4, 2, "files"),
        ("auto", 2, 2, "files"),
        ("auto", 1, 2, "patches"),
        ("auto", 5, 1, "patches"),  # one process: as before, the run stops at the first problem
        ("files", 1, 4, "files"),
        ("patches", 8, 2, "patches"),
    ],
)
def test_the_choice_of_files_or_patches(asked, inputs, ranks, mode):
    assert choose_parallel(asked, inputs, ranks) == mode
    assert f"--parallel {mode}" in describe_choice(mode, asked, inputs, ranks)


def test_files_mode_in_one_process_reports_a_failing_file_and_writes_the_others(inputs, tmp_path, capsys):
    paths, alone = inputs
    out = tmp_path / "out"
    assert main(["denoise", *map(str, paths), "-o", f"{out}/", "--parallel", "files", *FLAGS]) == 1
    captured = capsys.readouterr()
    for name, want in alone.items():
        np.testing.assert_array_equal(np.load(out / name), want)  # bitwise the file denoised alone
        assert (out / (name + ".json")).exists()
    assert not (out / "in2.npy").exists()
    assert [line[:5] for line in captured.out.splitlines()] == ["[1/4]", "[2/4]", "[4/4]"]
    assert (
        "[3/4] failed: " in captured.err
        and "in2.npy: image of shape (3, 40) smaller than the patch size 5" in captured.err
    )
    assert "3 of 4 file(s) written on 1 process; 1 failed: " in captured.err and "Traceback" not in captured.err
    assert "epoch" not in captured.err  # one display for the set: no epoch bars


def test_one_process_without_parallel_files_stops_at_the_first_problem_as_before(inputs, tmp_path, capsys):
    paths, _ = inputs
    out = tmp_path / "out"
    assert main(["denoise", *map(str, paths), "-o", f"{out}/", *FLAGS]) == 2
    assert "in2.npy" in capsys.readouterr().err
    assert not out.exists()  # every input is checked before any work: nothing written


def test_files_mode_checks_every_output_name_before_any_work(tmp_path, capsys):
    a, b = tmp_path / "a" / "x.npy", tmp_path / "b" / "x.npy"
    for path in (a, b):
        path.parent.mkdir()
        np.save(path, plaid(0))
    out = tmp_path / "out"
    assert main(["denoise", str(a), str(b), "-o", f"{out}/", "--parallel", "files", *FLAGS]) == 2
    assert "is the output of both" in capsys.readouterr().err
    assert not out.exists()


def test_files_mode_names_the_outputs_with_the_suffix_and_checks_them_against_the_inputs(tmp_path, capsys):
    a, a_dn = tmp_path / "a.npy", tmp_path / "a_dn.npy"
    for seed, path in enumerate((a, a_dn)):
        np.save(path, plaid(seed))
    argv = ["denoise", str(a), str(a_dn), "--parallel", "files", "--suffix", "_dn", *FLAGS]
    assert main([*argv, "-o", str(tmp_path)]) == 2  # a.npy's output would be the input a_dn.npy
    assert f"{a_dn}: the output would overwrite the input {a_dn}" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main([*argv, "-q", "-o", f"{out}/"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_dn.npy", "a_dn.npy.json", "a_dn_dn.npy", "a_dn_dn.npy.json"]


def test_thread_ranks_share_the_files_and_rank_0_shows_them_all(inputs, tmp_path, capsys):
    paths, alone = inputs
    out = tmp_path / "out"
    args = build_parser().parse_args(["denoise", *map(str, paths), "-o", f"{out}/", *FLAGS])
    codes = run_ranks(2, lambda comm: run_files(RunOptions.from_args(args), comm))
    assert codes == [1, 1]  # every rank exits with the same code
    for name, want in alone.items():
        np.testing.assert_array_equal(np.load(out / name), want)
    captured = capsys.readouterr()
    written = [line[:5] for line in captured.out.splitlines()]
    failed = [line[:5] for line in captured.err.splitlines() if "failed: " in line and line.startswith("[")]
    assert len(written) == 3 and len(failed) == 1 and sorted(written + failed) == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert captured.err.count("3 of 4 file(s) written on 2 MPI ranks") == 1


def test_files_mode_with_a_model_file(inputs, tmp_path, capsys):
    paths, _ = inputs
    good = [p for p in paths if p.name != "in2.npy"]
    model, out = tmp_path / "model.npz", tmp_path / "out"
    assert main(["train", str(good[0]), "-o", str(model), "-q", *FLAGS[:-1]]) == 0
    argv = ["denoise", *map(str, good), "-o", f"{out}/", "--parallel", "files", "--model-file", str(model), "-q"]
    assert main([*argv, "--threads", "1"]) == 0
    assert sum(line.startswith("[") for line in capsys.readouterr().out.splitlines()) == len(good)
    for path in good:
        want = tmp_path / f"one_{path.name}"
        assert main(["denoise", str(path), "-o", str(want), "--model-file", str(model), "-q", "--threads", "1"]) == 0
        np.testing.assert_array_equal(np.load(out / path.name), np.load(want))
