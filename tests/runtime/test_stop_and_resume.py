"""Stopping and resuming: stop signals are never lost (a SIGINT or SIGTERM late in the last training epoch,
after the epoch's own check, still stops the run before inference: reliability.md D6), and a resume may
change what only inference uses (D17)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from zeroshot.denoise import denoise
from zeroshot.runtime.interrupt import StopRequest, TrainingInterrupted, stop_on_signals

TINY = {"patch_size": 4, "n_latents": 8, "n_states": 6, "epochs": 4, "threads": 1, "max_train_patches": 300}


def _image() -> np.ndarray:
    return np.random.default_rng(2).normal(50.0, 10.0, (24, 26))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_in_the_last_epoch_stops_before_inference_and_resumes(tmp_path, sig):
    path = tmp_path / "run.ckpt"

    def late_signal(log):  # the callback runs after the epoch's stop check
        if log.epoch == TINY["epochs"] - 1:
            os.kill(os.getpid(), sig)

    with pytest.raises(TrainingInterrupted) as stopped:
        denoise(_image(), checkpoint=path, callback=late_signal, **TINY)
    assert stopped.value.epoch == stopped.value.total == TINY["epochs"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    resumed = denoise(_image(), checkpoint=path, resume=True, **TINY)
    np.testing.assert_array_equal(resumed.denoised, denoise(_image(), **TINY).denoised)


def test_a_signal_that_was_not_acted_on_is_delivered_again_on_leaving():
    with pytest.raises(KeyboardInterrupt), stop_on_signals() as request:
        os.kill(os.getpid(), signal.SIGINT)
        assert request()  # the handler only set the flag
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_consumed_request_is_not_delivered_again():
    with stop_on_signals() as request:
        os.kill(os.getpid(), signal.SIGINT)
        request.consume()
    assert isinstance(request, StopRequest) and request()


@pytest.mark.parametrize(
    "change", [{"chunk_patches": 50}, {"inference_epochs": 2}, {"merge": "median"}], ids=lambda c: next(iter(c))
)
def test_resume_may_change_what_only_inference_uses(tmp_path, change):
    # reliability.md D17: resuming with smaller chunks (to fit less memory) was refused as "another configuration"
    path = tmp_path / "run.ckpt"
    denoise(_image(), checkpoint=path, **TINY)
    resumed = denoise(_image(), checkpoint=path, resume=True, **TINY, **change)
    np.testing.assert_array_equal(resumed.denoised, denoise(_image(), **TINY, **change).denoised)


def test_resume_still_refuses_another_training_configuration(tmp_path):
    path = tmp_path / "run.ckpt"
    denoise(_image(), checkpoint=path, **TINY)
    with pytest.raises(ValueError, match=r"another configuration \(n_states: 6 in the checkpoint, 5 now\)"):
        denoise(_image(), checkpoint=path, resume=True, **{**TINY, "n_states": 5})
