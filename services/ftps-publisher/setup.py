"""The one compiled part of the FTPS publisher: the interval-file expansion (see
publishing/_csvexpand.c). Optional: without a C compiler the package installs anyway and the
publisher uses its pure-Python expansion, ~3x slower."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "meterhub_ftps_publisher.publishing._csvexpand",
            ["src/meterhub_ftps_publisher/publishing/_csvexpand.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
