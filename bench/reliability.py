"""Reruns the reproductions of the reliability reviews (../shared/reviews/reliability.md, defects D1-D20, and
reliability_turn3.md, defects R1-R14) against the installed zeroshot and prints what each gives now.

Each case runs in a fresh temporary folder, in its own process (a crash shows as a signal, a hang as a time-out),
with the review's "tiny" settings. A case passes when the process neither crashes nor hangs, prints no Python
traceback, and its own check holds (a clear message naming the problem, or a correct result; inputs unchanged;
nothing half-written). D13 (a symlink planted at the report's temp name; a read-only folder, which binds no
root), D14 (two concurrent writers) and D15 (a full disk) need timing, root-free permissions or a small mounted
file system: tests/cli/test_cli_jobs.py covers them, as the table says. R14 (a full disk at the image) mounts an
8 KiB tmpfs, which needs root; without it the table points to its test. Exits 1 if any case fails.

    python bench/reliability.py [--only D2 R4 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TINY = "--latents 16 --states 4 --epochs 2 --max-train-patches 200 --threads 1 -q"
TINY_API = "n_latents=16, n_states=4, epochs=2, max_train_patches=200, threads=1"
ZS = f"{sys.executable} -m zeroshot.cli"
PY = sys.executable


@dataclass
class Outcome:
    rc: int
    out: str
    err: str
    folder: Path
    timed_out: bool

    @property
    def said(self) -> str:
        lines = [line for line in (self.err + self.out).strip().splitlines() if line.strip()]
        return lines[-1][:160] if lines else "(nothing)"


@dataclass
class Case:
    defect: str
    what: str
    setup: str  # shell lines run first (their failures are the script's bug, not zeroshot's)
    command: str
    check: Callable[[Outcome], bool]
    timeout: float = 120.0
    interrupted: bool = False  # a Ctrl-C case: exit code 130 is no crash


def clean_refusal(rc: int = 2, *words: str) -> Callable[[Outcome], bool]:
    return lambda o: o.rc == rc and all(w in o.err for w in words)


def unchanged(name: str, reference: str = "ref.npy") -> Callable[[Outcome], bool]:
    return lambda o: np.array_equal(np.load(o.folder / name), np.load(o.folder / reference))


def both(*checks: Callable[[Outcome], bool]) -> Callable[[Outcome], bool]:
    return lambda o: all(check(o) for check in checks)


def python(code: str) -> str:
    return f"{PY} - <<'EOF'\n{textwrap.dedent(code).strip()}\nEOF\n"


MAKE_INPUT = python("""
    import numpy as np
    rng = np.random.default_rng(0)
    image = (100 + 10 * rng.standard_normal((48, 48))).astype(np.float32)
    for name in ("in.npy", "a.npy", "ref.npy", "a_variance.npy"):
        np.save(name, image)
""")

MAKE_MODEL = MAKE_INPUT + f"{ZS} train in.npy -o m.npz {TINY}\n"

# A model file or checkpoint `path` written again at the zip level: its members but those dropped, some
# replaced or added (name -> .npy bytes, `npy(array)` makes them), and optionally the first flagged as encrypted.
REWRITE = """
import io, zipfile, numpy as np
def npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()
def rewrite(path, encrypted=False, drop=(), **members):
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if i.filename[:-4] not in (*drop, *members)]
        kept = {i.filename: archive.read(i) for i in infos}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**kept, **{k + ".npy": v for k, v in members.items()}}.items():
            archive.writestr(name, data)
    if encrypted:
        data = bytearray(open(path, "rb").read())
        for signature, at in ((b"PK\\x03\\x04", 6), (b"PK\\x01\\x02", 8)):
            data[data.index(signature) + at] |= 1
        open(path, "wb").write(bytes(data))
def with_values(path, change_meta=lambda meta: None, **arrays):
    # the model file with its meta record changed and arrays replaced, and a checksum of the new contents
    import json
    from zeroshot.pipeline.trained import _digest
    with np.load(path) as archive:
        old = {name: archive[name] for name in archive.files}
    meta = json.loads(str(old.pop("meta")))
    change_meta(meta)
    old.pop("checksum")
    text, contents = json.dumps(meta, sort_keys=True), {**old, **arrays}
    np.savez(open(path, "wb"), meta=np.array(text), checksum=np.array(_digest(text, contents)), **contents)
