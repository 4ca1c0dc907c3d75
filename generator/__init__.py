"""clustergen: one cluster.yaml in, a GitOps repository out."""

__version__ = "0.1.0"
