"""Deprecated argument names that keep working for a while.

:func:`renamed_argument` lets a function accept the old name of a renamed
keyword argument: the old name emits a ``DeprecationWarning`` and is passed on
under the new name (optionally translated, e.g. a bool switch to a string
choice); passing both names is a ``TypeError``, as Python itself does for an
argument given twice.
"""

import functools
import inspect
import warnings

__all__ = ["renamed_argument"]


def renamed_argument(old, new, convert=None):
    """Decorator: accept ``old=`` as a deprecated alias of the parameter ``new``.

    Args:
      old: the deprecated keyword name (not in the signature).
      new: the parameter of the decorated function that replaces it.
      convert: optional ``value -> value`` applied to the old argument (when
        the old switch had another type, e.g. ``detach_weights=True`` →
        ``cam_weights="detached"``).

    Example:
      >>> @renamed_argument("weights", "cam_weights")
      ... def f(x, cam_weights="detached"):
      ...     return cam_weights
      >>> f(1, weights="second_order")   # DeprecationWarning
      'second_order'
    """

    def decorate(fn):
        params = list(inspect.signature(fn).parameters.values())
        names = [p.name for p in params]
        if new not in names:
            raise ValueError(f"{fn.__qualname__} has no parameter `{new}`.")
        if old in names:
            raise ValueError(f"{fn.__qualname__} still has the old parameter `{old}`.")
        param = params[names.index(new)]
        positional = (names.index(new)
                      if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD) else None)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if old in kwargs:
                value = kwargs.pop(old)
                if new in kwargs or (positional is not None and len(args) > positional):
                    raise TypeError(f"{fn.__qualname__}() got both `{new}` and its deprecated alias "
                                    f"`{old}`; pass only `{new}`.")
                warnings.warn(f"{fn.__qualname__}(): `{old}=` is deprecated; use `{new}=`.",
                              DeprecationWarning, stacklevel=2)
                kwargs[new] = convert(value) if convert is not None else value
            return fn(*args, **kwargs)

        # getfullargspec does not follow __wrapped__; Keras 3 reads it to auto-build configs.
        wrapper.__signature__ = inspect.signature(fn)
        return wrapper

    return decorate
