"""MPI for real: `mpiexec -n 2` runs of the API and the CLI against one process (needs mpi4py and an
MPI runtime: pip install ".[mpi]"; skipped without them)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zeroshot.cli.main import main
from zeroshot.denoise import denoise
from zeroshot.pipeline.trained import TrainedModel


def find_mpiexec():
    beside_python = Path(sys.executable).parent / "mpiexec"
    return str(beside_python) if beside_python.exists() else shutil.which("mpiexec")


MPIEXEC = find_mpiexec()
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason="needs mpi4py and mpiexec: pip install '.[mpi]' (mpi4py with MPICH from PyPI)",
)
SUPPORT = Path(__file__).parents[1] / "support"
RTOL = 1e-10
TIMEOUT = 300
OPTIONS = {
    "bsc": {"model": "bsc", "patch_size": 5, "n_latents": 12, "n_states": 10, "epochs": 5, "threads": 1},
    "es3c": {
        "model": "es3c",
        "patch_size": 5,
        "n_latents": 12,
        "n_states": 10,
        "epochs": 5,
        "bsc_pretrain_epochs": 2,
        "threads": 1,
    },
    # the noise models: correlated (whitened patches) on the float image, poisson and pmm on counts
    "correlated": {"patch_size": 5, "n_latents": 12, "n_states": 10, "epochs": 5, "noise": "correlated", "threads": 1},
    "poisson": {"patch_size": 5, "n_latents": 12, "n_states": 10, "epochs": 5, "noise": "poisson", "threads": 1},
    "pmm": {
        "model": "pmm",
        "patch_size": 4,
        "n_latents": 12,
        "n_states": 4,
        "epochs": 5,
        "center_patches": False,
        "merge": "mean",
        "threads": 1,
    },
}
ON_COUNTS = ("poisson", "pmm")


def noisy_image(shape=(34, 38)) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[: shape[0], : shape[1]]
    return 0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2) + 0.08 * rng.standard_normal(shape)


def counts_image(shape=(34, 38)) -> np.ndarray:
    return np.random.default_rng(1).poisson(20.0 * noisy_image(shape).clip(0.05)).astype(np.float64)


def image_for(model: str) -> np.ndarray:
    return counts_image() if model in ON_COUNTS else noisy_image()


def mpiexec(*args: str, ranks: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run([MPIEXEC, "-n", str(ranks), *args], capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    """{model: arrays of rank 0} of one `mpiexec -n 2` run per model (and image kind)."""
    folder = tmp_path_factory.mktemp("mpi")
    runs = {}
    for kind, image in (("float", noisy_image()), ("counts", counts_image())):
        np.save(folder / f"{kind}.npy", image)
        models = sorted(m for m in OPTIONS if (m in ON_COUNTS) == (kind == "counts"))
        run = mpiexec(
            sys.executable,
            str(SUPPORT / "mpi_denoise.py"),
            str(folder / f"{kind}.npy"),
            str(folder / f"{kind}_run"),
            *(json.dumps(OPTIONS[m]) for m in models),
        )
        assert run.returncode == 0, run.stderr
        runs.update({m: dict(np.load(folder / f"{kind}_run{i}.npz")) for i, m in enumerate(models)})
    return runs


@pytest.mark.parametrize("model", sorted(OPTIONS))
def test_two_ranks_give_the_parameters_and_images_of_one_process(two_rank_runs, model):
    parallel = two_rank_runs[model]
    serial = denoise(image_for(model), moments=2, **OPTIONS[model])
    names = [name for name in vars(serial.model.params) if name in parallel]
    assert {"pi"} <= set(names) and len(names) >= 2
    for name in names:
        np.testing.assert_allclose(parallel[name], getattr(serial.model.params, name), rtol=RTOL, atol=0, err_msg=name)
    np.testing.assert_allclose(parallel["free_energy"], serial.free_energy, rtol=RTOL)
    for name, want in (("denoised", serial.denoised), ("variance", serial.variance)):
        np.testing.assert_allclose(parallel[name], want, rtol=0, atol=RTOL * np.abs(want).max(), err_msg=name)


def cli_flags(epochs: int = 5) -> list:
    return [
        "--latents",
        "12",
        "--states",
        "10",
        "--epochs",
        str(epochs),
        "--patch-size",
        "5",
        "--threads",
        "1",
        "--keep-dtype",
    ]


CLI_FLAGS = cli_flags()


def test_cli_under_mpiexec_writes_one_output(tmp_path):
    source = tmp_path / "in.npy"
    np.save(source, noisy_image())
    target = tmp_path / "out" / "denoised.npy"
    target.parent.mkdir()
    run = mpiexec(
        sys.executable, "-m", "mpi4py", "-m", "zeroshot.cli", "denoise", str(source), "-o", str(target), *CLI_FLAGS
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in target.parent.iterdir()) == ["denoised.npy", "denoised.npy.json"]
    assert run.stdout.count("learned noise sigma") == 1  # rank 0 reports, the other rank is quiet
    assert run.stderr.count("2 MPI ranks, 1 OpenMP thread(s) per rank") == 1
    assert run.stderr.count("rank 1 on ") == 1 and run.stderr.count("epoch 5/5") == 1
    assert "the ranks share each image's patches (--parallel patches, auto: fewer inputs than ranks)" in run.stderr
    assert json.loads((target.parent / "denoised.npy.json").read_text())["settings"]["mpi_ranks"] == 2
    serial = tmp_path / "serial.npy"
    assert main(["denoise", str(source), "-o", str(serial), "-q", *CLI_FLAGS]) == 0
    want = np.load(serial)
    np.testing.assert_allclose(np.load(target), want, rtol=0, atol=RTOL * np.abs(want).max())


def test_a_streamed_volume_under_mpiexec_is_bitwise_that_of_one_process(tmp_path):
    """The ranks share a volume's frames (each learns the same model): the same bytes as one process."""
    rng = np.random.default_rng(3)
    frames = np.stack([noisy_image() + 0.02 * rng.standard_normal((34, 38)) for _ in range(5)])
    source = tmp_path / "vol.npy"
    np.save(source, frames.astype(np.float32))
    parallel, serial = tmp_path / "parallel.npy", tmp_path / "serial.npy"
    flags = [f for f in CLI_FLAGS if f != "--keep-dtype"]
    run = mpiexec(
        sys.executable, "-m", "mpi4py", "-m", "zeroshot.cli", "denoise", str(source), "-o", str(parallel), *flags
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("(one model for the 5 frames)") == 1
    assert main(["denoise", str(source), "-o", str(serial), "-q", *flags]) == 0
    np.testing.assert_array_equal(np.load(parallel), np.load(serial))


def test_a_failing_rank_ends_the_whole_job(tmp_path):
    source = tmp_path / "in.npy"
    np.save(source, noisy_image())
    good, bad = tmp_path / "good.npy", tmp_path / "a-file" / "bad.npy"
    (tmp_path / "a-file").write_text("not a folder")
    cli = [sys.executable, "-m", "zeroshot.cli", "denoise", str(source), *CLI_FLAGS, "-q", "-o"]
    # Rank 1 alone fails in the checks (its output folder is a file): the ranks agree on it, rank 0 reports it.
    started = time.monotonic()
    run = subprocess.run(
        [MPIEXEC, "-n", "1", *cli, str(good), ":", "-n", "1", *cli, str(bad)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("a-file: cannot write the output(s) there") == 1, run.stderr
    assert "on rank" not in run.stderr, run.stderr
    assert not good.exists()
    # Ranks that fail in the run itself (given other options than rank 0) end the job by MPI_Abort.
    run = subprocess.run(
        [MPIEXEC, "-n", "1", *cli, str(good), ":", "-n", "1", *cli, str(good), "--epochs", "3"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert run.returncode == 1 and "error on rank" in run.stderr, run.stderr
    assert "the 2 ranks were given different images or options" in run.stderr
    assert not good.exists()
    assert time.monotonic() - started < TIMEOUT / 2


def test_mpi_run_stopped_by_sigint_resumes(tmp_path):
    source, ckpt, target = tmp_path / "in.npy", tmp_path / "run.ckpt", tmp_path / "out.npy"
    np.save(source, noisy_image())
    flags = [*cli_flags(epochs=40), "-q"]  # time to stop it on the way
    command = ["denoise", str(source), "-o", str(target), *flags, "--checkpoint", str(ckpt), "--checkpoint-every", "1"]
    process = subprocess.Popen(
        [MPIEXEC, "-n", "2", sys.executable, "-m", "zeroshot.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while not ckpt.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no checkpoint appeared; the run said {process.communicate()}")
        time.sleep(0.002)
    process.send_signal(signal.SIGINT)  # mpiexec passes it on to every rank
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 130, err
    assert err.count(f"checkpoint saved to {ckpt}") == 1
    assert not target.exists()

    resumed = mpiexec(sys.executable, "-m", "zeroshot.cli", *command, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole.npy"
    assert main(["denoise", str(source), "-o", str(whole), *flags]) == 0
    want = np.load(whole)
    np.testing.assert_allclose(np.load(target), want, rtol=0, atol=RTOL * np.abs(want).max())


@pytest.mark.parametrize("ranks", [2, 3])
def test_the_memory_bound_holds_every_rank(tmp_path, ranks):
    """zeroshot.runtime.memory's per-rank bound (rank 0's, the largest) against each rank's traced peak."""
    out = tmp_path / "memory.json"
    run = mpiexec(sys.executable, str(SUPPORT / "mpi_memory.py"), str(out), ranks=ranks)
    assert run.returncode == 0, run.stderr
    for result in json.loads(out.read_text()):
        assert max(result["peaks"]) <= result["bound"] <= 2 * max(result["peaks"]), result


def write_inputs(folder: Path, bad: tuple[int, ...] = ()) -> list[Path]:
    """Four noisy images as .npy files (those at the indices in `bad` too small for 5 x 5 patches)."""
    sources = []
    for index in range(4):
        sources.append(folder / f"in{index}.npy")
        image = np.zeros((3, 40)) if index in bad else noisy_image() + 0.05 * index
        np.save(sources[-1], image.astype(np.float32))
    return sources


def test_files_mode_gives_every_file_the_result_of_one_process(tmp_path):
    """4 inputs on 2 ranks: each rank denoises whole files, bitwise as one process denoises that file alone."""
    sources, out = write_inputs(tmp_path), tmp_path / "out"
    run = mpiexec(
        sys.executable, "-m", "mpi4py", "-m", "zeroshot.cli", "denoise", *map(str, sources), "-o", f"{out}/", *CLI_FLAGS
    )
    assert run.returncode == 0, run.stderr
    assert "each denoises whole files (--parallel files, auto: at least as many inputs as ranks)" in run.stderr
    assert sorted(line[:5] for line in run.stdout.splitlines()) == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert "all 4 file(s) written on 2 MPI ranks" in run.stderr and "epoch" not in run.stderr
    for source in sources:
        alone = tmp_path / f"alone_{source.name}"
        assert main(["denoise", str(source), "-o", str(alone), "-q", *CLI_FLAGS]) == 0
        np.testing.assert_array_equal(np.load(out / source.name), np.load(alone))
        assert json.loads((out / f"{source.name}.json").read_text())["settings"]["mpi_ranks"] == 1


def test_a_failing_file_does_not_stop_the_others(tmp_path):
    """One bad file on each rank (files 1 and 2): the two others are written, both failures reported on rank 0,
    exit code 1."""
    sources, out = write_inputs(tmp_path, bad=(1, 2)), tmp_path / "out"
    run = mpiexec(
        sys.executable, "-m", "zeroshot.cli", "denoise", *map(str, sources), "-o", f"{out}/", *CLI_FLAGS, "-q"
    )
    assert run.returncode == 1, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["in0.npy", "in0.npy.json", "in3.npy", "in3.npy.json"]
    assert run.stderr.count("smaller than the patch size 5") == 2 and "Traceback" not in run.stderr
    assert "2 of 4 file(s) written on 2 MPI ranks; 2 failed: " in run.stderr
    assert len(run.stdout.splitlines()) == 2


def test_parallel_patches_keeps_the_data_parallel_mode(tmp_path):
    sources, out = write_inputs(tmp_path)[:2], tmp_path / "out"
    run = mpiexec(
        sys.executable,
        "-m",
        "zeroshot.cli",
        "denoise",
        *map(str, sources),
        "-o",
        f"{out}/",
        *CLI_FLAGS,
        "--parallel",
        "patches",
    )
    assert run.returncode == 0, run.stderr
    assert "the ranks share each image's patches (--parallel patches)" in run.stderr
    assert json.loads((out / "in0.npy.json").read_text())["settings"]["mpi_ranks"] == 2


def test_train_on_two_ranks_learns_the_model_of_one_process(tmp_path):
    sources, model = write_inputs(tmp_path)[:2], tmp_path / "model.npz"
    run = mpiexec(
        sys.executable, "-m", "zeroshot.cli", "train", *map(str, sources), "-o", str(model), *CLI_FLAGS[:-1], "-q"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("learned from 2 image(s)") == 1  # rank 0 alone writes and reports
    serial = tmp_path / "serial.npz"
    assert main(["train", *map(str, sources), "-o", str(serial), *CLI_FLAGS[:-1], "-q"]) == 0
    parallel, one = TrainedModel.load(model), TrainedModel.load(serial)
    np.testing.assert_allclose(parallel.model.W, one.model.W, rtol=RTOL, atol=0)
    assert parallel.n_train == one.n_train


def test_a_model_file_on_two_ranks_sharing_the_patches_gives_the_result_of_one_process(tmp_path):
    """Rank 0 reads the model file and sends it; both ranks fine-tune on their blocks of the image's patches."""
    sources, model = write_inputs(tmp_path)[:2], tmp_path / "model.npz"
    assert main(["train", str(sources[0]), "-o", str(model), *CLI_FLAGS[:-1], "-q"]) == 0
    target, alone = tmp_path / "two.npy", tmp_path / "one.npy"
    flags = ["--model-file", str(model), "--finetune", "2", "--threads", "1", "-q", "--keep-dtype"]
    run = mpiexec(sys.executable, "-m", "zeroshot.cli", "denoise", str(sources[1]), "-o", str(target), *flags)
    assert run.returncode == 0, run.stderr
    assert main(["denoise", str(sources[1]), "-o", str(alone), *flags]) == 0
    want = np.load(alone)
    np.testing.assert_allclose(np.load(target), want, rtol=0, atol=RTOL * np.abs(want).max())
    assert json.loads((tmp_path / "two.npy.json").read_text())["model_file"]["finetune"] == 2


def test_ctrl_c_in_files_mode_says_interrupted_once(tmp_path):
    """reliability_turn3.md R12: a KeyboardInterrupt traceback and "rank 1 failed; aborting the job"."""
    sources, out = write_inputs(tmp_path), tmp_path / "out"
    command = ["denoise", *map(str, sources), "-o", f"{out}/", *cli_flags(epochs=10_000), "--parallel", "files"]
    process = subprocess.Popen(
        [MPIEXEC, "-n", "2", sys.executable, "-m", "zeroshot.cli", *command, "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while not out.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(1.0)  # both ranks into their first file's epochs
    process.send_signal(signal.SIGINT)  # mpiexec passes it on to every rank
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 130, err
    assert err.count("interrupted") == 1 and "Traceback" not in err and "aborting" not in err, err


@pytest.mark.parametrize("command", ["denoise", "train"])
def test_a_bad_input_is_reported_once_with_exit_code_2(tmp_path, command):
    """reliability_turn3.md R12: every rank printed the error, then MPI_Abort, exit code 1."""
    sources = write_inputs(tmp_path)[:2]
    bad = tmp_path / "bad.npy"
    bad.write_text("not an array\n")
    inputs = [str(sources[0]), str(bad), str(sources[1])]
    output = ["-o", f"{tmp_path / 'out'}/", "--parallel", "patches"] if command == "denoise" else ["-o", "m.npz"]
    run = mpiexec(sys.executable, "-m", "zeroshot.cli", command, *inputs, *output, *CLI_FLAGS[:-1], "-q")
    assert run.returncode == 2, run.stderr
    assert run.stderr.count(f"{bad}: not a .npy file") == 1 and "on rank" not in run.stderr, run.stderr
    assert run.stderr.startswith(f"zeroshot {command}: error: {bad}: not a .npy file"), run.stderr
