"""Generic generators of kiss-core, for tabular data without a domain of its own."""

from kiss_core.models.flow_matching import TabularFlowMatching

__all__ = ["TabularFlowMatching"]
