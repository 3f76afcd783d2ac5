"""Value checks that read a tensor back to the host, and when they run.

On an accelerator every such read (`bool(t.any())`, boolean-mask indexing) is a device-to-host
sync: the host waits for the queued kernels, and the device then waits for the host. Shape checks
read nothing and always run. Value checks (index ranges, mask contents) run on CPU tensors, where
reading costs nothing, and on accelerators only when `SAIP_VALUE_CHECKS=1`; `SAIP_VALUE_CHECKS=0`
turns them off everywhere (the sync-count test does).
"""

from __future__ import annotations

import os

from torch import Tensor


def value_checks(t: Tensor) -> bool:
    """Whether to run the value checks on `t` (see the module docstring)."""
    setting = os.environ.get("SAIP_VALUE_CHECKS", "")
    return setting == "1" or (setting != "0" and t.device.type == "cpu")
