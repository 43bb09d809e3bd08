"""Deployment support: Kubernetes run settings (k8s) and the one-off preparation of MySQL and
the S3 bucket run by the Helm hook Job (prepare). Light at import time (no Dagster)."""

from findata_assets.deploy.k8s import k8s_run_tags, split_partitions

__all__ = ["k8s_run_tags", "split_partitions"]