def with_big_member(path, name, gib):
    # `gib` GiB of zeros deflated, written a chunk at a time (the archive stays about 1 MB per GiB)
    n = gib * 2**30
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        fh = archive.open(name + ".npy", "w", force_zip64=True)
        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": (n,)})
        chunk = bytes(2**24)
        for _ in range(n // len(chunk)):
            fh.write(chunk)
        fh.close()
"""


def peak_rss(command: str) -> str:
    """Runs `command` (a shell line), writes its peak RSS in MiB to rss.txt and exits with its rc."""
    return python(f"""
        import pathlib, resource, subprocess, sys
        rc = subprocess.run({command!r}, shell=True).returncode
        pathlib.Path("rss.txt").write_text(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024))
        sys.exit(rc)
    """)


def rss_below(mib: int) -> Callable[[Outcome], bool]:
    return lambda o: int((o.folder / "rss.txt").read_text()) < mib


CASES = [
    Case(
        "D1",
        "EvoConfig(n_parents=65537, n_children=65537)",
        MAKE_INPUT,
        python(f"""
        import numpy as np, zeroshot
        try:
            zeroshot.denoise(np.load("in.npy"), {TINY_API}, evo=zeroshot.EvoConfig(n_parents=65537, n_children=65537))
        except ValueError as e:
            raise SystemExit(f"ValueError: {{e}}")
    """),
        lambda o: o.rc == 1 and "ValueError" in o.err,
    ),
    Case(
        "D1",
        "EvoConfig(n_parents=2, n_children=2**30)",
        MAKE_INPUT,
        python(f"""
        import numpy as np, zeroshot
        try:
            zeroshot.denoise(np.load("in.npy"), {TINY_API}, evo=zeroshot.EvoConfig(n_parents=2, n_children=2**30))
        except ValueError as e:
            raise SystemExit(f"ValueError: {{e}}")
    """),
        lambda o: o.rc == 1 and "ValueError" in o.err,
        timeout=60,
    ),
    Case(
        "D2",
        "--checkpoint = the input",
        MAKE_INPUT,
        f"{ZS} denoise a.npy -o b.npy --checkpoint a.npy {TINY}",
        both(clean_refusal(2, "a.npy"), unchanged("a.npy")),
    ),
    Case(
        "D2",
        "--checkpoint = the output's sidecar",
        MAKE_INPUT,
        f"{ZS} denoise a.npy -o b.npy --checkpoint b.npy.json {TINY}",
        clean_refusal(2, "b.npy.json"),
    ),
    Case(
        "D3",
        "--report = the input",
        ""
        + python("""
        import numpy as np; from PIL import Image
        Image.fromarray((np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)).save("a.png")
    """)
        + "cp a.png keep.png",
        f"{ZS} denoise a.png -o b.png --report a.png {TINY}",
        lambda o: o.rc == 2 and (o.folder / "a.png").read_bytes() == (o.folder / "keep.png").read_bytes(),
    ),
    Case(
        "D4",
        "_core M-step / unpack with H = 0",
        "",
        python("""
        import numpy as np
        from zeroshot import _core
        calls = [lambda: _core.bsc_m_step(np.zeros((5, 0)), np.zeros((0, 0)), 1.0, 10.0, np.zeros((5, 0)))]
        testing = getattr(_core, "testing", None)
        unpack = getattr(_core, "unpack_states", None) or getattr(testing, "unpack_states", None)
        if unpack is not None:
            calls.append(lambda: unpack(np.zeros((2, 0), np.uint64), 0))
        for call in calls:
            try:
                call()
            except (ValueError, TypeError) as e:
                print(type(e).__name__, e)
    """),
        lambda o: o.rc == 0 and "Error" in o.out,
    ),
    Case(
        "D5",
        "--threads 100000",
        MAKE_INPUT,
        f"{ZS} denoise in.npy -o out.npy {TINY} --threads 100000",
        clean_refusal(2, "threads"),
    ),
    Case(
        "D6",
        "SIGTERM in the last epoch (from the callback)",
        MAKE_INPUT,
        python(f"""
        import os, signal, numpy as np, zeroshot
        def cb(log):
            if log.epoch == 1: os.kill(os.getpid(), signal.SIGTERM)
        try:
            zeroshot.denoise(np.load("in.npy"), {TINY_API}, callback=cb, checkpoint="last.ckpt")
        except zeroshot.TrainingInterrupted as e:
            print("TrainingInterrupted:", e)
    """),
        lambda o: o.rc == 0 and "TrainingInterrupted" in o.out,
    ),
    Case(
        "D7",
        "inputs a.npy and a_variance.npy with --also-variance",
        MAKE_INPUT,
        f"{ZS} denoise a.npy a_variance.npy -o out/ --also-variance {TINY}",
        lambda o: o.rc == 2 and not (o.folder / "out").exists(),
    ),
    Case(
        "D8",
        "825 KB zlib TIFF of 20000x20000 uint16",
        python("""
        import numpy as np, tifffile
        tifffile.imwrite("bomb.tif", np.zeros((20000, 20000), np.uint16), compression="zlib", tile=(1024, 1024))
    """),
        f"{ZS} denoise bomb.tif -o out.tif {TINY} --max-memory 200M",
        clean_refusal(2, "bomb.tif"),
        timeout=60,
    ),
    Case(
        "D9",
        "demo --size 100000",
        "",
        f"{ZS} demo -o d --size 100000",
        lambda o: o.rc == 2 and not (o.folder / "d").exists(),
    ),
    Case(
        "D10",
        "--seed 2**64 - 1",
        MAKE_INPUT,
        f"{ZS} denoise in.npy -o out.npy {TINY} --seed 18446744073709551615",
        clean_refusal(2, "seed"),
    ),
    Case(
        "D11",
        "float64 values near 1e300, auto patch size",
        python("""
        import numpy as np; np.save("big.npy", np.random.default_rng(0).random((48, 48)) * 1e300)
    """),
        f"{ZS} denoise big.npy -o out.npy {TINY}",
        lambda o: o.rc in (0, 2),
    ),
    Case(
        "D12",
        "an empty checkpoint with --resume",
        MAKE_INPUT + ": > try.ckpt",
        f"{ZS} denoise in.npy -o out.npy {TINY} --checkpoint try.ckpt --resume",
        clean_refusal(2, "try.ckpt"),
    ),
    Case(
        "D12",
        "a .npy image as the checkpoint",
        MAKE_INPUT + "cp ref.npy try.ckpt",
        f"{ZS} denoise in.npy -o out.npy {TINY} --checkpoint try.ckpt --resume",
        clean_refusal(2, "try.ckpt"),
    ),
    Case(
        "D16",
        "enhance --kind relief --smoothing 1e6",
        MAKE_INPUT,
        f"{ZS} enhance in.npy -o r.npy --kind relief --smoothing 1e6 {TINY}",
        clean_refusal(2, "smoothing"),
        timeout=60,
    ),
    Case(
        "D17",
        "resume with --chunk-patches 500",
        MAKE_INPUT,
        f"{ZS} denoise in.npy -o out.npy {TINY} --checkpoint ck.npz && "
        f"{ZS} denoise in.npy -o out2.npy {TINY} --checkpoint ck.npz --resume --chunk-patches 500",
        lambda o: o.rc == 0 and np.array_equal(np.load(o.folder / "out.npy"), np.load(o.folder / "out2.npy")),
    ),
    Case(
        "D18",
        "n_latents=np.int64(16)",
        MAKE_INPUT,
        python("""
        import numpy as np, zeroshot
        r = zeroshot.denoise(
            np.load("in.npy"), n_latents=np.int64(16), n_states=np.int32(4), epochs=2, threads=np.int64(1)
        )
        print("ok", r.denoised.shape)
    """),
        lambda o: o.rc == 0 and "ok" in o.out,
    ),
    Case(
        "D19",
        "demo --size 0 leaves nothing",
        "",
        f"{ZS} demo -o d --size 0",
        lambda o: o.rc == 2 and not (o.folder / "d").exists(),
    ),
    Case(
        "D20",
        "SIGINT during a long compiled E-step",
        MAKE_INPUT,
        python("""
        import os, signal, threading, time, numpy as np, zeroshot
        threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        try:
            zeroshot.denoise(np.load("in.npy"), n_latents=64, n_states=8, epochs=1, threads=1,
                             evo=zeroshot.EvoConfig(n_parents=8, n_children=1000, n_generations=100))
        except KeyboardInterrupt:
            print(f"KeyboardInterrupt after {time.monotonic() - start:.1f} s")
    """),
        lambda o: o.rc == 0 and "KeyboardInterrupt after" in o.out and float(o.out.split()[2]) < 10,
        timeout=60,
    ),
]


CASES += [
    Case(
        "R4",
        "--model-file with an extra member of 1 GiB of zeros (1 MB deflated)",
        MAKE_MODEL + python(REWRITE + 'with_big_member("m.npz", "extra", 1)'),
        peak_rss(f"{ZS} denoise in.npy -o out.npy --model-file m.npz --threads 1 -q"),
        both(lambda o: o.rc == 0, rss_below(512)),
        timeout=180,
    ),
    Case(
        "R4",
        "--model-file whose W member inflates to 1 GiB, --max-memory 500M",
        MAKE_MODEL + python(REWRITE + 'rewrite("m.npz", drop=["W"]); with_big_member("m.npz", "W", 1)'),
        peak_rss(f"{ZS} denoise in.npy -o out.npy --model-file m.npz --max-memory 500M -q"),
        both(clean_refusal(2, "m.npz", "refused before inflating"), rss_below(512)),
        timeout=180,
    ),
    Case(
        "R5",
        "--model-file whose meta record nests 10^5 deep",
        MAKE_MODEL + python(REWRITE + 'rewrite("m.npz", meta=npy(np.array("[" * 100000 + "]" * 100000)))'),
        f"{ZS} denoise in.npy -o out.npy --model-file m.npz -q",
        clean_refusal(2, "m.npz is not a zeroshot model file"),
    ),
    Case(
        "R5",
        "--model-file with a member flagged as encrypted",
        MAKE_MODEL + python(REWRITE + 'rewrite("m.npz", encrypted=True)'),
        f"{ZS} denoise in.npy -o out.npy --model-file m.npz -q",
        clean_refusal(2, "m.npz is not a zeroshot model file"),
    ),
    Case(
        "R5",
        "--checkpoint X --resume, X's meta record nested 10^5 deep",
        MAKE_INPUT
        + f"{ZS} denoise in.npy -o out.npy {TINY} --checkpoint ck.npz\n"
        + python(REWRITE + 'rewrite("ck.npz", meta=npy(np.array("[" * 100000 + "]" * 100000)))'),
        f"{ZS} denoise in.npy -o out2.npy {TINY} --checkpoint ck.npz --resume",
        clean_refusal(2, "ck.npz is not a zeroshot checkpoint"),
    ),
]


R6_VALUES = [
    ("W x 1e160", 'with_values("m.npz", W=np.load("m.npz")["W"] * 1e160)', "W's values"),
    ("sigma2 5e-324", 'with_values("m.npz", sigma2=np.array(5e-324))', "sigma2 4.94e-324 is below"),
    ("a NaN noise ACF", 'with_values("m.npz", noise_acf=np.load("m.npz")["noise_acf"] * np.nan)', "noise ACF"),
    ("offset_unit 1e300", 'with_values("m.npz", lambda m: m["scaling"].update(offset_unit=1e300))', "offset_unit"),
    (
        "inference_epochs 10^7",
        'with_values("m.npz", lambda m: m["config"].update(inference_epochs=10**7))',
        "inference_epochs must be at most",
    ),
]
CASES += [
    Case(
        "R6",
        f"--model-file with {what} (checksum recomputed)",
        MAKE_MODEL + python(REWRITE + damage),
        f"{ZS} denoise in.npy -o out.npy --model-file m.npz -q",
        both(clean_refusal(2, "m.npz: damaged model file", words), lambda o: not (o.folder / "out.npy").exists()),
        timeout=60,
    )
    for what, damage, words in R6_VALUES
]
CASES += [
    Case(
        "R6",
        "--model-file with peak 1e-300 (checksum recomputed) on an image of values near 100",
        MAKE_MODEL + python(REWRITE + 'with_values("m.npz", lambda m: m["scaling"].update(peak=1e-300))'),
        f"{ZS} denoise in.npy -o out.npy --model-file m.npz -q",
        clean_refusal(2, "in.npy", "do not fit the value scaling of the trained model"),
    ),
    Case(
        "R7",
        "train in.npy big.npy (values near 1e300)",
        MAKE_INPUT
        + python("""
            import numpy as np; np.save("big.npy", np.random.default_rng(0).random((48, 48)) * 1e300)
        """),
        f"{ZS} train in.npy big.npy -o m.npz {TINY}",
        both(clean_refusal(2, "big.npy: values up to", "first image"), lambda o: not (o.folder / "m.npz").exists()),
    ),
]


CASES += [
    Case(
        "R8",
        f"float64 image x 1e-300 to {suffix} (float32)",
        python("""
            import numpy as np; np.save("tiny.npy", np.random.default_rng(0).random((48, 48)) * 1e-300)
        """),
        f"{ZS} denoise tiny.npy -o out{suffix} {TINY}",
        both(
            clean_refusal(2, "tiny.npy", "--keep-dtype"),
            lambda o, suffix=suffix: not (o.folder / f"out{suffix}").exists(),
        ),
    )
    for suffix in (".npy", ".tif", ".mrc")
]


R9_WRITES = [
    ("a uint32 layer with 2**31 + 5 to .mrc", "w.mrc", "np.array([[2**31 + 5, 1]], np.uint32), {}", "2147483653"),
    ("a layer in furlongs", "w.mrc", 'np.zeros((4, 4)), {"scale": (2.0, 2.0), "units": ("furlong",) * 2}', "furlong"),
]
CASES += [
    Case(
        "R9",
        f"napari writer: {what}",
        "",
        python(f"""
            import numpy as np
            from zeroshot.napari._writer import write_layer
            try:
                write_layer("{name}", {layer})
            except ValueError as e:
                print("ValueError:", e)
        """),
        lambda o, name=name, words=words: o.rc == 0 and words in o.out and not (o.folder / name).exists(),
    )
    for what, name, layer, words in R9_WRITES
]
CASES.append(
    Case(
        "R9",
        "napari writer: a layer with NaN to .mrc and .tif",
        "",
        python("""
            import mrcfile, tifffile, numpy as np
            from zeroshot.napari._writer import write_layer
            data = np.array([[np.nan, 1.0], [2.0, 3.0]], np.float32)
            write_layer("w.mrc", data, {}), write_layer("w.tif", data, {})
            with mrcfile.open("w.mrc") as mrc:
                back = [np.array(mrc.data), tifffile.imread("w.tif")]
            print("same:", *(np.array_equal(b, data, equal_nan=True) for b in back))
        """),
        lambda o: o.rc == 0 and "same: True True" in o.out,
    )
)


CASES.append(
    Case(
        "R10",
        "a TIFF of two images, 64x64 and 32x48",
        python("""
            import numpy as np, tifffile
            with tifffile.TiffWriter("mixed.tif") as tif:
                tif.write(np.random.default_rng(0).random((64, 64)).astype(np.float32))
                tif.write(np.random.default_rng(1).random((32, 48)).astype(np.float32))
        """),
        f"{ZS} denoise mixed.tif -o out.tif {TINY}",
        both(clean_refusal(2, "mixed.tif", "holds 2 images"), lambda o: not (o.folder / "out.tif").exists()),
    )
)


CASES += [
    Case(
        "R2",
        f"--noise {noise} on a 128x128 image whose left half is exactly 0, right half shaded + σ 20",
        python("""
            import numpy as np
            rng = np.random.default_rng(0)
            y = np.zeros((128, 128))
            y[:, 64:] = 100 + 50 * np.sin(np.arange(64) / 9)[None, :] + 20 * rng.standard_normal((128, 64))
            np.save("mask50.npy", y)
        """),
        f"{ZS} denoise mask50.npy -o out.npy --noise {noise} {TINY}",
        lambda o: o.rc == 0 and "e-1" not in o.err + o.out and "variance 0.0" not in o.err,
    )
    for noise in ("auto", "correlated")
]


CASES += [
    Case(
        "R3",
        "--noise auto on Poisson counts at a high dose (the simulated micrograph x 1000 counts, 256x256)",
        python("""
            import numpy as np
            from zeroshot.data import simulated_virus
            counts = np.random.default_rng(0).poisson(simulated_virus(256, seed=0).clean * 1000)
            np.save("hb.npy", counts.astype(np.float64))
        """),
        f"{ZS} denoise hb.npy -o out.npy {TINY.replace(' -q', '')}",
        lambda o: o.rc == 0 and "noise: white" in o.err + o.out and "noise: correlated" not in o.err + o.out,
    )
]


CASES += [
    Case(
        "R1",
        f"--model-file on the training image's kind x {factor:g}",
        MAKE_MODEL + python(f"import numpy as np; np.save('far.npy', np.load('in.npy') * {factor})"),
        f"{ZS} denoise far.npy -o out.npy --model-file m.npz -q",
        lambda o: (
            o.rc == 0
            and "warning: far.npy: the image is far from the images the model was learned from: its noise sigma"
            in o.err
            and "against the model's" in o.err
            and "the model's noise sigma" in o.out
            and "the image's own estimate" in o.out
        ),
    )
    for factor in (0.01, 100.0)
]


CASES.append(
    Case(
        "R11",
        "4 uint8 frames, --noise auto: counts, white, white, counts",
        python("""
            import numpy as np
            rng = np.random.default_rng(0)
            y, x = np.mgrid[:48, :48]
            clean = 40 * (0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2))
            white = lambda: np.rint(20 + clean + 3 * rng.standard_normal(clean.shape))
            np.save("st_u8.npy", np.stack([rng.poisson(clean), white(), white(), rng.poisson(clean)]).astype(np.uint8))
        """),
        f"{ZS} denoise st_u8.npy -o out.npy {TINY}",
        lambda o: (
            o.rc == 0
            and "in the Anscombe-transformed domain" in o.out
            and [frame["model"] for frame in json.loads((o.folder / "out.npy.json").read_text())["results"]["noise"]]
            == ["poisson"] * 4
        ),
    )
)


CASES.append(
    Case(
        "R13",
        "denoise(img, model=m, finetune=np.int64(2))",
        MAKE_MODEL,
        python("""
            import numpy as np, zeroshot
            r = zeroshot.denoise(np.load("in.npy"), model="m.npz", finetune=np.int64(2), threads=1)
            print("ok", r.config.epochs)
        """),
        lambda o: o.rc == 0 and "ok 2" in o.out,
    )
)


def on_small_disk(command: str) -> str:
    """`command` with full/ an 8 KiB tmpfs (mounted for it, unmounted after; needs root)."""
    return f"mkdir full && mount -t tmpfs -o size=8k tmpfs full && {{ {command}; rc=$?; umount full; exit $rc; }}"


R14_RUNS = [
    ("an 8 KiB tmpfs: denoise -o full/o.npy --model-file", "in.npy -o full/o.npy", 2),
    ("the same with --parallel files", "in.npy a.npy -o full/ --parallel files", 1),
]
if os.geteuid() == 0:
    CASES += [
        Case(
            "R14",
            what,
            MAKE_MODEL,
            on_small_disk(f"{ZS} denoise {arguments} --model-file m.npz -q"),
            lambda o, rc=rc: o.rc == rc and "[Errno 28] cannot write full/" in o.err and "No space left" in o.err,
        )
        for what, arguments, rc in R14_RUNS
    ]


MPIEXEC = next(
    (str(p) for p in (Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")) if p and Path(p).exists()), None
)
R12_BAD_INPUT = [
    ("denoise --parallel patches", "denoise in.npy bad.npy a.npy -o out/ --parallel patches"),
    ("train", "train in.npy bad.npy -o m.npz"),
]
# Ctrl-C (SIGINT to mpiexec, which passes it on) once both ranks are into their first file's epochs.
CTRL_C_FILES_MODE = f"""
    import signal, subprocess, sys, time
    from pathlib import Path
    command = "{MPIEXEC} -n 2 {ZS} denoise in.npy a.npy ref.npy -o out/ --parallel files {TINY} --epochs 100000"
    process = subprocess.Popen(command.split(), stderr=subprocess.PIPE, text=True)
    while not Path("out").exists() and process.poll() is None:
        time.sleep(0.01)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=60)[1]
    print(err, file=sys.stderr)
    sys.exit(process.returncode)
