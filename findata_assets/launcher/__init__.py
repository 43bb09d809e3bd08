"""Starting runs on one machine: a run launcher that forks run workers from a warm process
(forking.py), named in dagster.yaml as `findata_assets.launcher.ForkingRunLauncher`."""


def __getattr__(name: str):
    if name == "ForkingRunLauncher":  # lazily: the warm process imports this package too
        from findata_assets.launcher.forking import ForkingRunLauncher

        return ForkingRunLauncher
    raise AttributeError(f"module 'findata_assets.launcher' has no attribute {name!r}")
