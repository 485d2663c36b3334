"""The ``precision`` tracker value: its autocast dtype, the CPU check before bf16, and the run identity."""
import warnings

import pytest
import torch

from experiments.config_library import resolved_config
from tracking.evaluation.identity import run_identity
from tracking.models.config import network_config
from tracking.models.siamrpn import SiamRPN
from tracking.inference.precision import autocast_dtype, check_precision, cpu_bf16_flags, resolve_precision
from tracking.trackers.hsiamfc import HierarchicalParams
from tracking.trackers.mfst import MFSTParams
from tracking.trackers.siamfc_online import OnlineParams
from tracking.trackers.siamfc import SiamFCParams
from tracking.trackers.siamrpn import SiamRPNParams, SiamRPNTracker
from tracking.trackers.snscf import SNSCFParams

AMD_EPYC = "processor\t: 0\nflags\t\t: fpu vme avx2 fma sse4_2\n"
XEON_AMX = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


def test_bf16_instructions_are_read_from_the_cpu_flags():
    assert cpu_bf16_flags(AMD_EPYC) == []
    assert cpu_bf16_flags(XEON_AMX) == ["avx512_bf16", "amx_bf16"]
    assert cpu_bf16_flags("") == []


def test_precision_names_its_autocast_dtype_and_warns_where_it_is_emulated():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these warns
        assert autocast_dtype("fp32", "cpu", cpuinfo=AMD_EPYC) is None
        assert autocast_dtype("bf16", "cpu", cpuinfo=XEON_AMX) is torch.bfloat16
    with pytest.warns(UserWarning, match="emulates it"):
        assert autocast_dtype("bf16", "cpu", cpuinfo=AMD_EPYC) is torch.bfloat16
    with pytest.warns(UserWarning, match="emulates it"):
        assert autocast_dtype("fp16", "cpu", cpuinfo=XEON_AMX) is torch.float16
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16', 'fp16', 'auto'\), got 'half'"):
        check_precision("half")


@pytest.mark.parametrize("params_class", [SiamRPNParams, SNSCFParams, SiamFCParams, OnlineParams, MFSTParams,
                                          HierarchicalParams])
def test_every_tracker_parameter_class_checks_its_precision(params_class):
    assert params_class(precision="bf16").precision == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        params_class(precision="bf32")


def test_auto_precision_is_the_devices_native_one():
    assert resolve_precision("auto", "cpu", cpuinfo=XEON_AMX) == "bf16"
    assert resolve_precision("auto", "cpu", cpuinfo=AMD_EPYC) == "fp32"
    assert resolve_precision("fp32", "cpu", cpuinfo=XEON_AMX) == "fp32"  # only auto is resolved
    with pytest.raises(ValueError, match="resolved for a device first"):
        autocast_dtype("auto", "cpu")


def test_precision_is_part_of_the_run_identity():
    """fp32 and bf16 results of one checkpoint never share a result folder (the runner compares identities)."""
    model = SiamRPN(network_config(resolved_config("siamrpnpp/demo").model.init_args.network.as_dict())).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32, bf16 = SiamRPNTracker(model), SiamRPNTracker(model, {"precision": "bf16"})
    assert fp32.net.autocast_dtype is None and bf16.net.autocast_dtype is torch.bfloat16
    assert run_identity(fp32)["parameters"]["precision"] == "fp32"
    assert run_identity(bf16)["parameters"]["precision"] == "bf16"
    # auto is recorded as what it chose on this machine (a rerun elsewhere that chooses otherwise does not resume)
    native = "bf16" if cpu_bf16_flags() else "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = SiamRPNTracker(model, {"precision": "auto"})
    assert auto.params.precision == native and run_identity(auto)["parameters"]["precision"] == native