"""
if MPIEXEC is not None:
    CASES += [
        Case(
            "R12",
            f"mpiexec -n 2 ... {what} with a broken .npy among good ones",
            MAKE_INPUT + "echo 'not an array' > bad.npy",
            f"{MPIEXEC} -n 2 {ZS} {arguments} {TINY}",
            lambda o: o.rc == 2 and o.err.count("bad.npy: not a .npy file") == 1 and "on rank" not in o.err,
        )
        for what, arguments in R12_BAD_INPUT
    ]
    CASES.append(
        Case(
            "R12",
            "Ctrl-C on mpiexec -n 2 ... denoise --parallel files",
            MAKE_INPUT,
            python(CTRL_C_FILES_MODE),
            lambda o: o.rc == 130 and o.err.count("interrupted") == 1 and "aborting" not in o.err,
            interrupted=True,
        )
    )


def run(case: Case) -> Outcome:
    folder = Path(tempfile.mkdtemp(prefix=f"zs-{case.defect}-"))
    if case.setup:
        subprocess.run(["bash", "-c", case.setup], cwd=folder, check=True, capture_output=True)
    # A session of its own: on a time-out the whole group goes, not only bash (a hung child would run on).
    process = subprocess.Popen(
        ["bash", "-c", case.command],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=case.timeout)
        return Outcome(process.returncode, out, err, folder, False)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return Outcome(-1, out, err, folder, True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="defects to run, e.g. D2 R4")
    args = parser.parse_args()
    failed = 0
    print("| defect | case | rc | what it says now | verdict |")
    print("|---|---|---:|---|---|")
    for case in CASES:
        if args.only and case.defect not in args.only:
            continue
        o = run(case)
        crashed = (o.rc < 0 or o.rc > 128) and not (case.interrupted and o.rc == 130)
        ok = not o.timed_out and not crashed and "Traceback" not in o.err and case.check(o)
        failed += not ok
        rc = "timeout" if o.timed_out else o.rc
        print(f"| {case.defect} | {case.what} | {rc} | {o.said.replace('|', '/')} | {'pass' if ok else 'FAIL'} |")
    print("| D13 | report temp file: random name, O_EXCL, no symlinks | | tests/cli/test_cli_jobs.py | test |")
    print(
        "| D14 | two writers of one output | | tests/cli/test_cli_jobs.py"
        " (image and sidecar replaced together) | test |"
    )
    print("| D15 | a full disk at the sidecar | | tests/cli/test_cli_jobs.py (nothing left, the file named) | test |")
    if os.geteuid() != 0:
        print("| R14 | a full disk at the image | | tests/cli/test_cli_jobs.py (the tmpfs case needs root) | test |")
    if MPIEXEC is None:
        print(
            "| R12 | MPI: Ctrl-C, a bad input | | tests/runtime/test_mpi.py"
            " (needs mpiexec: pip install '.[mpi]') | test |"
        )
    print(f"\n{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
