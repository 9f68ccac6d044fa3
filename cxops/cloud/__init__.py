"""OpenStack side of cxops: connection, probes, GPU capacity, ephemeral jobs."""
