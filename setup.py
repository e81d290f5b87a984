"""The one thing pyproject.toml cannot say: the optional C module.

The files src/oakdata/_speedups*.c are oakdata's hot path, compiled (see _compiled.py). The
module is optional: where it cannot be built (no compiler, an unsupported Python), the
install goes on without it and oakdata runs the pure Python form of the same code.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "oakdata._speedups",
            sources=[
                "src/oakdata/_speedups.c",
                "src/oakdata/_speedups_ids.c",
                "src/oakdata/_speedups_json.c",
            ],
            depends=["src/oakdata/_speedups.h"],
            optional=True,
        ),
    ]
)
