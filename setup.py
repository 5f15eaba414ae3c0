"""The optional native kernel of row fingerprints (src/dsreg/rows/fpkernel.c). Everything
else is configured in pyproject.toml. `optional=True`: without a C compiler the package
installs all the same and fingerprints with numpy (same values, slower)."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("dsreg.rows.fpkernel", ["src/dsreg/rows/fpkernel.c"], optional=True,
                             extra_compile_args=["-O3"])])
