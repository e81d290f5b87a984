"""The one thing pyproject.toml cannot say: the optional C module.

_speedups.c is oakdata's hot path compiled (see src/oakdata/_compiled.py). It is optional:
where it cannot be built (no compiler, an unsupported Python), the install goes on without
it and oakdata runs its pure Python form of the same code.
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
