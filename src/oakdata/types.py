"""Types of what the enqueueing calls take, for the app's type checker.

    from oakdata.types import Properties

    def traits(user: User) -> Properties:
        return {"email": user.email, "signed_up": user.created_at}

Importing this module costs a few milliseconds (typing, datetime, decimal); the SDK itself
imports it only under a type checker.

`JSONValue` lists the values with an obvious JSON form that type checkers can name. The SDK
accepts more at run time (dataclasses, pydantic models, numpy values, mappings with non-`str`
keys): annotate such a dict as `dict[str, Any]`, which every parameter below accepts.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from collections.abc import Mapping, Sequence, Set
from typing import TypeAlias, Union

__all__ = ["JSONValue", "Properties", "PropertyNames"]

# A Union spelled out, not with `|`: the alias is evaluated at run time, and on Python 3.10
# `|` cannot join a string forward reference.
JSONValue: TypeAlias = Union[  # noqa: UP007
    str,
    int,
    float,
    bool,
    datetime.date,  # and datetime.datetime, a subclass
    datetime.time,
    decimal.Decimal,
    uuid.UUID,
    enum.Enum,
    Sequence["JSONValue"],  # list, tuple (and str, bytes)
    Set["JSONValue"],  # set, frozenset: sent as arrays
    Mapping[str, "JSONValue"],
    None,
]

Properties: TypeAlias = Mapping[str, JSONValue]

# Names of properties to remove (identify's `unset=`): a collection, never a bare str, which a
# type checker would otherwise take for a sequence of one-letter names.
PropertyNames: TypeAlias = list[str] | tuple[str, ...] | Set[str]
