"""The lab's hypervisor: Nova's fake driver, made honest enough to run a job.

The stock fake driver keeps instances as dictionary entries and answers every console request with a
fixed string. This subclass keeps that bookkeeping but, on spawn, hands the instance's user-data to a
sandbox (an overlay of a debootstrapped Debian root, in its own mount and PID namespaces; see
cxops_lab_sandbox.py) and serves the sandbox's output as the console log. A cloud-init
`power_state: poweroff` ends as a SHUTOFF server, as on a real cloud.

Per-process settings come from the environment (nova-compute is started once per lab host):
  CXOPS_LAB_STATE      state dir of the lab (console logs and sandboxes live under it)
  CXOPS_LAB_ROOTFS     the read-only root filesystem the sandboxes are layered on
  CXOPS_LAB_PCI_GPUS   number of fake PCI GPUs (vendor 10de, product 1db4: the lab's "V100" alias)
  CXOPS_LAB_VGPUS      VGPU inventory reported to Placement on this host's resource provider
  CXOPS_LAB_NODENAME   the hypervisor (node) name, when it differs from the compute service host, e.g. an
                       FQDN as libvirt reports it; aggregates and servers still name the service host
"""

import contextlib
import json
import os
import signal
import subprocess
import sys

import eventlet
from nova.compute import power_state
from nova.virt import fake
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))
POLL_SECONDS = 1.0


def _env_int(name):
    try:
        return max(0, int(os.environ.get(name, "0")))
    except ValueError:
        return 0


class LabDriver(fake.FakeDriver):
    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        state = os.environ.get("CXOPS_LAB_STATE", "/tmp/cxops-openstack-lab")
        self._sandbox_root = os.path.join(state, "sandboxes")
        self._rootfs = os.environ.get("CXOPS_LAB_ROOTFS", os.path.join(state, "rootfs"))
        self._pci_gpus = _env_int("CXOPS_LAB_PCI_GPUS")
        self._vgpus = _env_int("CXOPS_LAB_VGPUS")
        self._jobs = {}  # instance uuid -> Popen of its sandbox

    def init_host(self, host):
        super().init_host(host)
        nodename = os.environ.get("CXOPS_LAB_NODENAME")
        if nodename:
            self._nodes = [nodename]

    # -- resources -------------------------------------------------------------------------------

    def get_available_resource(self, nodename):
        status = super().get_available_resource(nodename)
        if status and self._pci_gpus:
            status["pci_passthrough_devices"] = json.dumps(
                [
                    {
                        "address": "0000:%02x:00.0" % (0x81 + i),
                        "vendor_id": "10de",
                        "product_id": "1db4",
                        "dev_type": "type-PCI",
                        "status": "available",
                        "parent_addr": None,
                        "numa_node": 0,
                        "label": "label_10de_1db4",
                    }
                    for i in range(self._pci_gpus)
                ]
            )
        return status

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        super().update_provider_tree(provider_tree, nodename, allocations)
        if self._vgpus:
            inventory = dict(provider_tree.data(nodename).inventory)
            inventory["VGPU"] = {
                "total": self._vgpus,
                "min_unit": 1,
                "max_unit": self._vgpus,
                "step_size": 1,
                "allocation_ratio": 1.0,
                "reserved": 0,
            }
            provider_tree.update_inventory(nodename, inventory)

    # -- lifecycle ---------------------------------------------------------------------------------

    def spawn(
        self,
        context,
        instance,
        image_meta,
        injected_files,
        admin_password,
        allocations,
        network_info=None,
        block_device_info=None,
        power_on=True,
        accel_info=None,
    ):
        super().spawn(
            context,
            instance,
            image_meta,
            injected_files,
            admin_password,
            allocations,
            network_info,
            block_device_info,
            power_on,
            accel_info,
        )
        workdir = os.path.join(self._sandbox_root, instance.uuid)
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "user-data"), "w") as f:
            f.write(instance.user_data or "")  # base64, as Nova stores it
        with open(os.path.join(workdir, "meta.json"), "w") as f:
            json.dump({"uuid": instance.uuid, "hostname": instance.hostname, "name": instance.display_name}, f)
        with open(os.path.join(workdir, "sandbox.log"), "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "cxops_lab_sandbox.py"), workdir, self._rootfs],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        with open(os.path.join(workdir, "pid"), "w") as f:
            f.write(str(proc.pid))
        self._jobs[instance.uuid] = proc
        eventlet.spawn_n(self._watch, instance.uuid, proc, workdir)

    def _watch(self, uuid, proc, workdir):
        # Reap the sandbox and apply cloud-init's power_state, the way a guest powering off would.
        while proc.poll() is None:
            eventlet.sleep(POLL_SECONDS)
        poweroff = os.path.exists(os.path.join(workdir, "poweroff"))
        if self._jobs.get(uuid) is proc and poweroff and uuid in self.instances:
            self.instances[uuid].state = power_state.SHUTDOWN

    def _stop_sandbox(self, uuid):
        proc = self._jobs.pop(uuid, None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the namespace's processes go too
            proc.wait()

    def destroy(
        self, context, instance, network_info, block_device_info=None, destroy_disks=True, destroy_secrets=True
    ):
        self._stop_sandbox(instance.uuid)
        workdir = os.path.join(self._sandbox_root, instance.uuid)
        if os.path.isdir(workdir):
            subprocess.call(["rm", "-rf", "--one-file-system", workdir])
        super().destroy(context, instance, network_info, block_device_info, destroy_disks, destroy_secrets)

    def get_console_output(self, context, instance):
        path = os.path.join(self._sandbox_root, instance.uuid, "console.log")
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 256 * 1024))
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
