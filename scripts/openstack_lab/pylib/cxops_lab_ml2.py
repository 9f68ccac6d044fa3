"""An agentless ML2 mechanism driver for the cxops local OpenStack.

There are no L2 agents in the lab, so no stock driver can bind a port (nova then fails the build with
PortBindingFailed). This driver binds every port to the first segment offered, as an OVS port with port
filtering, and leaves the data plane to the fake hypervisor: ports go ACTIVE and the whole Neutron API
(networks, routers, floating IPs, security groups) works for real.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class LabMechanismDriver(api.MechanismDriver):
    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
